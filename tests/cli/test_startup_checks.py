"""No silent misconfiguration: each mistake stops start-up with one line that says what to do, and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.live import base_env, free_port, idp


def refused(env: dict[str, str], *args: str) -> str:
    """Run ``idp serve`` (or ``args``), which must stop at once; return its one line."""
    command = args or ("serve", "--port", str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "idp.cli", *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("idp: "), result.stderr
    return lines[0]


def test_idp_config_naming_a_missing_file(tmp_path):
    env = base_env(tmp_path, IDP_CONFIG=str(tmp_path / "no-such.toml"))
    assert "IDP_CONFIG names" in refused(env) and "no-such.toml" in refused(env, "users", "list")


@pytest.mark.parametrize(
    ("issuer", "said"),
    [
        ("login.example.no", "must be an absolute URL"),
        ("/relative", "must be an absolute URL"),
        ("https://login.example.no/?x=1", "must be an absolute URL"),
        ("ftp://login.example.no", "must be an absolute URL"),
        ("http://login.example.no", "must use https"),
        ("http://10.0.0.5:5000", "must use https"),
    ],
)
def test_issuer_must_be_absolute_and_https_off_loopback(tmp_path, issuer, said):
    assert said in refused(base_env(tmp_path, IDP_SERVER_ISSUER=issuer))


def test_database_that_cannot_be_written(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    env = base_env(tmp_path, IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'a-file' / 'idp.sqlite3'}")
    line = refused(env, "db", "upgrade")
    assert "database.url: cannot write" in line and "a-file" in line


def test_serving_before_db_upgrade(tmp_path):
    env = base_env(tmp_path)
    idp(env, "keys", "init")
    assert "run `idp db upgrade`" in refused(env)
    assert "run `idp db upgrade`" in refused(env, "serve", "--dev", "--port", str(free_port()))
