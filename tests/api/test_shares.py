"""/api/v1/shares: make, list, revoke share links; the links answer on /s/<token>."""

from __future__ import annotations

import hashlib

import pytest

from photoshare.repositories import photos as photo_repo

from tests.images import make_image

CAPTION = "a man rides a red bike"


@pytest.fixture
def photo(api, db):
    """One of Ada's photos, captioned through the real state machine."""
    created = api.upload(make_image(), "ride.jpg").get_json()
    doc = db.photos.find_one({})
    assert photo_repo.claim(db, doc["_id"], doc["job_id"], "test")
    assert photo_repo.complete(db, doc["_id"], doc["job_id"], {"ai_caption": CAPTION})
    return created


def test_create_list_use_and_revoke_a_link(api, app, db, photo):
    response = api.post("/api/v1/shares", json={"photo_id": photo["id"], "expires_in_days": 7,
                                                "allow_download": True})
    assert response.status_code == 201
    link = response.get_json()
    assert link["url"] == f"http://localhost/s/{link['token']}"
    assert link["target"] == "photo" and link["photo_id"] == photo["id"] and link["album_id"] is None
    assert link["expires_at"] and link["state"] == "active" and link["views"] == 0
    assert link["allow_download"] is True and link["has_password"] is False
    assert photo["id"] not in link["token"] and len(link["token"]) >= 32
    # The photo was private: it is unlisted now.
    assert api.get(f"/api/v1/photos/{photo['id']}").get_json()["visibility"] == "unlisted"

    visitor = app.test_client()
    assert visitor.get(f"/s/{link['token']}").status_code == 200
    listed = api.get("/api/v1/shares").get_json()
    assert [item["id"] for item in listed["items"]] == [link["id"]]
    assert listed["items"][0]["views"] == 1 and "token" not in listed["items"][0]
    assert link["token"] not in api.get("/api/v1/shares").get_data(as_text=True)

    assert api.delete(f"/api/v1/shares/{link['id']}").status_code == 204
    assert visitor.get(f"/s/{link['token']}").status_code == 404
    assert api.get("/api/v1/shares").get_json()["items"][0]["state"] == "revoked"
    assert db.share_links.find_one({})["token_hash"] == hashlib.sha256(link["token"].encode()).hexdigest()


def test_password_links_and_album_links(api, app, photo):
    album = api.post("/api/v1/albums", json={"name": "Rides"}).get_json()
    api.patch(f"/api/v1/photos/{photo['id']}", json={"album_ids": [album["id"]]})
    link = api.post("/api/v1/shares", json={"album_id": album["id"], "password": "letmein"}).get_json()
    assert link["target"] == "album" and link["has_password"] is True
    assert api.get(f"/api/v1/albums/{album['id']}").get_json()["visibility"] == "unlisted"
    page = app.test_client().get(f"/s/{link['token']}").get_data(as_text=True)
    assert 'name="password"' in page and CAPTION not in page


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "invalid"),
    ({"photo_id": "665f1c2e9b1e8a3d4c5b6a79", "album_id": "665f1c2e9b1e8a3d4c5b6a79"}, 400, "invalid"),
    ({"photo_id": "665f1c2e9b1e8a3d4c5b6a79"}, 404, "not_found"),
    ({"photo_id": "nope"}, 422, "validation_failed"),
    ({"photo_id": "PHOTO", "expires_in_days": 0}, 422, "validation_failed"),
    ({"photo_id": "PHOTO", "password": "abc"}, 400, "invalid"),
])
def test_bad_requests_get_a_clear_error(api, photo, body, status, code):
    body = {key: photo["id"] if value == "PHOTO" else value for key, value in body.items()}
    response = api.post("/api/v1/shares", json=body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code


def test_another_users_photo_and_links_are_not_found(api, bob_api, read_api, photo):
    assert bob_api.post("/api/v1/shares", json={"photo_id": photo["id"]}).status_code == 404
    link = api.post("/api/v1/shares", json={"photo_id": photo["id"]}).get_json()
    assert bob_api.get("/api/v1/shares").get_json()["items"] == []
    assert bob_api.delete(f"/api/v1/shares/{link['id']}").status_code == 404
    # Scopes: read lists, write makes and revokes.
    assert read_api.get("/api/v1/shares").status_code == 200
    assert read_api.post("/api/v1/shares", json={"photo_id": photo["id"]}).status_code == 403
    assert read_api.delete(f"/api/v1/shares/{link['id']}").status_code == 403
    assert api.get("/api/v1/shares").get_json()["items"][0]["state"] == "active"


def test_album_visibility_through_the_api(api, app, db):
    album = api.post("/api/v1/albums", json={"name": "Trips"}).get_json()
    assert album["visibility"] == "private"
    changed = api.patch(f"/api/v1/albums/{album['id']}", json={"visibility": "public"}).get_json()
    assert changed["visibility"] == "public" and changed["name"] == "Trips"
    assert app.test_client().get(f"/a/{album['id']}").status_code == 200
    renamed = api.patch(f"/api/v1/albums/{album['id']}", json={"name": "Walks"}).get_json()
    assert renamed["name"] == "Walks" and renamed["visibility"] == "public"
    bad = api.patch(f"/api/v1/albums/{album['id']}", json={"visibility": "friends"})
    assert bad.status_code == 422
    api.patch(f"/api/v1/albums/{album['id']}", json={"visibility": "private"})
    assert app.test_client().get(f"/a/{album['id']}").status_code == 404
