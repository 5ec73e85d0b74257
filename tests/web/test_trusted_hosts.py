"""Host and transport (issue 11.6): with PUBLIC_URL set, absolute URLs (og:url, API
links) carry the public host and a forged Host header is refused; HSTS only when secure
cookies say the site is on HTTPS."""

from __future__ import annotations

import io

import pytest

from photoshare import create_app
from tests.images import make_image
from tests.support.api_clients import ApiClient, make_account, make_key

PUBLIC = "https://photos.example.org"


@pytest.fixture
def public_app(settings):
    app = create_app({**settings, "TESTING": True, "PUBLIC_URL": PUBLIC})
    yield app
    app.extensions["photoshare.backends"].close()


@pytest.mark.parametrize("host", ["evil.example", "photos.example.org.evil.example", "evil.example:443"])
def test_a_forged_host_is_refused(public_app, host):
    response = public_app.test_client().get("/explore", base_url=f"https://{host}")
    assert response.status_code == 400
    assert "evil" not in response.get_data(as_text=True)


def test_loopback_health_checks_pass_and_still_get_public_urls(public_app):
    # docker-compose's health check asks http://127.0.0.1:5000/healthz/live.
    assert public_app.test_client().get("/healthz/live", base_url="http://127.0.0.1:5000").status_code == 200
    page = public_app.test_client().get("/explore", base_url="http://127.0.0.1:5000").get_data(as_text=True)
    assert f'<meta property="og:url" content="{PUBLIC}/explore">' in page


def test_og_url_and_api_links_carry_the_public_host(public_app):
    db = public_app.extensions["photoshare.backends"].db
    ada = make_account(db, "ada.hosts@example.com")
    api = ApiClient(public_app.test_client(), make_key(db, ada), ada)
    # Sent over plain http (as from a TLS proxy): the links still say https.
    created = api.post("/api/v1/photos", data={"image": (io.BytesIO(make_image("PNG")), "a.png")},
                       content_type="multipart/form-data", base_url="http://photos.example.org")
    assert created.status_code == 202, created.get_json()
    photo = created.get_json()
    assert photo["urls"]["self"].startswith(f"{PUBLIC}/api/v1/photos/")
    assert all(url.startswith(PUBLIC) for url in photo["urls"].values() if isinstance(url, str))
    share = api.post("/api/v1/shares", json={"photo_id": photo["id"]}, base_url="http://photos.example.org")
    assert share.status_code == 201 and share.get_json()["url"].startswith(f"{PUBLIC}/s/")
    page = public_app.test_client().get("/explore", base_url="http://photos.example.org").get_data(as_text=True)
    assert f'<meta property="og:url" content="{PUBLIC}/explore">' in page


def test_hsts_only_with_secure_cookies(settings, app):
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    secure = create_app({**settings, "TESTING": True, "SESSION_COOKIE_SECURE": True})
    try:
        header = secure.test_client().get("/login", base_url="https://localhost").headers["Strict-Transport-Security"]
        assert "max-age=31536000" in header
    finally:
        secure.extensions["photoshare.backends"].close()
