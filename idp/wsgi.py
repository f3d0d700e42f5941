"""The WSGI entry point for gunicorn: ``gunicorn idp.wsgi:app``."""

from idp import ops
from idp.app import create_app

ops.configure_logging()
app = create_app()
