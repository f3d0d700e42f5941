"""Forms of the hosted pages; Flask-WTF gives each a CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    tx = HiddenField()
    pid = StringField(
        _l("National identity number (11 digits)"),
        validators=[DataRequired(), Length(max=20)],
        render_kw={"autocomplete": "username", "inputmode": "numeric", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class CancelForm(FlaskForm):
    tx = HiddenField()
