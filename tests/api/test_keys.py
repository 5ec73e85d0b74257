"""API keys: creation with HTTP Basic (shown once, stored as a hash), the dashboard
pages, listing, revocation, expiry, scopes, the two headers, and that neither session
cookies nor CSRF tokens play any part in the API."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from photoshare.services import api_keys
from tests.support.api_clients import PASSWORD, ApiClient, basic, bearer, make_key
from tests.images import make_image

KEY_RE = re.compile(r"^psk_[A-Za-z0-9_-]{43}$")


def _error(response) -> dict:
    assert response.is_json, response.get_data(as_text=True)[:300]
    return response.get_json()["error"]


# -- Creation with HTTP Basic ------------------------------------------------------------

def test_create_token_with_basic_auth(client, db, ada):
    response = client.post("/api/v1/tokens", headers=basic(ada["email"]),
                           json={"name": "backup script", "scopes": ["read", "write"], "expires_in_days": 30})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= {"id", "key", "scopes", "expires_at"}
    assert KEY_RE.match(body["key"])
    assert body["scopes"] == ["read", "write"] and body["name"] == "backup script"
    assert body["prefix"] == body["key"][:12] and body["state"] == "active"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)

    # Stored as a SHA-256 hash only: the key itself is nowhere in the database.
    stored = db.api_keys.find_one()
    assert stored["key_hash"] == hashlib.sha256(body["key"].encode()).hexdigest()
    assert body["key"] not in str(list(db.api_keys.find()))
    assert response.headers["Cache-Control"].startswith("no-store") or "no-store" in response.headers["Cache-Control"]

    # The key works at once.
    assert client.get("/api/v1/photos", headers=bearer(body["key"])).status_code == 200


def test_key_without_expiry_and_read_only(client, ada):
    response = client.post("/api/v1/tokens", headers=basic(ada["email"]), json={"name": "r", "scopes": ["read"]})
    assert response.status_code == 201
    assert response.get_json()["expires_at"] is None and response.get_json()["scopes"] == ["read"]


@pytest.mark.parametrize("password, email", [("wrong password", "ada.api@example.com"),
                                             (PASSWORD, "nobody@example.com")])
def test_wrong_credentials_are_401_and_do_not_tell_which_part(client, ada, password, email):
    response = client.post("/api/v1/tokens", headers=basic(email, password), json={"name": "x", "scopes": ["read"]})
    assert response.status_code == 401
    assert _error(response) == {"code": "invalid_credentials", "message": "Wrong e-mail address or password."}
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_token_creation_needs_basic_auth_not_a_key_or_cookie(client, api, user):
    # A key cannot mint keys, and neither can a logged-in browser session.
    response = client.post("/api/v1/tokens", headers=bearer(api.key), json={"name": "x", "scopes": ["read"]})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    response = user.client.post("/api/v1/tokens", json={"name": "x", "scopes": ["read"]})
    assert response.status_code == 401 and _error(response)["code"] == "missing_credentials"


@pytest.mark.parametrize("body, field", [
    ({"scopes": ["read"]}, "name"),
    ({"name": "x"}, "scopes"),
    ({"name": "x", "scopes": []}, "scopes"),
    ({"name": "x", "scopes": ["root"]}, "scopes"),
    ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
    ({"name": "x", "scopes": ["read"], "expires_in_days": "soon"}, "expires_in_days"),
    ({"name": "x", "scopes": ["read"], "extra": 1}, "extra"),
])
def test_invalid_token_requests_are_422_with_the_field(client, ada, body, field):
    response = client.post("/api/v1/tokens", headers=basic(ada["email"]), json=body)
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "validation_failed" and field in error["details"]["json"]


def test_blank_name_is_refused_by_the_service_rule(client, ada):
    response = client.post("/api/v1/tokens", headers=basic(ada["email"]), json={"name": "   ", "scopes": ["read"]})
    assert response.status_code == 400
    assert _error(response) == {"code": "invalid", "field": "name",
                                "message": "Give the key a name, e.g. the script or app that uses it."}


def test_malformed_json_is_400(client, ada):
    response = client.post("/api/v1/tokens", headers={**basic(ada["email"]), "Content-Type": "application/json"},
                           data="{not json")
    assert response.status_code == 400 and _error(response)["code"] == "invalid_json"


def test_failed_basic_auth_is_throttled_with_retry_after(settings, db):
    from photoshare import create_app
    from tests.support.api_clients import make_account

    app = create_app({**settings, "TESTING": True, "API_TOKEN_LIMIT_PER_ACCOUNT": "2 per minute"})
    try:
        make_account(db, "ada@example.com")
        client = app.test_client()
        body = {"name": "x", "scopes": ["read"]}
        for _ in range(2):
            assert client.post("/api/v1/tokens", headers=basic("ada@example.com", "nope"), json=body).status_code == 401
        response = client.post("/api/v1/tokens", headers=basic("ada@example.com"), json=body)
        assert response.status_code == 429  # even the right password waits now
        assert _error(response)["code"] == "rate_limited"
        assert int(response.headers["Retry-After"]) > 0
        # Another account is not affected.
        make_account(db, "bob@example.com")
        assert client.post("/api/v1/tokens", headers=basic("bob@example.com"), json=body).status_code == 201
    finally:
        app.extensions["photoshare.backends"].close()


# -- Listing and revocation ----------------------------------------------------------------

def test_list_tokens_never_shows_the_key(client, api, ada):
    for auth in (basic(ada["email"]), bearer(api.key)):
        response = client.get("/api/v1/tokens", headers=auth)
        assert response.status_code == 200
        items = response.get_json()["items"]
        assert len(items) == 1 and items[0]["prefix"] == api.key[:12]
        assert "key" not in items[0] and "key_hash" not in items[0]
        assert api.key not in response.get_data(as_text=True)
        assert set(items[0]) == {"id", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at",
                                 "revoked_at", "state"}


def test_last_used_is_recorded(client, db, api):
    assert db.api_keys.find_one()["last_used_at"] is None
    api.get("/api/v1/photos")
    assert db.api_keys.find_one()["last_used_at"] is not None


def test_revoke_with_delete_then_key_is_401(client, db, api, ada):
    key_id = str(db.api_keys.find_one()["_id"])
    assert client.delete(f"/api/v1/tokens/{key_id}", headers=basic(ada["email"])).status_code == 204
    response = api.get("/api/v1/photos")
    assert response.status_code == 401
    assert _error(response) == {"code": "api_key_revoked", "message": "This API key has been revoked."}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    # Idempotent, and listed as revoked.
    assert client.delete(f"/api/v1/tokens/{key_id}", headers=basic(ada["email"])).status_code == 204
    listed = client.get("/api/v1/tokens", headers=basic(ada["email"])).get_json()["items"]
    assert listed[0]["state"] == "revoked" and listed[0]["revoked_at"]


def test_a_write_key_can_revoke_itself_a_read_key_cannot(client, db, api, read_api):
    read_id = str(db.api_keys.find_one({"name": "read only"})["_id"])
    response = read_api.delete(f"/api/v1/tokens/{read_id}")
    assert response.status_code == 403 and _error(response)["code"] == "insufficient_scope"
    own_id = str(db.api_keys.find_one({"name": "test key"})["_id"])
    assert api.delete(f"/api/v1/tokens/{own_id}").status_code == 204
    assert api.get("/api/v1/photos").status_code == 401


def test_another_users_key_cannot_be_revoked(client, db, api, bob, bob_api):
    bobs_key = str(db.api_keys.find_one({"owner_id": bob["_id"]})["_id"])
    response = api.delete(f"/api/v1/tokens/{bobs_key}")
    assert response.status_code == 404 and _error(response)["code"] == "not_found"
    assert bob_api.get("/api/v1/photos").status_code == 200


def test_expired_key_is_401(client, db, api):
    db.api_keys.update_one({}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
    response = api.get("/api/v1/photos")
    assert response.status_code == 401
    assert _error(response) == {"code": "api_key_expired", "message": "This API key has expired."}


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_credentials"),
    ({"Authorization": "Bearer psk_" + "A" * 43}, "invalid_api_key"),
    ({"Authorization": "Bearer not-a-key"}, "invalid_api_key"),
    ({"X-API-Key": "psk_short"}, "invalid_api_key"),
    ({"Authorization": "Basic " + "eDp5"}, "missing_credentials"),  # Basic is for /tokens only
])
def test_missing_or_unknown_key_is_401_with_a_challenge(client, ada, headers, code):
    response = client.get("/api/v1/photos", headers=headers)
    assert response.status_code == 401
    assert _error(response)["code"] == code
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="photoshare-api"')
    assert ('error="invalid_token"' in challenge) == (code == "invalid_api_key")


def test_x_api_key_header_works_too(api):
    assert api.as_key(api.key, header="x-api-key").get("/api/v1/photos").status_code == 200


def test_deleted_account_keys_stop_working_and_are_removed(db, api, ada):
    from photoshare.services import accounts

    accounts.delete_account(db, ada["_id"], PASSWORD)
    assert api.get("/api/v1/photos").status_code == 401
    assert db.api_keys.count_documents({}) == 0


# -- Scopes ----------------------------------------------------------------------------------

def test_read_key_cannot_write(read_api, api):
    photo = api.upload(make_image()).get_json()
    album = api.post("/api/v1/albums", json={"name": "Trips"}).get_json()
    writes = [
        read_api.upload(make_image()),
        read_api.patch(f"/api/v1/photos/{photo['id']}", json={"caption": "mine"}),
        read_api.delete(f"/api/v1/photos/{photo['id']}"),
        read_api.post(f"/api/v1/photos/{photo['id']}/recaption"),
        read_api.post("/api/v1/albums", json={"name": "More"}),
        read_api.patch(f"/api/v1/albums/{album['id']}", json={"name": "Renamed"}),
        read_api.delete(f"/api/v1/albums/{album['id']}"),
    ]
    for response in writes:
        assert response.status_code == 403, response.request.path
        assert _error(response)["code"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    # ...but it reads.
    assert read_api.get(f"/api/v1/photos/{photo['id']}").status_code == 200
    assert read_api.get("/api/v1/albums").status_code == 200


def test_write_only_key_cannot_read(app, db, ada):
    writer = ApiClient(app.test_client(), make_key(db, ada, scopes=("write",)), ada)
    assert writer.upload(make_image()).status_code == 202
    assert writer.get("/api/v1/photos").status_code == 403


# -- No cookies, no CSRF ---------------------------------------------------------------------

def test_session_cookie_does_not_authenticate_the_api(user):
    # `user` is a logged-in browser (session cookie).
    assert user.client.get("/").status_code == 200
    response = user.client.get("/api/v1/photos")
    assert response.status_code == 401 and _error(response)["code"] == "missing_credentials"
    assert "Set-Cookie" not in response.headers


def test_api_needs_no_csrf_token(app, api):
    # TESTING leaves CSRF on in these apps: the web forms need the token, the API does not.
    assert app.config.get("WTF_CSRF_ENABLED", True)
    assert api.post("/api/v1/albums", json={"name": "No token needed"}).status_code == 201


# -- Dashboard pages --------------------------------------------------------------------------

def test_dashboard_creates_lists_and_revokes_keys(user, db):
    page = user.client.get("/account/api-keys")
    assert page.status_code == 200
    assert 'href="/account/api-keys"' in user.client.get("/").get_data(as_text=True)  # nav link

    response = user.post("/account/api-keys", {"name": "laptop", "scopes": ["read", "write"],
                                               "expires_in_days": "30"}, page="/account/api-keys")
    assert response.status_code == 201
    assert "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    secret = re.search(r'data-role="new-key"[^>]*value="(psk_[A-Za-z0-9_-]{43})"|'
                       r'value="(psk_[A-Za-z0-9_-]{43})"[^>]*data-role="new-key"', html)
    secret = secret.group(1) or secret.group(2)
    assert KEY_RE.match(secret)
    stored = db.api_keys.find_one({"name": "laptop"})
    assert stored["scopes"] == ["read", "write"] and stored["expires_at"] is not None

    # Never shown again: the list has the prefix only.
    listing = user.client.get("/account/api-keys").get_data(as_text=True)
    assert secret not in listing and secret[:12] in listing and "laptop" in listing

    client = user.client.application.test_client()  # no cookies
    assert client.get("/api/v1/photos", headers=bearer(secret)).status_code == 200

    response = user.post(f"/account/api-keys/{stored['_id']}/revoke", {}, page="/account/api-keys")
    assert response.status_code == 303
    assert client.get("/api/v1/photos", headers=bearer(secret)).status_code == 401
    assert "revoked" in user.client.get("/account/api-keys").get_data(as_text=True)


def test_dashboard_form_errors(user, db):
    response = user.post("/account/api-keys", {"name": "", "expires_in_days": ""}, page="/account/api-keys")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Give the key a name." in html
    response = user.post("/account/api-keys", {"name": "x", "expires_in_days": ""}, page="/account/api-keys")
    assert response.status_code == 400 and "Choose at least one scope" in response.get_data(as_text=True)
    assert db.api_keys.count_documents({}) == 0


def test_dashboard_needs_login_and_revoking_another_users_key_is_404(client, other_browser, user, db, bob):
    assert client.application.test_client().get("/account/api-keys").status_code == 302
    bobs_key = api_keys.create_key(db, bob["_id"], "bob's", ["read"]).doc
    response = user.post(f"/account/api-keys/{bobs_key['_id']}/revoke", {}, page="/account/api-keys")
    assert response.status_code == 404
    assert db.api_keys.find_one({"_id": bobs_key["_id"]})["revoked_at"] is None
