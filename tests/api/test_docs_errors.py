"""The API as a whole: its OpenAPI document and docs page, the JSON error shape for
every failure (and HTML errors kept for the website), per-key rate limits."""

from __future__ import annotations

import re

import pytest

from photoshare import create_app
from tests.support.api_clients import ApiClient, make_account, make_key
from tests.images import make_image


def _error(response) -> dict:
    assert response.is_json, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert set(body["error"]) >= {"code", "message"}
    return body["error"]


# -- OpenAPI document and docs page -------------------------------------------------------

def test_openapi_document_describes_every_endpoint(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    spec = response.get_json()
    assert spec["openapi"].startswith("3.") and spec["info"]["version"] == "v1"
    operations = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}
    assert operations == {
        ("POST", "/api/v1/tokens"), ("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}"),
        ("POST", "/api/v1/photos"), ("GET", "/api/v1/photos"), ("GET", "/api/v1/photos/{photo_id}"),
        ("PATCH", "/api/v1/photos/{photo_id}"), ("DELETE", "/api/v1/photos/{photo_id}"),
        ("GET", "/api/v1/photos/{photo_id}/image"), ("POST", "/api/v1/photos/{photo_id}/recaption"),
        ("POST", "/api/v1/albums"), ("GET", "/api/v1/albums"), ("GET", "/api/v1/albums/{album_id}"),
        ("PATCH", "/api/v1/albums/{album_id}"), ("DELETE", "/api/v1/albums/{album_id}"),
        ("POST", "/api/v1/captions"), ("GET", "/api/v1/captions/{job_id}"),
        ("GET", "/api/v1/admin/users"), ("PATCH", "/api/v1/admin/users/{user_id}"),
        ("PATCH", "/api/v1/admin/settings"), ("POST", "/api/v1/admin/invites"), ("GET", "/api/v1/admin/stats"),
        ("POST", "/api/v1/shares"), ("GET", "/api/v1/shares"), ("DELETE", "/api/v1/shares/{share_id}"),
    }
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                     "description": schemes["bearerAuth"]["description"]}
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation.get("security"), (method, path)
            responses = operation["responses"]
            assert {"401", "413", "429", "503"} <= set(map(str, responses)), (method, path)
            for status in ("429", "503"):  # rate limits, captioning_busy: when to come back
                assert "Retry-After" in responses[status]["headers"], (method, path, status)
    upload = spec["paths"]["/api/v1/photos"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_docs_page_uses_local_swagger_ui(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert "/static/vendor/swagger-ui/swagger-ui.css" in sources
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))]  # no CDN
    assert "<script>" not in html  # no inline script (CSP)
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
                  "/static/api-docs.js"):
        assert client.get(asset).status_code == 200


# -- Errors -----------------------------------------------------------------------------------

def test_website_errors_stay_html(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_unexpected_error_is_json_500_without_a_trace(api, monkeypatch):
    from photoshare.services import photos

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(photos, "feed", explode)
    response = api.get("/api/v1/photos")
    assert response.status_code == 500
    assert _error(response)["code"] == "internal_error"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_store_outage_is_json_503(api, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    from photoshare.services import photos

    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("no servers")

    photo = api.upload(make_image()).get_json()
    monkeypatch.setattr(photos, "get_photo", down)
    response = api.get(f"/api/v1/photos/{photo['id']}")
    assert response.status_code == 503 and _error(response)["code"] == "unavailable"


def test_a_large_json_body_is_413_json(api):
    # Only the upload endpoints take large bodies; here the limit is MAX_FORM_BYTES (1 MB).
    photo = api.upload(make_image()).get_json()
    body = {"caption": "x" * (2 * 1024 * 1024)}
    response = api.patch(f"/api/v1/photos/{photo['id']}", json=body)
    assert response.status_code == 413
    assert _error(response) == {"code": "too_large",
                                "message": "The request is too large: at most 1024 KB outside uploads."}
    assert api.get(f"/api/v1/photos/{photo['id']}").get_json()["user_caption"] is None
    response = api.post("/api/v1/albums", json={"name": "n" * (2 * 1024 * 1024)})
    assert response.status_code == 413 and _error(response)["code"] == "too_large"


def test_non_json_body_is_a_validation_error_not_html(api):
    response = api.post("/api/v1/albums", data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422 and _error(response)["code"] == "validation_failed"


# -- Rate limits --------------------------------------------------------------------------------

@pytest.fixture
def limited_app(settings):
    app = create_app({**settings, "TESTING": True, "API_RATE_LIMIT": "3 per minute"})
    yield app
    app.extensions["photoshare.backends"].close()


def test_rate_limit_per_account_with_retry_after(limited_app, db):
    user = make_account(db, "ada.api@example.com")
    first = ApiClient(limited_app.test_client(), make_key(db, user, name="first"), user)
    second = first.as_key(make_key(db, user, name="second"))
    other = make_account(db, "bob.api@example.com")
    others = first.as_key(make_key(db, other))
    for _ in range(3):
        response = first.get("/api/v1/photos")
        assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "0"
    response = first.get("/api/v1/albums")  # one budget for the whole API
    assert response.status_code == 429
    error = _error(response)
    assert error["code"] == "rate_limited" and "Retry-After" in error["message"]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    # More keys do not mean more requests: all keys of the account share the budget...
    assert second.get("/api/v1/photos").status_code == 429
    # ...and another account has its own.
    assert others.get("/api/v1/photos").status_code == 200


def test_requests_without_a_valid_key_are_limited_per_address(limited_app):
    client = limited_app.test_client()
    for _ in range(3):
        assert client.get("/api/v1/photos").status_code == 401
    response = client.get("/api/v1/photos", headers={"Authorization": "Bearer psk_" + "B" * 43})
    assert response.status_code == 429 and _error(response)["code"] == "rate_limited"
