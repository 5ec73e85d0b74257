"""Galleries: the all-photos grid (newest first, paginated), photo pages, captions,
image files, deletion, albums."""

from __future__ import annotations

import re

import pytest

from photoshare import repositories
from tests.images import make_image
from tests.support.storage import keys_of, stored_keys


def _text(response) -> str:
    return response.get_data(as_text=True)


def _upload(user, db, name="photo.png", **image):
    assert user.upload((name, make_image("PNG", **image))).status_code == 303
    return db.photos.find_one({"filename": name})


def _photo_ids_on(page_html: str) -> list[str]:
    return re.findall(r'<li class="tile" data-photo-id="([0-9a-f]{24})"', page_html)


def test_welcome_page_for_visitors(client):
    page = _text(client.get("/"))
    assert "Create an account" in page and "/upload" not in page


def test_dashboard_lists_newest_first_with_pagination(user, db, app):
    app.config["PHOTOS_PER_PAGE"] = 2
    ids = [str(_upload(user, db, name=f"p{i}.png")["_id"]) for i in range(5)]
    newest_first = ids[::-1]
    first = _text(user.client.get("/"))
    assert _photo_ids_on(first) == newest_first[:2]
    assert "Page 1 of 3" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert _photo_ids_on(_text(user.client.get("/?page=2"))) == newest_first[2:4]
    last = _text(user.client.get("/?page=3"))
    assert _photo_ids_on(last) == newest_first[4:]
    assert 'rel="next"' not in last
    # Nonsense page numbers are not errors.
    assert user.client.get("/?page=abc").status_code == 200
    assert user.client.get("/?page=-4").status_code == 200
    assert _photo_ids_on(_text(user.client.get("/?page=99"))) == []


HUGE_PAGES = ["999999999999999999", "9" * 40, str(2**63)]


@pytest.mark.parametrize("page", HUGE_PAGES)
def test_huge_page_numbers_are_not_errors(user, db, page):
    _upload(user, db)
    album = _create_album(user, db, "One")
    assert user.client.get(f"/?page={page}").status_code == 200
    assert user.client.get(f"/?q=photo&page={page}").status_code == 200
    assert user.client.get(f"/albums/{album['_id']}?page={page}").status_code == 200


def test_list_photos_clamps_the_page_in_the_service(user, db):
    from photoshare.services import pagination
    from photoshare.services import photos as photo_service

    owner = _upload(user, db)["owner_id"]
    page = photo_service.list_photos(db, owner, page=10**30, per_page=10**30)
    assert page.items == [] and page.page == pagination.MAX_PAGE and page.per_page == pagination.MAX_PER_PAGE
    assert photo_service.list_photos(db, owner, page=-5).page == 1


def test_dashboard_polls_pending_photos(user, db):
    photo = _upload(user, db)
    page = _text(user.client.get("/"))
    assert f'data-status-url="/photos/{photo["_id"]}/status"' in page
    assert 'data-caption-status="pending"' in page
    assert "/static/app.js" in page


def test_search_captions(user, db, worker):
    red = _upload(user, db, name="red.png", color=(200, 40, 40))
    blue = _upload(user, db, name="blue.png", color=(20, 20, 220))
    worker.work()
    caption = db.photos.find_one({"_id": blue["_id"]})["ai_caption"]
    assert caption not in db.photos.find_one({"_id": red["_id"]})["ai_caption"]  # two different captions
    page = _text(user.client.get(f"/?q={caption.upper()}"))  # any case
    assert _photo_ids_on(page) == [str(blue["_id"])]
    # Regex characters are matched literally.
    assert user.client.get("/?q=(.*").status_code == 200
    assert "No photo matches." in _text(user.client.get("/?q=.*"))


def test_photo_page_shows_display_image_captions_and_status(user, db, worker):
    photo = _upload(user, db)
    worker.work()
    page = _text(user.client.get(f"/photos/{photo['_id']}"))
    done = db.photos.find_one({"_id": photo["_id"]})
    assert f'src="/photos/{photo["_id"]}/image/display"' in page
    assert f'alt="{done["ai_caption"]}"' in page
    assert done["ai_caption"] in page and done["model_version"] in page and "done" in page
    assert "Caption again" in page


