"""The protocol tests log in with the password alone: the second-factor chain has its own tests in tests/mfa."""

from __future__ import annotations

import pytest

from tests.conftest import make_config


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, IDP_ASSURANCE_PASSWORD_ONLY="true")
