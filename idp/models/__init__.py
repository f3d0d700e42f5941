"""SQLAlchemy models, one module per area; importing the package registers them all."""

from idp.models.app import AppActivation, AppDevice
from idp.models.audit import AuditEvent
from idp.models.citizen import Citizen, CitizenStatus
from idp.models.factor import ActivationLetter, EnrolledFactor, PinCode
from idp.models.guardianship import Mandate
from idp.models.notice import NoticeSent
from idp.models.oauth import AuthorizationCode, Client, Token
from idp.models.passkey import Passkey
from idp.models.population import RegisteredPerson
from idp.models.session import LoginSession, SessionClient
from idp.models.state import ShortLivedState

__all__ = [
    "AppActivation",
    "AppDevice",
    "ActivationLetter",
    "EnrolledFactor",
    "PinCode",
    "RegisteredPerson",
    "AuditEvent",
    "AuthorizationCode",
    "Citizen",
    "CitizenStatus",
    "Client",
    "LoginSession",
    "Mandate",
    "NoticeSent",
    "Passkey",
    "SessionClient",
    "ShortLivedState",
    "Token",
]
