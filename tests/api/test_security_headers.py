"""Frame and content-security headers on every response; /docs and /redoc without a CDN.

The attacks: no ``X-Frame-Options`` nor CSP ``frame-ancestors``, so a page on another
port of the same host framed a logged-in job page with working buttons; ``/docs``
loaded Swagger UI from a CDN, without integrity, on the session cookie's origin (and
was blank offline).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator, _Credential, hash_token
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager

TOKEN = "t" * 40


def make_app(store, auth=None):
    app = create_app(AppContext(Settings(auth_max_failures=1), store, PluginManager(load_entrypoints=False), auth=auth))

    @app.get("/api/v1/test-crash", include_in_schema=False)
    def crash() -> None:
        raise RuntimeError("a bug")

    @app.get("/api/v1/test-own-headers", include_in_schema=False)
    def own_headers():
        from fastapi.responses import JSONResponse

        return JSONResponse({}, headers={"X-Frame-Options": "SAMEORIGIN"})

    return app


@pytest.fixture
def open_client(sqlite_store):
    return TestClient(make_app(sqlite_store), raise_server_exceptions=False)


@pytest.fixture
def secured_client(sqlite_store):
    auth = Authenticator([_Credential("ci", hash_token(TOKEN), "read")])
    return TestClient(make_app(sqlite_store, auth), raise_server_exceptions=False)


def assert_frame_headers(r) -> None:
    assert r.headers.get_list("x-frame-options") == ["DENY"], (r.request.url, r.headers)
    csp = r.headers.get_list("content-security-policy")
    assert len(csp) == 1 and "frame-ancestors 'none'" in csp[0], (r.request.url, csp)
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/healthz", 200),
        ("/api/v1/jobs", 200),
        ("/api/v1/jobs/nope", 404),
        ("/openapi.json", 200),
        ("/v1/scheduler/jobs", 200),
        ("/metrics", 404),
        ("/jobs", 200),
        ("/jobs/nope", 404),
        ("/login", 200),
        ("/no/such/page", 404),
        ("/ui/static/app.css", 200),
        ("/docs", 200),
        ("/redoc", 200),
        ("/docs/assets/swagger-ui.css", 200),
        ("/api/v1/test-crash", 500),
        ("/api/v1/test-own-headers", 200),
    ],
)
def test_every_response_forbids_framing(open_client, path, status):
    r = open_client.get(path, follow_redirects=False)
    assert r.status_code == status
    assert_frame_headers(r)


def test_auth_answers_forbid_framing_too(secured_client):
    r = secured_client.get("/api/v1/jobs")
    assert r.status_code == 401
    assert_frame_headers(r)
    r = secured_client.get("/jobs", follow_redirects=False)
    assert r.status_code == 303
    assert_frame_headers(r)
    r = secured_client.get("/api/v1/jobs", headers={"Authorization": "Bearer junk"})
    assert r.status_code == 401
    r = secured_client.get("/api/v1/jobs", headers={"Authorization": "Bearer junk"})
    assert r.status_code == 429  # auth_max_failures=1: the junk token above spent it
    assert_frame_headers(r)
    r = secured_client.post("/api/v1/jobs", json={}, headers={"Authorization": f"Bearer {'x' * 40}"})
    assert_frame_headers(r)


def test_ui_pages_allow_scripts_and_styles_from_this_origin_only(open_client):
    csp = open_client.get("/jobs").headers["content-security-policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    html = open_client.get("/jobs").text + open_client.get("/login").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script in the UI"
    assert " style=" not in html and "<style" not in html, "no inline style in the UI"
    docs_csp = open_client.get("/docs").headers["content-security-policy"]
    assert "script-src" not in docs_csp and "default-src 'self'" in docs_csp, "scripts from this origin only"


def local_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_need_no_network(secured_client, page):
    """Everything the page loads is served here (and public: the docs hold no data)."""
    r = secured_client.get(page)
    assert r.status_code == 200 and "<script>" not in r.text, "no inline script"
    urls = local_assets(r.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in r.text and "https://" not in r.text
    for url in urls:
        asset = secured_client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url
    scripts = re.findall(r'<script src="([^"]+)"', r.text)
    assert scripts and all(
        secured_client.get(s).headers["content-type"].startswith(("text/javascript", "application/javascript"))
        for s in scripts
    )
    assert secured_client.get("/openapi.json").json()["info"]["title"] == "moroccron"
