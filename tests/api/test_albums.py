"""/api/v1/albums: create, list (cursor pages), get, rename, delete; names unique per
user (409); another user's album is 404."""

from __future__ import annotations

from tests.images import make_image

ALBUM_FIELDS = {"id", "name", "created_at", "updated_at", "photo_count", "visibility"}


def _error(response) -> dict:
    assert response.is_json
    return response.get_json()["error"]


def test_album_lifecycle(api, db):
    response = api.post("/api/v1/albums", json={"name": "  Summer   2024 "})
    assert response.status_code == 201
    album = response.get_json()
    assert set(album) == ALBUM_FIELDS and album["name"] == "Summer 2024" and album["photo_count"] == 0
    url = f"/api/v1/albums/{album['id']}"

    photo = api.upload(make_image(), album_id=album["id"]).get_json()
    assert api.get(url).get_json()["photo_count"] == 1

    renamed = api.patch(url, json={"name": "Summer"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Summer"
    assert renamed.get_json()["photo_count"] == 1

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    # The photo stays, out of the album.
    kept = api.get(f"/api/v1/photos/{photo['id']}").get_json()
    assert kept["album_ids"] == []


def test_list_albums_with_cursor(api):
    names = [f"Album {i}" for i in range(5)]
    ids = [api.post("/api/v1/albums", json={"name": name}).get_json()["id"] for name in names]
    first = api.get("/api/v1/albums?limit=3").get_json()
    assert [a["id"] for a in first["items"]] == ids[::-1][:3] and first["next_cursor"]
    rest = api.get(f"/api/v1/albums?limit=3&cursor={first['next_cursor']}").get_json()
    assert [a["id"] for a in rest["items"]] == ids[::-1][3:] and rest["next_cursor"] is None


def test_duplicate_names_are_409(api):
    api.post("/api/v1/albums", json={"name": "Trips"})
    other = api.post("/api/v1/albums", json={"name": "Other"}).get_json()
    response = api.post("/api/v1/albums", json={"name": "TRIPS"})
    assert response.status_code == 409 and _error(response)["code"] == "conflict"
    response = api.patch(f"/api/v1/albums/{other['id']}", json={"name": "trips"})
    assert response.status_code == 409


def test_invalid_names(api):
    assert api.post("/api/v1/albums", json={}).status_code == 422
    for name in ("x" * 101, "   ", ""):  # the service's rule, as on the website
        response = api.post("/api/v1/albums", json={"name": name})
        assert response.status_code == 400 and _error(response)["field"] == "name"


def test_name_length_counts_after_white_space_is_collapsed(api):
    # 100 characters once runs of spaces count as one: accepted, like on the website.
    name = "a" + " " * 50 + "b" * 98
    response = api.post("/api/v1/albums", json={"name": name})
    assert response.status_code == 201 and response.get_json()["name"] == "a " + "b" * 98


def test_another_users_album_is_404(api, bob_api):
    album = api.post("/api/v1/albums", json={"name": "Mine"}).get_json()
    url = f"/api/v1/albums/{album['id']}"
    for response in [bob_api.get(url), bob_api.patch(url, json={"name": "Taken"}), bob_api.delete(url),
                     bob_api.get(f"/api/v1/photos?album_id={album['id']}")]:
        assert response.status_code == 404 and _error(response)["code"] == "not_found"
    assert bob_api.get("/api/v1/albums").get_json() == {"items": [], "next_cursor": None}
    # Bob may use the same name for his own album.
    assert bob_api.post("/api/v1/albums", json={"name": "Mine"}).status_code == 201
    assert api.get(url).get_json()["name"] == "Mine"
