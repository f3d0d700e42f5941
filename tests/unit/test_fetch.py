"""The outbound fetcher against hostile hosts: slow, large, redirecting, or inside our network."""

from __future__ import annotations

import ipaddress
import time

import pytest

from idp.config import ConfigError
from idp.fetch import Fetcher, FetchError, ForbiddenAddress
from tests.conftest import make_config
from tests.hosts import http_answer

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
DEADLINE = 2.0
# Generous: this bounds how long a hostile host holds a worker; it is not a benchmark.
SLACK = 1.5


def fetcher(**overrides) -> Fetcher:
    settings = {"deadline_seconds": DEADLINE, "max_bytes": 1024, "allow_networks": LOOPBACK, **overrides}
    return Fetcher(**settings)


def test_a_plain_document_is_fetched(hosts):
    host = hosts(http_answer({"keys": []}))
    assert fetcher().get_json(host.url + "/jwks.json") == {"keys": []}
    assert host.requests[0].startswith(b"GET /jwks.json HTTP/1.1\r\n")


@pytest.mark.parametrize("dripping", ["body", "status line and headers"])
def test_a_host_that_drips_is_cut_off_at_the_deadline(hosts, dripping):
    # One byte every half second: each read is quick, only the whole is slow (50 s of body).
    answer = http_answer("x" * 100)
    head = len(answer) - 100 if dripping == "body" else 0
    host = hosts(answer, drip=0.5, at_once=head)
    started = time.monotonic()
    with pytest.raises(FetchError, match="within 2.0 s"):
        fetcher().get(host.url + "/slow")
    assert time.monotonic() - started < DEADLINE + SLACK


def test_a_host_that_accepts_and_says_nothing_is_cut_off_at_the_deadline(hosts):
    host = hosts(None)
    for url in (host.url + "/", f"https://127.0.0.1:{host.port}/"):  # plain, and a TLS handshake that never ends
        started = time.monotonic()
        with pytest.raises(FetchError):
            fetcher().get(url)
        assert time.monotonic() - started < DEADLINE + SLACK


def test_a_body_over_the_cap_is_refused(hosts):
    declared = hosts(http_answer("x" * 1025))
    with pytest.raises(FetchError, match="larger than 1024 bytes"):
        fetcher().get(declared.url)
    # Without Content-Length (read to the end of the connection) the cap holds too.
    undeclared = hosts(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 5000)
    with pytest.raises(FetchError, match="larger than 1024 bytes"):
        fetcher().get(undeclared.url)
    exactly = hosts(http_answer("x" * 1024))
    assert len(fetcher().get(exactly.url)) == 1024


def test_a_redirect_is_not_followed(hosts):
    target = hosts(http_answer({"keys": []}))
    redirecting = hosts(http_answer("", status="302 Found", headers={"Location": target.url + "/jwks.json"}))
    with pytest.raises(FetchError, match="answered 302"):
        fetcher().get(redirecting.url)
    assert fetcher().post_form(redirecting.url, {"logout_token": "t"}) == 302
    assert target.connections == 0


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",  # loopback
        "localhost",  # a name for it
        "127.1",  # and the spellings a string check would miss
        "2130706433",
        "0x7f000001",
        "[::1]",
        "10.0.0.1",  # RFC 1918
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata services
        "[fe80::1]",
        "[fd00::1]",  # unique local
        "100.64.0.1",  # shared address space (CGNAT)
        "0.0.0.0",  # noqa: S104 - unspecified: reaches this host
        "[::]",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "[::ffff:127.0.0.1]",  # IPv4 inside IPv6
        "[64:ff9b::a00:1]",  # NAT64 to 10.0.0.1
    ],
)
def test_addresses_inside_our_network_are_refused_before_connecting(hosts, host):
    listening = hosts(http_answer({"keys": []}))
    strict = fetcher(allow_networks=[])
    with pytest.raises(ForbiddenAddress):
        strict.get(f"http://{host}:{listening.port}/jwks.json")
    with pytest.raises(ForbiddenAddress):
        strict.post_form(f"http://{host}:{listening.port}/backchannel", {"logout_token": "t"})
    assert listening.connections == 0


def test_allowed_networks_open_only_themselves(hosts):
    host = hosts(http_answer({"keys": []}))
    only_loopback = fetcher(allow_networks=[ipaddress.ip_network("127.0.0.0/8")])
    assert only_loopback.get_json(host.url) == {"keys": []}
    with pytest.raises(ForbiddenAddress):
        only_loopback.get("http://10.0.0.1/")
    with pytest.raises(ForbiddenAddress):
        only_loopback.get("http://169.254.169.254/latest/meta-data/")


def test_only_https_when_the_issuer_is_https(hosts):
    host = hosts(http_answer({"keys": []}))
    with pytest.raises(FetchError, match="not https"):
        fetcher(require_https=True).get(host.url)
    assert host.connections == 0
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http:///no-host"):
        with pytest.raises(FetchError, match="not an http"):
            fetcher().get(url)


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://127.0.0.1:99999/", "http://" + "a" * 70 + ".example/", "http://.../", "http://a b/"]
)
def test_a_malformed_url_is_a_fetch_error(url):
    with pytest.raises(FetchError):
        fetcher().get(url)


def test_settings_are_checked_at_start(tmp_path):
    built = Fetcher.from_config(make_config(tmp_path, IDP_FETCH_ALLOW_NETWORKS="10.20.0.0/16, ::1/128"))
    assert built.allow_networks == (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("::1/128"))
    assert Fetcher.from_config(make_config(tmp_path, IDP_FETCH_ALLOW_NETWORKS="")).allow_networks == ()
    for bad in ({"IDP_FETCH_ALLOW_NETWORKS": "10.0.0.1/8"}, {"IDP_FETCH_ALLOW_NETWORKS": "intranet"}):
        with pytest.raises(ConfigError, match="fetch.allow_networks"):
            Fetcher.from_config(make_config(tmp_path, **bad))
    with pytest.raises(ConfigError, match="fetch.deadline_seconds"):
        Fetcher.from_config(make_config(tmp_path, IDP_FETCH_DEADLINE_SECONDS="0"))
    # The default refuses every internal address; https follows the issuer.
    default = Fetcher.from_config(make_config(tmp_path, IDP_FETCH_ALLOW_NETWORKS="", IDP_SERVER_ISSUER="https://x"))
    assert default.allow_networks == () and default.require_https
