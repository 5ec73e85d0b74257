"""Authorisation: user B gets 404 (not 403) for every page and action on user A's photos
and albums, and A's data is untouched afterwards."""

from __future__ import annotations

import pytest

from tests.support.sessions import Browser
from tests.images import make_image
from tests.support.storage import stored_keys

# (method, url template); {photo} and {album} are A's, {b_photo} and {b_album} are B's own.
PAGES_AND_ACTIONS = [
    ("GET", "/photos/{photo}"),
    ("GET", "/photos/{photo}/status"),
    ("GET", "/photos/{photo}/image/thumbnail"),
    ("GET", "/photos/{photo}/image/display"),
    ("GET", "/photos/{photo}/image/original"),
    ("POST", "/photos/{photo}/caption"),
    ("POST", "/photos/{photo}/visibility"),
    ("POST", "/photos/{photo}/recaption"),
    ("POST", "/photos/{photo}/delete"),
    ("POST", "/photos/{photo}/albums"),                      # A's photo into A's album
    ("POST", "/photos/{photo}/albums/{album}/remove"),
    ("GET", "/albums/{album}"),
    ("GET", "/albums/{album}?page=2"),
    ("POST", "/albums/{album}/rename"),
    ("POST", "/albums/{album}/delete"),
    # B's own objects combined with A's: still 404, and nothing changes.
    ("POST", "/photos/{b_photo}/albums"),                    # B's photo into A's album
    ("POST", "/photos/{b_photo}/albums/{album}/remove"),
    ("POST", "/photos/{photo}/albums/{b_album}/remove"),
]


@pytest.fixture
def two_users(user, other_browser, db, worker):
    """A (user) with a captioned photo in an album; B (other_browser) with their own."""
    assert user.upload(("a.png", make_image("PNG"))).status_code == 303
    photo = db.photos.find_one()
    user.post("/albums", {"name": "A's album"}, page="/albums")
    album = db.albums.find_one()
    user.post(f"/photos/{photo['_id']}/albums", {"album_id": str(album["_id"])}, page="/albums")
    worker.work()  # "caption again" needs a finished caption

    other_browser.signup(email="bob@example.com", name="Bob")
    other_browser.upload(("b.png", make_image("PNG")))
    other_browser.post("/albums", {"name": "B's album"}, page="/albums")
    owner_a = db.users.find_one({"email": "ada@example.com"})["_id"]
    b_photo = db.photos.find_one({"owner_id": {"$ne": owner_a}})
    b_album = db.albums.find_one({"owner_id": {"$ne": owner_a}})
    ids = {"photo": photo["_id"], "album": album["_id"], "b_photo": b_photo["_id"], "b_album": b_album["_id"]}
    return user, other_browser, ids


def _snapshot(db, ids):
    photo = db.photos.find_one({"_id": ids["photo"]})
    album = db.albums.find_one({"_id": ids["album"]})
    b_photo = db.photos.find_one({"_id": ids["b_photo"]})
    return photo, album, b_photo, len(stored_keys(db))


@pytest.mark.parametrize("method, template", PAGES_AND_ACTIONS)
def test_other_users_objects_are_404(two_users, db, method, template):
    alice, bob, ids = two_users
    url = template.format(**ids)
    before = _snapshot(db, ids)
    if method == "GET":
        response = bob.client.get(url)
    else:
        data = {"caption": "pwned", "name": "pwned", "album_id": str(ids["album"]), "visibility": "public"}
        response = bob.post(url, data, page="/albums")
    assert response.status_code == 404, (url, response.status_code)
    assert "Not found" in response.get_data(as_text=True) or response.is_json
    assert _snapshot(db, ids) == before
    # And A still sees everything.
    assert alice.client.get(f"/photos/{ids['photo']}").status_code == 200


def test_other_users_objects_are_absent_from_listings_and_search(two_users):
    alice, bob, ids = two_users
    for url in ("/", "/albums", "/?q=picture"):
        page = bob.client.get(url).get_data(as_text=True)
        assert str(ids["photo"]) not in page and str(ids["album"]) not in page and "A&#39;s album" not in page
    assert "B&#39;s album" in bob.client.get("/albums").get_data(as_text=True)


def test_status_404_is_json(two_users):
    _, bob, ids = two_users
    response = bob.client.get(f"/photos/{ids['photo']}/status")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "No such photo."}}


def test_logged_out_visitors_are_sent_to_login(two_users, app, db):
    _, _, ids = two_users
    visitor = Browser(app.test_client())
    before = _snapshot(db, ids)
    for method, template in PAGES_AND_ACTIONS:
        url = template.format(**ids)
        if method == "GET":
            response = visitor.client.get(url)
        else:
            # With a valid CSRF token of the visitor's own session: only the login is missing.
            data = {"caption": "pwned", "name": "pwned", "album_id": str(ids["album"]), "visibility": "public"}
            response = visitor.post(url, data)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)
        # Without a token the form is refused before anything else.
        if method == "POST":
            assert visitor.client.post(url, data={"caption": "pwned"}).status_code == 400
    assert _snapshot(db, ids) == before
