"""The web upload's JSON mode (the dashboard's XHR contract), exact duplicates (web and
API, one service rule), the per-account upload throttle, and anonymous uploads refused
before their body is read (on a real HTTP server)."""

from __future__ import annotations

import io
import socket
import time

import pytest
from bson import ObjectId

from photoshare import create_app
from tests.images import make_image
from tests.support.api_clients import ApiClient, make_key
from tests.support.sessions import Browser
from tests.support.common import serving
from tests.support.storage import stored_keys

JSON = {"Accept": "application/json"}


def upload_json(browser, *files, keep_both: bool = False, **kwargs):
    data = {"images": [(io.BytesIO(content), name) for name, content in files]}
    if keep_both:
        data["keep_both"] = "1"
    return browser.post("/upload", data, page="/", content_type="multipart/form-data", headers=JSON, **kwargs)


def _state(db, queue):
    return db.photos.count_documents({}), stored_keys(db), queue.count


# -- JSON mode --------------------------------------------------------------------------

def test_json_mode_answers_the_agreed_shape(user, db, queue):
    response = upload_json(user, ("one.jpg", make_image(color=(1, 2, 3))), ("notes.jpg", b"just text"))
    assert response.status_code == 201 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"photos", "rejected", "queued"} and body["queued"] is True
    [photo] = body["photos"]
    assert set(photo) == {"id", "filename", "url", "status_url", "thumbnail_url"}
    assert photo["filename"] == "one.jpg" and db.photos.find_one({"_id": ObjectId(photo["id"])})
    assert body["rejected"] == [{"filename": "notes.jpg", "code": "not_an_image",
                                 "message": body["rejected"][0]["message"]}]
    assert "not an image we can read" in body["rejected"][0]["message"]
    # The links work for the owner: the page, the status the grid polls, the thumbnail.
    assert user.client.get(photo["url"]).status_code == 200
    assert user.client.get(photo["status_url"]).get_json()["caption_status"] == "pending"
    thumbnail = user.client.get(photo["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert queue.count == 1


def test_json_mode_with_nothing_stored_is_a_4xx_of_the_same_shape(user, db, queue):
    response = upload_json(user, ("a.jpg", b""), ("b.jpg", b"text"))
    assert response.status_code == 400
    body = response.get_json()
    assert body["photos"] == [] and body["queued"] is False
    assert [r["code"] for r in body["rejected"]] == ["empty", "not_an_image"]
    assert _state(db, queue) == (0, set(), 0)


@pytest.mark.parametrize("case, status, code", [
    ("no file", 400, "invalid"),
    ("no csrf token", 400, "csrf_failed"),
])
def test_json_mode_errors_of_the_whole_request_are_code_and_message(user, db, case, status, code):
    if case == "no file":
        response = user.post("/upload", {}, page="/", content_type="multipart/form-data", headers=JSON)
    else:
        data = {"images": [(io.BytesIO(make_image()), "a.jpg")], "csrf_token": ""}
        response = user.client.post("/upload", data=data, content_type="multipart/form-data", headers=JSON)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "message"} and body["code"] == code and body["message"]
    assert db.photos.count_documents({}) == 0


def test_anonymous_upload_is_401_json_or_a_login_redirect(browser, db):
    data = {"images": [(io.BytesIO(make_image()), "a.jpg")]}
    response = browser.post("/upload", data, page="/login", content_type="multipart/form-data", headers=JSON)
    assert response.status_code == 401
    assert response.get_json() == {"code": "login_required", "message": "Log in to upload photos."}
    data = {"images": [(io.BytesIO(make_image()), "a.jpg")]}
    response = browser.post("/upload", data, page="/login", content_type="multipart/form-data")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.photos.count_documents({}) == 0


# -- Exact duplicates ---------------------------------------------------------------------

def test_the_same_bytes_again_are_409_with_the_existing_photo(user, db, queue):
    image = make_image(color=(9, 99, 199))
    first = upload_json(user, ("first.jpg", image)).get_json()["photos"][0]
    before = _state(db, queue)
    response = upload_json(user, ("again.jpg", image))
    assert response.status_code == 409
    body = response.get_json()
    assert body["photos"] == [] and body["queued"] is False
    assert body["rejected"] == [{"filename": "again.jpg", "code": "duplicate", "existing_id": first["id"],
                                 "message": "again.jpg is already in your library (as first.jpg)."}]
    assert _state(db, queue) == before  # nothing stored, nothing queued
    assert db.photos.find_one({"_id": ObjectId(first["id"])})["sha256"]


def test_keep_both_stores_it_anyway(user, db):
    image = make_image(color=(9, 99, 199))
    assert upload_json(user, ("first.jpg", image)).status_code == 201
    response = upload_json(user, ("again.jpg", image), keep_both=True)
    assert response.status_code == 201 and response.get_json()["rejected"] == []
    assert db.photos.count_documents({}) == 2


def test_a_duplicate_among_new_files_and_within_one_request(user, db):
    old = make_image(color=(1, 1, 1))
    existing = upload_json(user, ("old.jpg", old)).get_json()["photos"][0]["id"]
    new = make_image(color=(250, 250, 250))
    response = upload_json(user, ("new.jpg", new), ("old-again.jpg", old))
    assert response.status_code == 201
    body = response.get_json()
    assert [p["filename"] for p in body["photos"]] == ["new.jpg"]
    assert [(r["code"], r["existing_id"]) for r in body["rejected"]] == [("duplicate", existing)]
    # The same file twice in one request: the second is the first's duplicate.
    response = upload_json(user, ("twin-1.png", make_image("PNG")), ("twin-2.png", make_image("PNG")))
    twin = response.get_json()
    assert twin["rejected"][0]["existing_id"] == twin["photos"][0]["id"]


def test_the_html_form_reports_a_duplicate(user, db):
    image = make_image(color=(5, 6, 7))
    assert user.upload(("first.jpg", image), keep_both=False).status_code == 303
    response = user.upload(("again.jpg", image), keep_both=False)
    assert response.status_code == 409
    assert "again.jpg is already in your library (as first.jpg)." in response.get_data(as_text=True)
    assert db.photos.count_documents({}) == 1


def test_duplicates_are_per_owner_and_older_photos_have_no_hash(user, other_browser, db):
    image = make_image(color=(70, 80, 90))
    assert upload_json(user, ("mine.jpg", image)).status_code == 201
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    assert upload_json(other_browser, ("bobs.jpg", image)).status_code == 201  # not Ada's business
    # Photos stored before uploads were hashed have no sha256 (no backfill): never duplicates.
    db.photos.update_many({}, {"$unset": {"sha256": ""}})
    assert upload_json(user, ("mine-again.jpg", image)).status_code == 201


def test_the_api_answers_409_duplicate_with_the_existing_id(api, db):
    image = make_image(color=(33, 66, 99))
    first = api.upload(image, "first.jpg", keep_both="false")
    assert first.status_code == 202
    response = api.upload(image, "again.jpg", keep_both="false")
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"]["code"] == "duplicate" and body["existing_id"] == first.get_json()["id"]
    assert db.photos.count_documents({}) == 1
    assert api.upload(image, "again.jpg", keep_both="true").status_code == 202
    assert db.photos.count_documents({}) == 2


# -- Throttle -------------------------------------------------------------------------------

def test_web_uploads_are_throttled_per_account(settings, db):
    app = create_app({**settings, "TESTING": True, "UPLOAD_LIMIT_PER_ACCOUNT": "2 per minute"})
    try:
        ada, bob = Browser(app.test_client()), Browser(app.test_client())
        assert ada.signup().status_code == 303
        assert bob.signup(email="bob@example.com", name="Bob").status_code == 303
        for n in range(2):
            assert upload_json(ada, (f"{n}.jpg", make_image()), keep_both=True).status_code == 201
        response = upload_json(ada, ("3.jpg", make_image()), keep_both=True)
        assert response.status_code == 429
        body = response.get_json()
        assert body["code"] == "too_many_requests" and "Too many uploads" in body["message"]
        page = ada.upload(("4.jpg", make_image()))
        assert page.status_code == 429 and "Too many uploads" in page.get_data(as_text=True)
        # Another account is not held up by Ada's uploads.
        assert upload_json(bob, ("b.jpg", make_image())).status_code == 201
        assert db.photos.count_documents({}) == 3
    finally:
        app.extensions["photoshare.backends"].close()


def test_the_default_throttle_lets_100_photos_through(settings):
    # One request per photo from the dashboard: 100 photos must fit in the default window.
    from limits import parse

    limit = parse(settings["UPLOAD_LIMIT_PER_ACCOUNT"])
    assert limit.amount >= 100 and limit.get_expiry() <= 3600


# -- Refused before the body is read (a real HTTP server) ---------------------------------------

@pytest.fixture
def http_server(app):
    with serving(app) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("accept, status", [("application/json", b" 401 "), ("text/html", b" 302 ")])
def test_anonymous_upload_is_answered_before_its_body_arrives(http_server, db, accept, status):
    # Headers announcing 50 MB, and not one byte of body: the answer comes at once.
    with socket.create_connection(("127.0.0.1", http_server), timeout=10) as conn:
        conn.sendall((f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
                      "Content-Type: multipart/form-data; boundary=xyz\r\n"
                      f"Content-Length: {50 * 1024 * 1024}\r\n\r\n").encode())
        started = time.monotonic()
        head = conn.recv(4096)
        elapsed = time.monotonic() - started
    assert head.startswith(b"HTTP/1.1") and status in head.split(b"\r\n")[0], head[:200]
    assert elapsed < 5
    assert db.photos.count_documents({}) == 0
