"""Browser protections: the Content-Security-Policy the SPA runs under, and the other headers."""

import re

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db


def _directive(policy: str, name: str) -> list[str]:
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    return []


@pytest.fixture
def built_index(settings, tmp_path):
    """A frontend build like Vite's: index.html naming hashed module assets, nothing inline."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text(
        '<!doctype html><html><head><script type="module" crossorigin src="/static/assets/index-D2b94F8V.js">'
        '</script></head><body><div id="root"></div></body></html>'
    )
    settings.FRONTEND_DIST = dist
    return dist


def test_the_spa_index_answers_with_a_csp_that_allows_only_the_apps_own_scripts(client, annotator, built_index):
    client.force_login(annotator)
    response = client.get("/review")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert _directive(policy, "script-src") == ["'self'"]
    assert _directive(policy, "default-src") == ["'self'"]
    assert _directive(policy, "frame-ancestors") == ["'none'"]
    assert _directive(policy, "object-src") == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_login_page_has_the_csp_too(client):
    response = client.get("/accounts/login/")
    assert _directive(response["Content-Security-Policy"], "script-src") == ["'self'"]


def test_the_api_docs_get_their_own_relaxed_policy_and_still_load(annotator_client, settings):
    response = annotator_client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY_API_DOCS
    assert "swagger-ui-bundle.js" in response.content.decode()


@pytest.mark.parametrize(
    "index", [REPO_ROOT / "frontend" / "index.html", REPO_ROOT / "frontend" / "dist" / "index.html"]
)
def test_the_spa_shell_has_no_inline_script(index):
    if not index.exists():
        pytest.skip(f"{index} is not built")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", index.read_text(), re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    assert not re.search(r"\son[a-z]+=", index.read_text())  # no inline event handlers either
