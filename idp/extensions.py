"""Flask extensions, created unbound so models and the app factory share them."""

from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

# Objects keep their loaded values after a commit: a request that commits and then
# reads them (the token endpoint commits the code, then signs an ID token from the
# citizen and the client) would otherwise reload each row with one more query.
db = SQLAlchemy(session_options={"expire_on_commit": False})
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()
