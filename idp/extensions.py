"""Flask extensions, created unbound so models and the app factory share them."""

import sqlite3

from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, event

# Objects keep their loaded values after a commit: a request that commits and then
# reads them (the token endpoint commits the code, then signs an ID token from the
# citizen and the client) would otherwise reload each row with one more query.
db = SQLAlchemy(session_options={"expire_on_commit": False})
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_wal(dbapi_connection: object, connection_record: object) -> None:
    """Write-ahead logging on SQLite files: the server's workers read while another writes.

    In the default rollback journal every write locks readers out and costs two
    fsyncs; with WAL a commit appends to the log (one fsync) and readers go on.
    The mode is stored in the file, so this only repeats a no-op after the first time.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