def test_own_caption_is_kept_beside_the_ai_caption(user, db, worker):
    photo = _upload(user, db)
    worker.work()
    url = f"/photos/{photo['_id']}"
    response = user.post(url + "/caption", {"caption": "  Our  dog\non the beach "}, page=url)
    assert response.status_code == 303
    saved = db.photos.find_one({"_id": photo["_id"]})
    ai_caption = saved["ai_caption"]
    assert saved["user_caption"] == "Our dog on the beach" and ai_caption
    page = _text(user.client.get(url))
    assert 'alt="Our dog on the beach"' in page and ai_caption in page
    state = user.client.get(url + "/status").get_json()
    assert state["caption"] == "Our dog on the beach" and state["ai_caption"] == ai_caption
    # Clearing it brings the AI caption back.
    user.post(url + "/caption", {"caption": ""}, page=url)
    assert user.client.get(url + "/status").get_json()["caption"] == ai_caption


def test_too_long_caption_is_refused(user, db):
    photo = _upload(user, db)
    url = f"/photos/{photo['_id']}"
    response = user.post(url + "/caption", {"caption": "x" * 501}, page=url)
    assert response.status_code == 400
    assert db.photos.find_one({"_id": photo["_id"]})["user_caption"] is None


def test_status_endpoint_json(user, db):
    photo = _upload(user, db)
    response = user.client.get(f"/photos/{photo['_id']}/status")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "id": str(photo["_id"]), "caption_status": "pending", "caption": None, "ai_caption": None,
        "user_caption": None, "caption_error": None, "model_version": None,
    }


@pytest.mark.parametrize("variant, mime", [("thumbnail", "image/jpeg"), ("display", "image/jpeg"),
                                           ("original", "image/png")])
def test_image_files_are_served_with_caching(user, db, variant, mime):
    photo = _upload(user, db)
    url = f"/photos/{photo['_id']}/image/{variant}"
    response = user.client.get(url)
    assert response.status_code == 200 and response.mimetype == mime
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    assert user.client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_unknown_image_variant_is_404(user, db):
    photo = _upload(user, db)
    assert user.client.get(f"/photos/{photo['_id']}/image/huge").status_code == 404


def test_delete_photo_removes_its_files(user, db):
    keep = _upload(user, db, name="keep.png")
    photo = _upload(user, db, name="gone.png")
    response = user.post(f"/photos/{photo['_id']}/delete", page="/")
    assert response.status_code == 303
    assert db.photos.count_documents({}) == 1
    assert stored_keys(db) == keys_of(keep)
    assert user.client.get(f"/photos/{photo['_id']}").status_code == 404
    assert user.post(f"/photos/{photo['_id']}/delete", page="/").status_code == 404


# -- Albums -----------------------------------------------------------------------

def _create_album(user, db, name):
    response = user.post("/albums", {"name": name}, page="/albums")
    assert response.status_code == 303, _text(response)
    return db.albums.find_one({"name": name})


def test_albums_create_rename_delete(user, db):
    album = _create_album(user, db, "Holiday 2024")
    assert "Holiday 2024" in _text(user.client.get("/albums"))
    url = f"/albums/{album['_id']}"
    assert user.post(url + "/rename", {"name": "Summer"}, page=url).status_code == 303
    assert db.albums.find_one({"_id": album["_id"]})["name"] == "Summer"
    assert user.post(url + "/delete", page=url).status_code == 303
    assert db.albums.count_documents({}) == 0
    assert user.client.get(url).status_code == 404


@pytest.mark.parametrize("name, message", [("", "Give the album a name."),
                                           ("   ", "Give the album a name."),
                                           ("x" * 101, "at most 100 characters")])
def test_album_name_refusals(user, db, name, message):
    response = user.post("/albums", {"name": name}, page="/albums")
    assert response.status_code == 400 and message in _text(response)
    assert db.albums.count_documents({}) == 0


def test_album_names_are_unique_per_user_case_insensitively(user, other_browser, db):
    _create_album(user, db, "Holiday")
    response = user.post("/albums", {"name": "HOLIDAY"}, page="/albums")
    assert response.status_code == 400 and "already have an album called" in _text(response)
    other = _create_album(user, db, "Other")
    url = f"/albums/{other['_id']}"
    response = user.post(url + "/rename", {"name": "holiday"}, page=url)
    assert response.status_code == 400 and "already have an album called" in _text(response)
    # Another user may use the same name.
    other_browser.signup(email="bob@example.com")
    assert other_browser.post("/albums", {"name": "Holiday"}, page="/albums").status_code == 303


