"""`make run`: set up the provider on SQLite, load demo data, serve it and the demo relying party.

The provider runs as in production (``idp serve``, granian), its log lines going to a
file so the banner stays readable. Nothing is announced until both ports are ours and
the provider answers discovery; anything else stops the demo with one line saying why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

START_SECONDS = 60  # granian and its worker start in a few seconds; a slow, shared machine gets more


def _idp(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "idp.cli", *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr.strip() or f"idp {' '.join(args)} failed")
    return result.stdout


def _refuse_taken_port(host: str, port: int, what: str, setting: str) -> None:
    """Stop now if another program listens there: it would answer instead of ours."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            sys.exit(
                f"make run: {what} port {host}:{port} is taken ({exc.strerror}): stop what uses it, or set {setting}"
            )


def _wait_for_provider(provider: subprocess.Popen, issuer: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if provider.poll() is not None:
            sys.exit(f"make run: the provider stopped (exit {provider.returncode}); its log: {log}")
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    provider.terminate()
    sys.exit(f"make run: the provider did not answer at {issuer} within {START_SECONDS} s; its log: {log}")


def _demo_app_key(path: Path, issuer: str) -> Path:
    """The demo phone's key file, made once by the reference app's own code, sealed with the demo passphrase."""
    if not path.exists():
        from idp.demo import DEMO_APP_PASSPHRASE
        from idp_app import keys

        keys.save(keys.new_key(issuer, "Demo-telefon"), path, DEMO_APP_PASSPHRASE)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rp-port", type=int, default=5001)
    options = parser.parse_args()
    env = dict(os.environ)
    rp_url = f"http://127.0.0.1:{options.rp_port}"
    from idp.config import load_config

    config = load_config()
    issuer = config.server.issuer
    _refuse_taken_port(
        config.server.host, config.server.port, "the provider's", "IDP_SERVER_PORT and IDP_SERVER_ISSUER"
    )
    _refuse_taken_port("127.0.0.1", options.rp_port, "the demo relying party's", "RP_PORT")
    _idp("db", "upgrade", env=env)
    _idp("keys", "init", env=env)
    app_key = _demo_app_key(config.data_dir / "demo-app-key.json", issuer)
    demo = json.loads(_idp("demo", "--rp-url", rp_url, "--app-key", str(app_key), "--json", env=env))
    log = config.data_dir / "idp-serve.log"
    with open(log, "a") as output:
        provider = subprocess.Popen(
            [sys.executable, "-m", "idp.cli", "serve", "--workers", "1"], env=env, stdout=output, stderr=output
        )
    try:
        _wait_for_provider(provider, issuer, log)
        from demo_rp.app import create_rp

        client = demo["client"]
        rp = create_rp(
            issuer=issuer,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            scope="openid profile email phone address pid",
        )
        # Werkzeug's own server without Flask's banner, and without its request lines: they
        # would push the banner off the screen. Bound before the banner, which promises both servers answer.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        relying_party = make_server("127.0.0.1", options.rp_port, rp, threaded=True)
        print("\n=== idp is running ===")
        print(f"Provider:              {issuer}   (discovery: {issuer}/.well-known/openid-configuration)")
        print(f"Demo relying party:    {rp_url}   <- open this and press 'Logg inn'")
        for person in demo["citizens"]:
            print(
                f"Citizen: {person['name']:16} national identity number {person['pid']}  password {person['password']}"
            )
        sms = demo["sms"]
        where = f"the file {sms['outbox']}" if sms["gateway"] == "file" else f"the {sms['gateway']} SMS gateway"
        print(f"SMS codes (the second factor) go to {where}")
        if demo.get("app"):
            app = demo["app"]
            print(
                f"The app: {app['pid']} approves logins in a second terminal with\n"
                f"    IDP_APP_KEY_FILE={app['key_file']} .venv/bin/idp-app approve --wait 120"
                f"   (passphrase {app['passphrase']})"
            )
        print(f"The provider's log: {log}")
        print("Press Ctrl+C to stop.\n", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C, as the banner says: stop quietly
            relying_party.serve_forever()
    finally:
        provider.terminate()
        provider.wait(timeout=30)


if __name__ == "__main__":
    main()
