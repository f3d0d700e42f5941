"""oidcc-formpost-basic-certification-test-plan: the Basic modules with response_mode=form_post.

The suite runs the Basic plan's modules again with form_post: so does
``test_basic_module_with_form_post``, through a provider whose every
authorization request asks for form_post. The page must work without
JavaScript (a visible submit button) and may not use inline script (our CSP
forbids it).
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import requests

from tests.conformance import test_basic
from tests.conformance.browserless import parse
from tests.conformance.suite import (
    Provider,
    authorize,
    check_error_callback,
)


def test_form_post_page_works_without_javascript(provider):
    page = requests.get(
        provider.authorize_url(provider.clients["basic"], response_mode="form_post", prompt="none"),
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    form = parse(page.text).forms[0]
    assert form["method"].lower() == "post" and form["action"] == provider.clients["basic"].redirect_uri
    assert re.search(r'<button type="submit"', page.text)
    assert not re.search(r"<script>(?!</script>)|onload=", page.text), "inline script is blocked by our CSP"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_unsupported_response_mode_is_invalid_request(provider):
    flow = authorize(provider, provider.clients["basic"], response_mode="web_message", expect_login=False)
    check_error_callback(provider, flow, "invalid_request")


class FormPostProvider(Provider):
    """The same provider, with response_mode=form_post on every authorization request."""

    def authorize_params(self, rp, **params):
        return super().authorize_params(rp, **{"response_mode": "form_post", **params})


BASIC_MODULES = sorted(name for name in dir(test_basic) if name.startswith("test_oidcc_"))


@pytest.mark.parametrize("module", BASIC_MODULES, ids=[m[5:].replace("_", "-") for m in BASIC_MODULES])
def test_basic_module_with_form_post(provider, module):
    form_post = FormPostProvider(**{f.name: getattr(provider, f.name) for f in dataclasses.fields(provider)})
    getattr(test_basic, module)(form_post)