def test_a_photo_in_several_albums(user, db):
    photo = _upload(user, db)
    first, second = _create_album(user, db, "One"), _create_album(user, db, "Two")
    url = f"/photos/{photo['_id']}"
    for album in (first, second):
        assert user.post(url + "/albums", {"album_id": str(album["_id"])}, page=url).status_code == 303
    assert user.post(url + "/albums", {"album_id": str(first["_id"])}, page=url).status_code == 303  # no dup
    assert db.photos.find_one({"_id": photo["_id"]})["album_ids"] == [first["_id"], second["_id"]]
    for album in (first, second):
        assert f'data-photo-id="{photo["_id"]}"' in _text(user.client.get(f"/albums/{album['_id']}"))
    assert "1 photo" in _text(user.client.get("/albums"))

    # Removing from one album keeps it in the other; deleting an album keeps the photo.
    user.post(f"{url}/albums/{first['_id']}/remove", page=url)
    assert db.photos.find_one({"_id": photo["_id"]})["album_ids"] == [second["_id"]]
    user.post(f"/albums/{second['_id']}/delete", page="/albums")
    assert db.photos.find_one({"_id": photo["_id"]})["album_ids"] == []


def test_adding_to_a_nonexistent_album_is_404(user, db):
    photo = _upload(user, db)
    url = f"/photos/{photo['_id']}"
    for album_id in ("", "nonsense", "0" * 24):
        assert user.post(url + "/albums", {"album_id": album_id}, page=url).status_code == 404


def test_indexes_exist_for_every_query(db):
    repositories.ensure_indexes(db)  # idempotent
    photo_indexes = {tuple(i["key"].items()) if hasattr(i["key"], "items") else tuple(i["key"])
                     for i in db.photos.list_indexes()}
    names = {i["name"] for i in db.photos.list_indexes()}
    assert {"owner_id_desc", "owner_album_id_desc", "owner", "album_ids", "caption_status"} <= names and photo_indexes
    assert "email_unique" in {i["name"] for i in db.users.list_indexes()}
    assert "owner_name_unique" in {i["name"] for i in db.albums.list_indexes()}
    assert "owner" in {i["name"] for i in db.photo_attention.list_indexes()}


def test_views_for_the_api(user, db, worker):
    from photoshare.repositories.photos import DETAIL_FIELDS
    from photoshare.services import albums, photos
    from photoshare.services.photo_mapper import owner_view

    photo = _upload(user, db)
    worker.work()
    album = albums.create_album(db, photo["owner_id"], "Trip")
    albums.add_photo_to_album(db, photo["owner_id"], photo["_id"], album["_id"])
    stored = photos.get_photo(db, photo["owner_id"], str(photo["_id"]), projection=DETAIL_FIELDS)
    assert "attention" not in stored  # the bulky maps are not even read
    data = owner_view(stored)
    assert data["id"] == str(photo["_id"]) and data["album_ids"] == [str(album["_id"])]
    assert data["caption"] == stored["ai_caption"] and data["caption_status"] == "done"
    assert data["alternatives"] and "attention" not in data
    import json

    json.dumps(data)  # JSON-ready
    listed = albums.list_albums(db, photo["owner_id"])
    assert albums.album_view(listed[0]) == {**albums.album_view(listed[0]), "name": "Trip", "photo_count": 1}



@pytest.mark.parametrize("target, allowed", [
    ("/albums", True),
    ("/\t/evil.example/", False),
    ("//evil.example/", False),
    ("/\\evil.example/", False),
    ("https://evil.example/", False),
])
def test_forms_post_back_only_to_local_paths(user, db, target, allowed):
    photo = _upload(user, db)
    album = _create_album(user, db, "One")
    url = f"/photos/{photo['_id']}"
    user.post(url + "/albums", {"album_id": str(album["_id"])}, page=url)
    response = user.post(f"{url}/albums/{album['_id']}/remove", {"next": target}, page=url)
    assert response.status_code == 303
    assert response.headers["Location"] == (target if allowed else url)


def test_a_photo_can_be_in_at_most_max_albums_on_the_website_too(user, db):
    from photoshare.services import albums as album_service

    photo = _upload(user, db)
    owner = photo["owner_id"]
    full = [album_service.create_album(db, owner, f"Album {i}")["_id"]
            for i in range(album_service.MAX_ALBUMS_PER_PHOTO)]
    db.photos.update_one({"_id": photo["_id"]}, {"$set": {"album_ids": full}})
    one_more = _create_album(user, db, "One more")
    url = f"/photos/{photo['_id']}"
    response = user.post(url + "/albums", {"album_id": str(one_more["_id"])}, page=url)
    assert response.status_code == 400
    assert f"at most {album_service.MAX_ALBUMS_PER_PHOTO} albums" in _text(response)
    assert db.photos.find_one({"_id": photo["_id"]})["album_ids"] == full
    # Adding an album it is already in changes nothing and is no error.
    assert user.post(url + "/albums", {"album_id": str(full[0])}, page=url).status_code == 303
