"""The package as an operator gets it: the built wheel, installed into a fresh venv outside the checkout, serves.

Builds the wheel with pip (build isolation, as a release would), installs it with its
dependencies into a new venv (pip's cache makes that quick), and in an empty folder
runs ``idp db upgrade``, ``idp keys init`` and ``idp serve``: discovery, a page (templates,
translations) and a stylesheet (static files) must all answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import requests

from tests.live import free_port

CHECKOUT = Path(__file__).resolve().parents[2]
_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "var", "keys", "node_modules", "__pycache__", ".*cache")


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_runs_outside_the_checkout(tmp_path):
    # Built from a copy: setuptools builds in the source tree, and a build/ left there from an
    # earlier build could carry files since deleted into the wheel.
    source = tmp_path / "source"
    shutil.copytree(CHECKOUT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, source)
    (wheel,) = wheels.glob("idp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "idp/templates/login/factor_sms.html",
        "idp/templates/profile/index.html",
        "idp/static/idp.css",
        "idp/translations/nb/LC_MESSAGES/messages.mo",
        "idp/migrations/versions/0001_initial_schema.py",
        "idp/api/admin_openapi.json",
        "idp/api/app_openapi.json",
        "idp/static/app_wait.js",
        "demo_rp/templates/rp_index.html",
    ):
        assert needed in names, needed

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", wheel)

    site = tmp_path / "site"  # an operator's empty folder: no config.toml, no checkout on the path
    site.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path))}
    where = run(venv / "bin" / "python", "-c", "import idp; print(idp.__file__)", cwd=site, env=env).stdout
    assert where.startswith(str(venv)), where
    assert "database is up to date" in run(venv / "bin" / "idp", "db", "upgrade", cwd=site, env=env).stdout
    run(venv / "bin" / "idp", "keys", "init", cwd=site, env=env)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve_env = {**env, "IDP_SERVER_PORT": str(port), "IDP_SERVER_ISSUER": url, "IDP_SERVER_SECURE_COOKIES": "false"}
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(
            [venv / "bin" / "idp", "serve", "--workers", "1"], cwd=site, env=serve_env, stdout=log, stderr=log
        )
    try:
        discovery = _first_answer(f"{url}/.well-known/openid-configuration", server)
        assert discovery.json()["issuer"] == url
        front = requests.get(f"{url}/?ui_locales=en", timeout=10)
        assert front.status_code == 200 and '<html lang="en">' in front.text
        assert requests.get(f"{url}/static/idp.css", timeout=10).status_code == 200
        assert (site / "var" / "idp.sqlite3").exists()  # state lives where the operator runs it
    finally:
        server.terminate()
        server.wait(timeout=20)


def _first_answer(url: str, server: subprocess.Popen) -> requests.Response:
    """Discovery once the server listens (it may take a few seconds to start its worker)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "idp serve exited"
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("idp serve did not answer within 60 s")


def test_config_toml_documents_exactly_the_built_in_defaults():
    """The wheel carries no config file: without one, the defaults in idp/config.py are the ones config.toml shows."""
    from idp.config import Config, load_config

    documented = load_config(CHECKOUT / "config.toml", environ={})
    assert documented == Config(base_dir=documented.base_dir)
