"""/api/v1/admin: only keys with the `admin` scope, which only administrators can create
(403 for everyone else); users, settings, invitations, stats; and the account rules the
API shares with the website (a disabled owner's key is 401, quotas refuse uploads)."""

from __future__ import annotations

import pytest
from bson import ObjectId

from tests.images import make_image
from tests.support.api_clients import ApiClient, basic, make_key

ENDPOINTS = [("GET", "/api/v1/admin/users"), ("PATCH", "/api/v1/admin/users/{bob}"),
             ("PATCH", "/api/v1/admin/settings"), ("POST", "/api/v1/admin/invites"),
             ("GET", "/api/v1/admin/stats")]


@pytest.fixture
def admin_api(app, db, ada, bob) -> ApiClient:
    """Ada (the first account: the administrator) with an admin key; Bob exists too."""
    assert db.users.find_one({"_id": ada["_id"]})["role"] == "admin"
    return ApiClient(app.test_client(), make_key(db, ada, scopes=("read", "admin"), name="admin"), ada)


def _call(client, method, url, bob):
    body = {"PATCH": {"disabled": True, "signup_policy": "closed"}, "POST": {}}.get(method)
    return client.client.open(url.format(bob=bob["_id"]), method=method, json=body,
                              headers=client._headers(None))


def test_only_administrators_create_admin_keys(app, db, ada, bob):
    response = app.test_client().post("/api/v1/tokens", headers=basic(bob["email"]),
                                      json={"name": "sneaky", "scopes": ["admin"]})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "admin_scope_forbidden"
    response = app.test_client().post("/api/v1/tokens", headers=basic(ada["email"]),
                                      json={"name": "ops", "scopes": ["admin"]})
    assert response.status_code == 201 and response.get_json()["scopes"] == ["admin"]


def test_non_admin_keys_get_403_on_every_admin_endpoint(app, db, admin_api, ada, bob, bob_api, api):
    # Bob's read+write key, and Ada's own key without the admin scope.
    for client in (bob_api, api):
        for method, url in ENDPOINTS:
            response = _call(client, method, url, bob)
            assert response.status_code == 403, (method, url, response.status_code)
            assert response.get_json()["error"]["code"] == "insufficient_scope"
    assert db.users.find_one({"_id": bob["_id"]}).get("disabled_at") is None
    # No key at all: 401.
    assert app.test_client().get("/api/v1/admin/stats").status_code == 401
    # An admin key stops working here when its owner is demoted.
    db.users.update_one({"_id": ada["_id"]}, {"$unset": {"role": ""}})
    assert admin_api.get("/api/v1/admin/stats").status_code == 403


def test_list_and_patch_users(admin_api, bob, bob_api, db):
    response = admin_api.get("/api/v1/admin/users")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 2 and [u["email"] for u in body["items"]] == ["ada.api@example.com", "bob.api@example.com"]
    bob_row = body["items"][1]
    assert bob_row["role"] == "user" and bob_row["state"] == "active" and bob_row["custom_quota"] is False
    assert "password_hash" not in bob_row

    url = f"/api/v1/admin/users/{bob['_id']}"
    response = admin_api.patch(url, json={"quota_bytes": 1000, "role": "admin"})
    assert response.status_code == 200
    assert response.get_json()["quota_bytes"] == 1000 and response.get_json()["role"] == "admin"
    response = admin_api.patch(url, json={"quota_bytes": None, "role": "user", "disabled": True})
    assert response.get_json()["custom_quota"] is False and response.get_json()["state"] == "disabled"

    # The disabled owner's key: 401, with its own code.
    response = bob_api.get("/api/v1/photos")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "account_disabled"
    assert admin_api.patch(url, json={"disabled": False}).status_code == 200
    assert bob_api.get("/api/v1/photos").status_code == 200

    # Failure modes: bad values, own account, unknown account.
    assert admin_api.patch(url, json={"quota_bytes": -1}).status_code == 422
    assert admin_api.patch(url, json={"role": "root"}).status_code == 422
    assert admin_api.patch(url, json={"disabled": "maybe"}).status_code == 422
    own = admin_api.patch(f"/api/v1/admin/users/{admin_api.user['_id']}", json={"disabled": True})
    assert own.status_code == 409 and own.get_json()["error"]["code"] == "own_account"
    assert admin_api.patch(f"/api/v1/admin/users/{ObjectId()}", json={"disabled": True}).status_code == 404
    assert admin_api.patch("/api/v1/admin/users/nope", json={"disabled": True}).status_code == 404


def test_settings_and_invites(app, admin_api, db):
    response = admin_api.patch("/api/v1/admin/settings", json={"signup_policy": "invite"})
    assert response.status_code == 200 and response.get_json() == {"signup_policy": "invite"}
    assert admin_api.patch("/api/v1/admin/settings", json={"signup_policy": "sometimes"}).status_code == 422

    response = admin_api.post("/api/v1/admin/invites", json={"expires_in_hours": 2, "note": "for Carol"})
    assert response.status_code == 201
    invite = response.get_json()
    assert set(invite) == {"id", "url", "expires_at"} and "/signup?invite=" in invite["url"]
    token = invite["url"].split("invite=")[1]
    assert db.invites.find_one({"_id": ObjectId(invite["id"])})["token_hash"] != token  # only the hash is stored
    assert admin_api.post("/api/v1/admin/invites", json={"expires_in_hours": 0}).status_code == 422

    from tests.support.sessions import Browser
    carol = Browser(app.test_client())
    page = f"/signup?invite={token}"
    response = carol.post(page, {"email": "carol@example.com", "password": "correct horse",
                                 "confirm": "correct horse", "name": "Carol"}, page=page)
    assert response.status_code == 303


def test_stats(admin_api, api, worker, db):
    assert api.upload(make_image()).status_code == 202
    response = admin_api.get("/api/v1/admin/stats")
    body = response.get_json()
    assert response.status_code == 200
    assert body["users"] == 2 and body["queue_depth"] == 1 and body["photos_by_status"]["pending"] == 1
    assert body["signup_policy"] == "open" and body["workers"] == [] and body["model_version"] is None
    worker.work()
    body = admin_api.get("/api/v1/admin/stats").get_json()
    assert body["queue_depth"] == 0 and body["photos_by_status"]["done"] == 1


def test_quota_refuses_api_uploads(admin_api, api, bob, db):
    assert api.upload(make_image()).status_code == 202
    used = db.users.find_one({"_id": api.user["_id"]})["storage_used"]
    admin_api.patch(f"/api/v1/admin/users/{api.user['_id']}", json={"quota_bytes": used + 10})
    response = api.upload(make_image(color=(9, 9, 9)))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "quota_exceeded" and "storage quota is full" in error["message"]
    assert db.photos.count_documents({"owner_id": api.user["_id"]}) == 1


def test_admin_endpoints_are_in_the_openapi_document(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    for path, method in (("/api/v1/admin/users", "get"), ("/api/v1/admin/users/{user_id}", "patch"),
                         ("/api/v1/admin/settings", "patch"), ("/api/v1/admin/invites", "post"),
                         ("/api/v1/admin/stats", "get")):
        operation = spec["paths"][path][method]
        assert "403" in operation["responses"], (path, method)
    assert "201" in spec["paths"]["/api/v1/admin/invites"]["post"]["responses"]
    assert "admin" in spec["components"]["schemas"]["TokenCreate"]["properties"]["scopes"]["items"]["enum"]
