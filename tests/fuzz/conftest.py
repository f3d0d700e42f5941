"""Fixtures of the fuzz suite: the provider on each backend, offline, with a populated ``World``."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.conftest import make_config
from tests.fuzz.world import World, fuzz_env
from tests.services import redis_url


@pytest.fixture
def config(tmp_path, backend):
    return make_config(tmp_path, **backend.env, **fuzz_env(tmp_path))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No request leaves the machine: registered jwks_uri, request_uri, sector and logout URIs fail to resolve.

    Fuzzed registrations name any host; the fetcher must meet an unreachable one as an
    error, never hang the suite on DNS. Only Redis (the backend's) is looked up.
    """
    real = socket.getaddrinfo
    redis_host = urlsplit(redis_url()).hostname

    def getaddrinfo(host, *args, **kwargs):
        if host != redis_host:
            raise socket.gaierror(socket.EAI_NONAME, "the fuzz suite runs offline")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def world(app, tmp_path) -> World:
    return World(app, tmp_path)
