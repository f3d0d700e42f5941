"""`make run`: set up the provider on SQLite, load demo data, serve it and the demo relying party."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import requests


def _idp(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "idp.cli", *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr.strip() or f"idp {' '.join(args)} failed")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rp-port", type=int, default=5001)
    options = parser.parse_args()
    env = dict(os.environ)
    rp_url = f"http://127.0.0.1:{options.rp_port}"
    _idp("db", "upgrade", env=env)
    _idp("keys", "init", env=env)
    demo = json.loads(_idp("demo", "--rp-url", rp_url, "--json", env=env))
    provider = subprocess.Popen([sys.executable, "-m", "idp.cli", "serve", "--dev"], env=env)
    try:
        from idp.config import load_config

        issuer = load_config().server.issuer
        for _ in range(100):
            try:
                if requests.get(issuer + "/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
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
        print("Press Ctrl+C to stop.\n")
        from demo_rp.app import create_rp

        client = demo["client"]
        rp = create_rp(
            issuer=issuer,
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            scope="openid profile email phone address pid",
        )
        rp.run(host="127.0.0.1", port=options.rp_port, debug=False, use_reloader=False)
    finally:
        provider.terminate()
        provider.wait(timeout=10)


if __name__ == "__main__":
    main()
