"""`idp clients add` with the protocol metadata: logout URIs, request_uris, PAR, sector identifier."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.live import base_env, idp


def test_clients_add_records_protocol_metadata(tmp_path):
    env = base_env(tmp_path)
    idp(env, "db", "upgrade")
    idp(
        env,
        "clients",
        "add",
        "--name",
        "Tjeneste",
        "--client-id",
        "t1",
        "--redirect-uri",
        "https://rp.example/cb",
        "--backchannel-logout-uri",
        "https://rp.example/bc",
        "--frontchannel-logout-uri",
        "https://rp.example/fc",
        "--request-uri",
        "https://rp.example/req.jwt",
        "--request-object-alg",
        "RS256",
        "--require-par",
    )
    shown = json.loads(idp(env, "clients", "show", "t1", "--json").stdout)
    assert shown["backchannel_logout_uri"] == "https://rp.example/bc"
    assert shown["frontchannel_logout_uri"] == "https://rp.example/fc"
    assert shown["request_uris"] == ["https://rp.example/req.jwt"]
    assert shown["require_pushed_authorization_requests"] is True


def test_unreachable_sector_identifier_is_one_clear_line(tmp_path):
    env = base_env(tmp_path)
    idp(env, "db", "upgrade")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "idp.cli",
            "clients",
            "add",
            "--name",
            "T",
            "--redirect-uri",
            "https://rp.example/cb",
            "--sector-identifier-uri",
            "http://127.0.0.1:9/sector.json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("idp: sector_identifier_uri:")
    assert "Traceback" not in result.stderr


def test_sessions_end_expired_command(tmp_path):
    env = base_env(tmp_path)
    idp(env, "db", "upgrade")
    idp(env, "keys", "init")
    assert idp(env, "sessions", "end-expired").stdout.strip() == "ended 0 session(s)"
