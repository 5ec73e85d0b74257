"""/api/v1/photos: upload (and the web path's refusals, as JSON), the photo JSON,
cursor pagination (stable under inserts) and filters, read/change/delete, image files,
caption again, and another user's photos answering 404."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime

import pytest
from captioner.testing import TINY_WORDS
from PIL import Image

from photoshare import create_app
from tests.support.api_clients import ApiClient, make_account, make_key
from tests.images import jpeg_with_orientation, make_image, png_declaring_size
from tests.support.storage import stored_keys

PHOTO_FIELDS = {"id", "created_at", "filename", "format", "size_bytes", "width", "height", "caption", "ai_caption",
                "user_caption", "caption_status", "caption_error", "model_version", "alternatives", "album_ids",
                "visibility", "exif", "show_camera", "show_date_taken", "urls"}


def _error(response) -> dict:
    assert response.is_json, response.get_data(as_text=True)[:300]
    return response.get_json()["error"]


def _nothing_stored(db) -> bool:
    return db.photos.count_documents({}) == 0 and len(stored_keys(db)) == 0


# -- Upload -------------------------------------------------------------------------------

def test_upload_answers_202_with_the_photo(api, db, queue):
    response = api.upload(make_image("PNG", size=(64, 48)), "beach.png")
    assert response.status_code == 202
    photo = response.get_json()
    assert set(photo) == PHOTO_FIELDS
    assert photo["caption_status"] == "pending" and photo["caption"] is None
    assert photo["filename"] == "beach.png" and photo["format"] == "PNG"
    assert (photo["width"], photo["height"]) == (64, 48)
    assert photo["visibility"] == "private" and photo["album_ids"] == [] and photo["alternatives"] == []
    assert photo["urls"]["self"] == f"http://localhost/api/v1/photos/{photo['id']}"
    assert photo["urls"]["thumb"].endswith(f"/api/v1/photos/{photo['id']}/image?size=thumb")
    stored = db.photos.find_one()
    assert str(stored["_id"]) == photo["id"] and stored["owner_id"] == api.user["_id"]
    assert queue.job_ids == [stored["job_id"]]  # captioning queued, not waited for


def test_upload_with_caption_album_and_visibility(api, db):
    album = api.post("/api/v1/albums", json={"name": "Trips"}).get_json()
    response = api.upload(make_image(), caption="  Our   beach ", album_id=album["id"], visibility="public")
    assert response.status_code == 202
    photo = response.get_json()
    assert photo["user_caption"] == "Our beach" and photo["caption"] == "Our beach"
    assert photo["album_ids"] == [album["id"]] and photo["visibility"] == "public"


def test_upload_into_another_users_album_is_404_and_stores_nothing(api, bob_api, db):
    bobs_album = bob_api.post("/api/v1/albums", json={"name": "Bob's"}).get_json()
    response = api.upload(make_image(), album_id=bobs_album["id"])
    assert response.status_code == 404 and _error(response)["code"] == "not_found"
    assert _nothing_stored(db)


def test_upright_size_of_a_sideways_camera_photo(api):
    photo = api.upload(jpeg_with_orientation(size=(60, 30), orientation=6)).get_json()
    assert (photo["width"], photo["height"]) == (30, 60)  # as displayed, not as stored
    display = Image.open(io.BytesIO(api.get(f"/api/v1/photos/{photo['id']}/image?size=display").data))
    assert display.size == (30, 60)


def _truncated_jpeg() -> bytes:
    data = make_image("JPEG", size=(400, 300))
    return data[: len(data) // 2]


# The refusals of the web upload (tests/test_web_uploads.py), answered as JSON.
@pytest.mark.parametrize("name, content, status, code, message", [
    ("notes.jpg", b"this is not an image at all", 400, "not_an_image", "is not an image we can read"),
    ("script.png", b"<script>alert(1)</script>", 400, "not_an_image", "is not an image we can read"),
    ("half.jpg", _truncated_jpeg(), 400, "not_an_image", "is not an image we can read"),
    ("bitmap.jpg", make_image("BMP"), 415, "unsupported_format", "accepted formats are JPEG, PNG, WebP, GIF and HEIC"),
    ("tiff.png", make_image("TIFF"), 415, "unsupported_format", "accepted formats are JPEG, PNG, WebP, GIF and HEIC"),
    ("bomb.png", png_declaring_size(30000, 30000), 413, "too_many_pixels", "the limit is 4 megapixels"),
    ("empty.jpg", b"", 400, "empty", "is empty"),
    ("huge.png", make_image("PNG", size=(8, 8)) + os.urandom(2 * 1024 * 1024), 413, "too_large",
     "larger than the 2 MB limit"),
])
def test_refused_uploads_are_json_errors_and_store_nothing(api, db, queue, name, content, status, code, message):
    response = api.upload(content, name)
    assert response.status_code == status
    error = _error(response)
    assert error["code"] == code and message in error["message"] and name in error["message"]
    assert error["field"] == "images"
    assert _nothing_stored(db) and queue.count == 0


def test_missing_image_is_422(api, db):
    response = api.post("/api/v1/photos", data={"caption": "no file"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "image" in _error(response)["details"]["multipart"]
    assert _nothing_stored(db)


def test_caption_over_the_limit_is_refused_and_nothing_stays(api, db):
    response = api.upload(make_image(), caption="x" * 501)
    assert response.status_code == 400 and _error(response)["field"] == "caption" and _nothing_stored(db)


def test_caption_length_counts_after_white_space_is_collapsed(api):
    caption = "word " * 100  # 500 characters of words once the runs of spaces are one
    photo = api.upload(make_image(), caption=caption.replace(" ", "   ")).get_json()
    assert photo["user_caption"] == caption.strip()
    response = api.patch(f"/api/v1/photos/{photo['id']}", json={"caption": "  " + caption + "  "})
    assert response.status_code == 200 and response.get_json()["user_caption"] == caption.strip()


def test_request_over_the_total_limit_is_413_json(settings, db):
    app = create_app({**settings, "TESTING": True, "MAX_CONTENT_LENGTH": 50_000})
    try:
        user = make_account(db, "ada.api@example.com")
        client = ApiClient(app.test_client(), make_key(db, user), user)
        response = client.upload(make_image("PNG") + b"\0" * 60_000)
        assert response.status_code == 413
        assert _error(response)["code"] == "too_large"
        assert _nothing_stored(db)
    finally:
        app.extensions["photoshare.backends"].close()


# -- Listing ---------------------------------------------------------------------------------

def _ids(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [photo["id"] for photo in response.get_json()["items"]]


def _walk(api, url: str) -> list[str]:
    ids, cursor = [], None
    while True:
        response = api.get(url + (f"&cursor={cursor}" if cursor else ""))
        ids += _ids(response)
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            return ids


def test_list_newest_first_with_cursor_pages(api):
    uploaded = [api.upload(make_image()).get_json()["id"] for _ in range(5)]
    first = api.get("/api/v1/photos?limit=2")
    body = first.get_json()
    assert set(body) == {"items", "next_cursor"}
    assert _ids(first) == uploaded[::-1][:2] and body["next_cursor"]
    assert _walk(api, "/api/v1/photos?limit=2") == uploaded[::-1]
    last = api.get("/api/v1/photos?limit=5").get_json()
    assert last["next_cursor"] is None and len(last["items"]) == 5


def test_pagination_is_stable_under_inserts_in_upload_order(api, db):
    ids = [api.upload(make_image()).get_json()["id"] for _ in range(6)]
    # The order is the upload order (`_id`), whatever the stored times say: equal times
    # and a time set back (e.g. by a restore) change nothing.
    same = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    from bson import ObjectId
    db.photos.update_many({"_id": {"$in": [ObjectId(i) for i in ids[1:4]]}}, {"$set": {"created_at": same}})
    db.photos.update_one({"_id": ObjectId(ids[5])}, {"$set": {"created_at": datetime(2001, 1, 1, tzinfo=UTC)}})
    expected = ids[::-1]

    seen = []
    response = api.get("/api/v1/photos?limit=2")
    seen += _ids(response)
    cursor = response.get_json()["next_cursor"]
    # Photos uploaded while walking come before the position reached: no skip, no repeat.
    newcomers = [api.upload(make_image()).get_json()["id"] for _ in range(3)]
    while cursor:
        response = api.get(f"/api/v1/photos?limit=2&cursor={cursor}")
        seen += _ids(response)
        cursor = response.get_json()["next_cursor"]
    assert seen == expected
    assert not set(newcomers) & set(seen)
    assert _walk(api, "/api/v1/photos?limit=4")[:3] == newcomers[::-1]


def test_deleting_while_walking_does_not_skip(api):
    ids = [api.upload(make_image()).get_json()["id"] for _ in range(5)][::-1]
    response = api.get("/api/v1/photos?limit=2")
    assert _ids(response) == ids[:2]
    api.delete(f"/api/v1/photos/{ids[1]}")  # the last one of the page already seen
    rest = api.get(f"/api/v1/photos?limit=10&cursor={response.get_json()['next_cursor']}")
    assert _ids(rest) == ids[2:]


def test_filters_album_status_visibility_and_search(api, db, worker):
    album = api.post("/api/v1/albums", json={"name": "Trips"}).get_json()
    red = api.upload(make_image(color=(200, 40, 40)), "red.jpg", album_id=album["id"]).get_json()
    blue = api.upload(make_image(color=(20, 20, 220)), "blue.jpg", visibility="public").get_json()
    worker.work()  # both captioned, differently
    red_caption = api.get(f"/api/v1/photos/{red['id']}").get_json()["ai_caption"]
    assert red_caption not in api.get(f"/api/v1/photos/{blue['id']}").get_json()["ai_caption"]
    third = api.upload(make_image(), "sunset.jpg").get_json()

    assert _ids(api.get(f"/api/v1/photos?album_id={album['id']}")) == [red["id"]]
    assert _ids(api.get("/api/v1/photos?status=pending")) == [third["id"]]
    assert len(_ids(api.get("/api/v1/photos?status=done"))) == 2
    assert len(_ids(api.get("/api/v1/photos?visibility=private"))) == 2
    assert _ids(api.get(f"/api/v1/photos?q={red_caption.upper()}")) == [red["id"]]  # caption search, any case
    assert _ids(api.get("/api/v1/photos?q=sunset")) == [third["id"]]  # file names too
    assert _ids(api.get(f"/api/v1/photos?q={red_caption}&status=pending")) == []
    assert api.get("/api/v1/photos?q=.*").get_json()["items"] == []  # no regex injection


@pytest.mark.parametrize("query, status, code", [
    ("limit=0", 422, "validation_failed"),
    ("limit=101", 422, "validation_failed"),
    ("status=lost", 422, "validation_failed"),
    ("album_id=nope", 422, "validation_failed"),
    ("cursor=not-a-cursor", 400, "invalid_cursor"),
    ("cursor=eyJ0IjoiYSJ9", 400, "invalid_cursor"),
    ("cursor=eyJpIjoiYSJ9", 400, "invalid_cursor"),
])
def test_bad_list_parameters(api, query, status, code):
    response = api.get(f"/api/v1/photos?{query}")
    assert response.status_code == status and _error(response)["code"] == code


# -- One photo -------------------------------------------------------------------------------

def test_get_patch_delete(api, db, worker):
    photo = api.upload(make_image(color=(220, 20, 20))).get_json()
    worker.work()
    url = f"/api/v1/photos/{photo['id']}"
    got = api.get(url).get_json()
    stored = db.photos.find_one()
    ai_caption = stored["ai_caption"]
    assert got["caption_status"] == "done" and got["ai_caption"] == ai_caption and ai_caption
    assert got["caption"] == ai_caption and got["model_version"] == stored["model_version"]
    assert got["alternatives"] == stored["alternatives"] and got["alternatives"][0]["caption"] == ai_caption
    # Stored apart from the photo document (repositories.photos), not part of the API.
    assert "attention" not in got and db.photo_attention.find_one({"_id": stored["_id"]})["words"]

    trips = api.post("/api/v1/albums", json={"name": "Trips"}).get_json()
    best = api.post("/api/v1/albums", json={"name": "Best"}).get_json()
    response = api.patch(url, json={"caption": "My red square", "visibility": "public",
                                    "album_ids": [trips["id"], best["id"], trips["id"]]})
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["caption"] == "My red square" and changed["ai_caption"] == ai_caption
    assert changed["visibility"] == "public" and changed["album_ids"] == [trips["id"], best["id"]]

    cleared = api.patch(url, json={"caption": None, "album_ids": []}).get_json()
    assert cleared["user_caption"] is None and cleared["caption"] == ai_caption and cleared["album_ids"] == []
    assert cleared["visibility"] == "public"

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert _nothing_stored(db)


def test_patch_checks_everything_before_writing(api, bob_api, db):
    photo = api.upload(make_image()).get_json()
    bobs_album = bob_api.post("/api/v1/albums", json={"name": "Bob's"}).get_json()
    response = api.patch(f"/api/v1/photos/{photo['id']}", json={"caption": "new", "album_ids": [bobs_album["id"]]})
    assert response.status_code == 404
    assert db.photos.find_one()["user_caption"] is None  # nothing changed
    response = api.patch(f"/api/v1/photos/{photo['id']}", json={"visibility": "everyone"})
    assert response.status_code == 422


def test_image_sizes(api):
    photo = api.upload(make_image("PNG", size=(2000, 1000)), "big.png").get_json()
    for size, expected, mime in [("thumb", (400, 200), "image/jpeg"), ("display", (1600, 800), "image/jpeg"),
                                 ("original", (2000, 1000), "image/png")]:
        response = api.get(f"/api/v1/photos/{photo['id']}/image?size={size}")
        assert response.status_code == 200 and response.mimetype == mime
        assert Image.open(io.BytesIO(response.data)).size == expected
    default = api.get(f"/api/v1/photos/{photo['id']}/image")
    assert Image.open(io.BytesIO(default.data)).size == (1600, 800)
    # Another size is another file: its own ETag, so the display's does not match it.
    other = api.get(f"/api/v1/photos/{photo['id']}/image?size=thumb",
                    headers={"If-None-Match": default.headers["ETag"]})
    assert other.status_code == 200 and other.headers["ETag"] != default.headers["ETag"]
    # The same file again: 304, no body, and still private to the browser.
    again = api.get(f"/api/v1/photos/{photo['id']}/image", headers={"If-None-Match": default.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == default.headers["ETag"] and "private" in again.headers["Cache-Control"]
    bad = api.get(f"/api/v1/photos/{photo['id']}/image?size=huge")
    assert bad.status_code == 422 and _error(bad)["code"] == "validation_failed"


def test_recaption(api, db, worker):
    photo = api.upload(make_image()).get_json()
    url = f"/api/v1/photos/{photo['id']}/recaption"
    response = api.post(url)
    assert response.status_code == 409 and _error(response)["code"] == "conflict"  # still pending
    worker.work()
    response = api.post(url)
    assert response.status_code == 202 and response.get_json()["caption_status"] == "pending"
    worker.work()
    assert api.get(f"/api/v1/photos/{photo['id']}").get_json()["caption_status"] == "done"


def test_upload_then_caption_arrives(api, worker):
    photo = api.upload(make_image(color=(20, 200, 20))).get_json()
    worker.work()
    done = api.get(f"/api/v1/photos/{photo['id']}").get_json()
    assert done["caption_status"] == "done" and set(done["caption"].split()) <= set(TINY_WORDS)


# -- Another user's photos ----------------------------------------------------------------------

def test_another_users_photo_is_404_everywhere(api, bob_api, db):
    photo = api.upload(make_image()).get_json()
    url = f"/api/v1/photos/{photo['id']}"
    for response in [bob_api.get(url), bob_api.patch(url, json={"caption": "mine"}), bob_api.delete(url),
                     bob_api.get(url + "/image?size=original"), bob_api.post(url + "/recaption")]:
        assert response.status_code == 404, response.request.method
        assert _error(response)["code"] == "not_found"
    assert bob_api.get("/api/v1/photos").get_json()["items"] == []
    assert db.photos.find_one()["user_caption"] is None
    assert api.get(url).status_code == 200


def test_unknown_and_malformed_ids_are_404_json(api):
    for url in ["/api/v1/photos/" + "0" * 24, "/api/v1/photos/not-an-id", "/api/v1/nothing-here"]:
        response = api.get(url)
        assert response.status_code == 404 and _error(response)["code"] == "not_found"


def test_wrong_method_is_405_json(api):
    response = api.client.put("/api/v1/photos", headers={"Authorization": f"Bearer {api.key}"})
    assert response.status_code == 405 and _error(response)["code"] == "method_not_allowed"
