"""The integration guide stays in step with the provider: every scope, claim and level it serves is in it."""

from __future__ import annotations

from pathlib import Path

from idp.oidc.claims import SCOPES_SUPPORTED
from idp.policy.release import SCOPE_CLAIMS

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")


def test_the_guide_names_every_scope_and_claim_the_provider_serves():
    missing = [f"`{name}`" for name in (*SCOPES_SUPPORTED, *(c for cs in SCOPE_CLAIMS.values() for c in cs))]
    assert [name for name in missing if name not in GUIDE] == []


def test_the_guide_names_every_level_and_the_errors_to_handle(app):
    for acr in app.config["IDP"].assurance.levels:
        assert f"`{acr}`" in GUIDE
    for error in ("login_required", "unmet_authentication_requirements", "access_denied", "invalid_scope"):
        assert f"`{error}`" in GUIDE


def test_readme_and_front_page_point_to_the_guide(app):
    assert "(docs/integration.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    page = app.test_client().get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "docs/integration.md" in page
    assert 'href="/.well-known/openid-configuration"' in page
