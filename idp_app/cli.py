"""``idp-app``: enrol this device, list waiting logins, approve or deny one, list or remove devices.

The private key lives in a key file (``--key``, ``$IDP_APP_KEY_FILE``, or
``~/.config/idp-app/key.json``) encrypted with a passphrase typed at every use
(``$IDP_APP_PASSPHRASE`` instead, for scripts and tests). Every request is signed with it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from idp_app import keys

PREFIX = "/app/v1"
TIMEOUT = 10


class Refused(Exception):
    """What to tell the user, on one line."""


def _passphrase(*, twice: bool = False) -> str:
    given = os.environ.get("IDP_APP_PASSPHRASE")
    if given is not None:
        return given
    first = getpass.getpass("Passphrase for the device key: ")
    if twice and getpass.getpass("The same passphrase again: ") != first:
        raise Refused("the passphrases differ")
    if twice and len(first) < 6:
        raise Refused("choose a passphrase of at least 6 characters")
    return first


def _call(device: keys.DeviceKey, method: str, path: str, *, embed_key: bool = False, **values: object) -> dict | None:
    """One signed request; the answer's JSON (None for 204). Raises Refused with the provider's error."""
    token = device.sign(method, PREFIX + path, embed_key=embed_key, **values)
    try:
        response = requests.request(
            method,
            device.issuer.rstrip("/") + PREFIX + path,
            headers={"Authorization": f"Device {token}"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise Refused(f"cannot reach {device.issuer}: {type(exc).__name__}") from None
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        raise Refused(f"the provider answered HTTP {response.status_code} without JSON") from None
    if response.status_code >= 400:
        raise Refused(f"{body.get('error', 'error')}: {body.get('error_description', '')}".rstrip(": "))
    return body


def _activation(code: str, issuer: str | None) -> tuple[str, str | None]:
    """The activation code and issuer from what was typed: the code, or the QR code's idp-app://enrol?... link."""
    if code.startswith("idp-app://"):
        query = parse_qs(urlsplit(code).query)
        return query.get("code", [""])[0], issuer or query.get("issuer", [None])[0]
    return code, issuer


def enrol(options: argparse.Namespace) -> None:
    code, issuer = _activation(options.code, options.issuer)
    if not issuer:
        raise Refused("give --issuer (the provider's address), or the QR code's whole link as --code")
    if options.key.exists():
        raise Refused(f"{options.key} exists: this device is enrolled already (remove the file to start again)")
    pid = options.pid or input("National identity number: ").strip()
    device = keys.new_key(issuer, options.name)
    passphrase = _passphrase(twice=True)
    _call(device, "POST", "/devices", embed_key=True, pid=pid, code=code, name=options.name)
    keys.save(device, options.key, passphrase)
    print(f"Enrolled {options.name} ({device.kid}). The key is in {options.key}.")


def _open(options: argparse.Namespace) -> keys.DeviceKey:
    try:
        return keys.load(options.key, _passphrase())
    except keys.KeyFileError as exc:
        raise Refused(str(exc)) from None


def _waiting(device: keys.DeviceKey, wait: float) -> list[dict]:
    deadline = time.monotonic() + wait
    while True:
        approvals = _call(device, "GET", "/approvals")["approvals"]
        if approvals or time.monotonic() >= deadline:
            return approvals
        time.sleep(1)


def pending(options: argparse.Namespace) -> None:
    approvals = _waiting(_open(options), options.wait)
    if not approvals:
        print("No login is waiting.")
    for approval in approvals:
        choices = " ".join(str(n) for n in approval["choices"])
        print(f"{approval['id']}  {approval['service']}  until {approval['expires']}  numbers: {choices}")


def _one(device: keys.DeviceKey, options: argparse.Namespace) -> dict:
    approvals = _waiting(device, options.wait)
    if options.approval:
        approvals = [a for a in approvals if a["id"] == options.approval]
    if not approvals:
        raise Refused("no login is waiting" + (f" with id {options.approval}" if options.approval else ""))
    if len(approvals) > 1:
        raise Refused("several logins are waiting: name one with --approval (see idp-app pending)")
    return approvals[0]


def approve(options: argparse.Namespace) -> None:
    # The key opens only with the passphrase: that is the user check the approval says took place.
    device = _open(options)
    approval = _one(device, options)
    number = options.number
    if number is None:
        choices = "/".join(str(n) for n in approval["choices"])
        answer = input(
            f"{approval['service']} wants you to log in. Which number does the login page show? ({choices}) "
        )
        if not answer.strip().isdigit():
            raise Refused("type one of the numbers")
        number = int(answer)
    path = f"/approvals/{approval['id']}/approve"
    result = _call(device, "POST", path, approval=approval["id"], decision="approve", number=number, user_verified=True)
    if result["status"] == "wrong_number":
        raise Refused("wrong number: the login was stopped")
    print(f"Approved the login to {approval['service']}.")


def deny(options: argparse.Namespace) -> None:
    device = _open(options)
    approval = _one(device, options)
    _call(device, "POST", f"/approvals/{approval['id']}/deny", approval=approval["id"], decision="deny")
    print(f"Denied the login to {approval['service']}.")


def devices(options: argparse.Namespace) -> None:
    for row in _call(_open(options), "GET", "/devices")["devices"]:
        mark = " (this device)" if row["this_device"] else ""
        used = row["last_used_at"] or "never"
        print(f"{row['kid']}  {row['name']}{mark}  added {row['created_at']}  last used {used}")


def remove(options: argparse.Namespace) -> None:
    _call(_open(options), "DELETE", f"/devices/{options.kid}")
    print(f"Removed {options.kid}.")


def _parser() -> argparse.ArgumentParser:
    default_key = os.environ.get("IDP_APP_KEY_FILE") or str(Path.home() / ".config" / "idp-app" / "key.json")
    parser = argparse.ArgumentParser(prog="idp-app", description=__doc__.splitlines()[0])
    parser.add_argument("--key", type=Path, default=Path(default_key), help="the key file (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    enrolling = commands.add_parser("enrol", help="enrol this device with an activation code")
    enrolling.add_argument("--issuer", help="the provider's address, e.g. http://127.0.0.1:5000")
    enrolling.add_argument("--pid", help="your national identity number (asked for when left out)")
    enrolling.add_argument("--code", required=True, help="the activation code, or the QR code's idp-app:// link")
    enrolling.add_argument("--name", default="idp-app", help="what Min profil calls this device")
    enrolling.set_defaults(run=enrol)
    for name, run, text in (
        ("pending", pending, "list logins waiting for an answer"),
        ("approve", approve, "approve a waiting login"),
        ("deny", deny, "deny a waiting login"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--wait", type=float, default=0, help="seconds to wait for a login to arrive")
        if name != "pending":
            command.add_argument("--approval", help="which login (needed when several wait)")
        if name == "approve":
            command.add_argument("--number", type=int, help="the number the login page shows (asked for when left out)")
        command.set_defaults(run=run)
    commands.add_parser("devices", help="list your devices").set_defaults(run=devices)
    removing = commands.add_parser("remove", help="remove one of your devices")
    removing.add_argument("kid")
    removing.set_defaults(run=remove)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        options.run(options)
    except Refused as exc:
        print(f"idp-app: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("idp-app: stopped", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
