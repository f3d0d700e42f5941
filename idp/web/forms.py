"""Forms of the hosted pages; Flask-WTF gives each a CSRF token."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp import accounts
from idp.mfa.webauthn import MAX_ANSWER
from idp.web import notices


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


class ChooseForm(FlaskForm):
    tx = HiddenField()
    factor = HiddenField(validators=[DataRequired(), Length(max=32)])


class PhoneForm(FlaskForm):
    phone = StringField(
        _l("Mobile number"),
        validators=[DataRequired(), Length(max=20)],
        render_kw={"autocomplete": "tel", "inputmode": "tel", "type": "tel"},
    )


class ProfileCodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class FactorForm(FlaskForm):
    factor = HiddenField(validators=[DataRequired(), Length(max=32)])
    confirm = HiddenField()


class AppDeviceForm(FlaskForm):
    """Min profil's app section: a new activation code (no fields), or removing the device ``device``."""

    device = HiddenField(validators=[Length(max=64)])
    confirm = HiddenField()


class OperateForm(FlaskForm):
    """Min profil: a guardian starts operating a ward's account under one of their mandates."""

    reference = HiddenField(validators=[DataRequired(), Length(max=64)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=1024)], render_kw={"autocomplete": "new-password"}
    )
    repeat = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )


class ActivationOrderForm(FlaskForm):
    pid = LoginForm.pid
    password = LoginForm.password


class ActivationForm(FlaskForm):
    pid = LoginForm.pid
    password = LoginForm.password
    code = StringField(
        _l("Activation code from the letter"),
        validators=[DataRequired(), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )


def number_and_password_errors(form: FlaskForm) -> dict[str, dict] | None:
    """What is wrong with a form of a national identity number and a password (and a code), before any check.

    A number that is not a national identity number cannot have an account, so saying so
    tells nothing about who has one; no password is checked for it.
    """
    form.validate()  # for the length limits; the CSRF token was checked before the view
    errors = {}
    typed = "".join((form.pid.data or "").split())
    if not typed:
        errors["pid"] = notices.notice("pid_missing")
    elif not (len(typed) == 11 and typed.isascii() and typed.isdigit()):
        errors["pid"] = notices.notice("pid_malformed")
    elif accounts.valid_pid(typed) is None:
        errors["pid"] = notices.notice("pid_invalid")
    if not form.password.data:
        errors["password"] = notices.notice("password_missing")
    elif "password" in form.errors:
        errors["form"] = notices.notice("wrong_password")  # longer than any password can be
    if "code" in form and not form.code.data:
        errors["code"] = notices.notice("activation_code_missing")
    return errors or None


class PasskeyNameForm(FlaskForm):
    """What the citizen calls a passkey: when adding one, and when renaming it."""

    nickname = StringField(
        _l("Name of the passkey"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "off", "maxlength": 64},
    )


class PasskeyAnswerForm(FlaskForm):
    """The browser's new passkey as JSON, put in the hidden field by webauthn.js."""

    credential = HiddenField(validators=[DataRequired(), Length(max=MAX_ANSWER)])


class PasskeyRemoveForm(FlaskForm):
    confirm = HiddenField()
