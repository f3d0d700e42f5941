"""The WSGI entry point for granian (``idp serve``): each worker process imports it once."""

import gc

from idp import ops
from idp.app import create_app

ops.configure_logging()
app = create_app()

# The app's objects (modules, models, compiled SQL, templates) live as long as the worker: out of
# the garbage collector's reach, full collections no longer walk them on the request path.
gc.collect()
gc.freeze()
