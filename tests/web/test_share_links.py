"""Share links /s/<token>: random tokens stored hashed; the lifecycle (make, open logged
out, password, expiry, revoke, view counter); one 404 for every failure, throttled."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from bson import ObjectId

from photoshare import create_app
from photoshare.clock import utcnow

from tests.support.sessions import Browser
from tests.support.sharing import make_link, set_visibility, text, upload_captioned

CAPTION = "a dog runs on the beach"


@pytest.fixture
def owner(user, db):
    """Ada, logged in, with one captioned private photo."""
    photo = upload_captioned(user, db, CAPTION)
    return user, photo


def test_a_link_opens_the_photo_for_a_logged_out_visitor(owner, app, db):
    ada, photo = owner
    url, token = make_link(ada, photo_id=photo["_id"])
    visitor = app.test_client()
    response = visitor.get(f"/s/{token}")
    page = text(response)
    assert response.status_code == 200
    assert f'src="/s/{token}/image/display"' in page and f'alt="{CAPTION}"' in page
    assert f'<p class="caption">{CAPTION}</p>' in page and "Shared by <span class=\"owner\">Ada</span>" in page
    # Unlisted: not indexed; a link preview with the caption and the display image.
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert f'<meta property="og:title" content="{CAPTION}">' in page
    assert f'<meta property="og:image" content="http://localhost/s/{token}/image/display">' in page
    assert f'<meta name="twitter:image:alt" content="{CAPTION}">' in page
    # Nothing else: no file name, no photo id, no e-mail, no original.
    assert "secret-beach" not in page and str(photo["_id"]) not in page and "ada@example.com" not in page
    assert f"/s/{token}/original" not in page
    image = visitor.get(f"/s/{token}/image/display")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.headers["Cache-Control"] == "public, max-age=300"
    # Making the link made the private photo unlisted (its links work, it is listed nowhere).
    assert db.photos.find_one({"_id": photo["_id"]})["visibility"] == "unlisted"


def test_tokens_are_random_long_and_stored_only_hashed(owner, db):
    ada, photo = owner
    _, first = make_link(ada, photo_id=photo["_id"])
    _, second = make_link(ada, photo_id=photo["_id"])
    assert first != second
    for token in (first, second):
        assert len(token) >= 32  # token_urlsafe(24): 192 random bits
        assert str(photo["_id"]) not in token and str(photo["_id"])[:8] not in token
    stored = list(db.share_links.find({}))
    assert len(stored) == 2
    hashes = {link["token_hash"] for link in stored}
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in (first, second)}
    dump = repr(stored)
    assert first not in dump and second not in dump  # a leaked database opens nothing


def test_view_counter_counts_page_views_and_the_owner_sees_it(owner, app, db):
    ada, photo = owner
    _, token = make_link(ada, photo_id=photo["_id"])
    visitor = app.test_client()
    for _ in range(3):
        assert visitor.get(f"/s/{token}").status_code == 200
    visitor.get(f"/s/{token}/image/display")  # images are not views
    assert db.share_links.find_one({})["views"] == 3
    listing = text(ada.client.get("/shares"))
    assert re.search(r'<td data-role="views">3</td>', listing)
    assert 'data-role="views">3</span> views' in text(ada.client.get(f"/photos/{photo['_id']}"))


def test_revoked_expired_unknown_and_wrong_tokens_are_one_404(owner, app, db):
    ada, photo = owner
    _, revoked = make_link(ada, photo_id=photo["_id"])
    _, expired = make_link(ada, photo_id=photo["_id"], expires_in_days="1")
    _, working = make_link(ada, photo_id=photo["_id"])
    link_id = db.share_links.find_one({"token_hash": hashlib.sha256(revoked.encode()).hexdigest()})["_id"]
    response = ada.post(f"/shares/{link_id}/revoke", page="/shares")
    assert response.status_code == 303
    db.share_links.update_one({"token_hash": hashlib.sha256(expired.encode()).hexdigest()},
                              {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    visitor = app.test_client()
    answers = [visitor.get(f"/s/{token}") for token in
               (revoked, expired, "x" * 32, working[:-1] + ("A" if working[-1] != "A" else "B"), "short", str(photo["_id"]))]
    assert {answer.status_code for answer in answers} == {404}
    assert len({text(answer) for answer in answers}) == 1
    assert CAPTION not in text(answers[0])
    for token in (revoked, expired):
        assert visitor.get(f"/s/{token}/image/display").status_code == 404
    assert visitor.get(f"/s/{working}").status_code == 200
    # The owner's list says which is which.
    states = {row["_id"]: row.get("revoked_at") for row in db.share_links.find({})}
    assert sum(1 for value in states.values() if value) == 1
    listing = text(ada.client.get("/shares"))
    assert listing.count('data-state="revoked"') == 1 and listing.count('data-state="expired"') == 1


def test_making_the_photo_private_turns_its_links_off(owner, app):
    ada, photo = owner
    _, token = make_link(ada, photo_id=photo["_id"])
    visitor = app.test_client()
    assert visitor.get(f"/s/{token}").status_code == 200
    assert set_visibility(ada, photo["_id"], "private").status_code == 303
    assert visitor.get(f"/s/{token}").status_code == 404
    assert visitor.get(f"/s/{token}/image/thumbnail").status_code == 404
    assert set_visibility(ada, photo["_id"], "unlisted").status_code == 303
    assert visitor.get(f"/s/{token}").status_code == 200


def test_a_password_link_shows_only_a_password_form_until_the_password_is_given(owner, app, db):
    ada, photo = owner
    _, token = make_link(ada, photo_id=photo["_id"], password="open sesame")
    assert db.share_links.find_one({})["password_hash"].startswith("$2")  # bcrypt, never the password
    visitor = Browser(app.test_client())
    page = text(visitor.client.get(f"/s/{token}"))
    assert 'name="password"' in page and CAPTION not in page and "<img" not in page and "Ada" not in page
    assert visitor.client.get(f"/s/{token}/image/display").status_code == 404
    wrong = visitor.post(f"/s/{token}", {"password": "guess"}, page=f"/s/{token}")
    assert wrong.status_code == 401 and CAPTION not in text(wrong) and "Wrong password." in text(wrong)
    assert db.share_links.find_one({})["views"] == 0
    right = visitor.post(f"/s/{token}", {"password": "open sesame"}, page=f"/s/{token}")
    assert right.status_code == 303 and right.headers["Location"] == f"/s/{token}"
    page = text(visitor.client.get(f"/s/{token}"))
    assert CAPTION in page
    image = visitor.client.get(f"/s/{token}/image/display")
    assert image.status_code == 200 and "private" in image.headers["Cache-Control"]
    # Another browser still needs it.
    assert CAPTION not in text(app.test_client().get(f"/s/{token}"))


def test_the_password_form_needs_its_csrf_token(owner, app):
    ada, photo = owner
    _, token = make_link(ada, photo_id=photo["_id"], password="open sesame")
    response = app.test_client().post(f"/s/{token}", data={"password": "open sesame"})
    assert response.status_code == 400 and CAPTION not in text(response)


@pytest.fixture
def strict_app(settings):
    app = create_app({**settings, "TESTING": True, "SHARE_NOT_FOUND_LIMIT": "3 per 10 minutes",
                      "SHARE_PASSWORD_LIMIT_PER_ADDRESS": "2 per 15 minutes"})
    yield app
    app.extensions["photoshare.backends"].close()


def test_repeated_404s_on_share_links_are_throttled_per_client(strict_app):
    client = strict_app.test_client()
    for _ in range(3):
        assert client.get(f"/s/{'x' * 32}").status_code == 404
    throttled = client.get(f"/s/{'y' * 32}")
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    other_address = strict_app.test_client()
    assert other_address.get(f"/s/{'x' * 32}", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 404


def test_wrong_passwords_are_throttled(strict_app):
    ada = Browser(strict_app.test_client())
    assert ada.signup().status_code == 303
    db = strict_app.extensions["photoshare.backends"].db
    photo = upload_captioned(ada, db, CAPTION)
    _, token = make_link(ada, photo_id=photo["_id"], password="open sesame")
    guesser = Browser(strict_app.test_client())
    for _ in range(2):
        assert guesser.post(f"/s/{token}", {"password": "nope"}, page=f"/s/{token}").status_code == 401
    blocked = guesser.post(f"/s/{token}", {"password": "open sesame"}, page=f"/s/{token}")
    assert blocked.status_code == 429 and CAPTION not in text(blocked)


def test_another_user_cannot_link_or_revoke_your_photo(owner, other_browser, db):
    ada, photo = owner
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    response = other_browser.post("/shares", {"photo_id": str(photo["_id"])}, page="/")
    assert response.status_code == 404
    _, token = make_link(ada, photo_id=photo["_id"])
    link_id = db.share_links.find_one({})["_id"]
    assert other_browser.post(f"/shares/{link_id}/revoke", page="/").status_code == 404
    assert db.share_links.find_one({})["revoked_at"] is None
    assert str(link_id) not in text(other_browser.client.get("/shares"))


@pytest.mark.parametrize("fields, message", [
    ({"expires_in_days": "0"}, "The expiry is 1 to 365 days"),
    ({"expires_in_days": "9999"}, "The expiry is 1 to 365 days"),
    ({"password": "abc"}, "A link password is 4 to 200 characters"),
])
def test_bad_link_settings_are_refused_with_a_message(owner, db, fields, message):
    ada, photo = owner
    response = ada.post("/shares", {"photo_id": str(photo["_id"]), "next": f"/photos/{photo['_id']}", **fields},
                        page=f"/photos/{photo['_id']}", follow_redirects=True)
    assert message in text(response)
    assert db.share_links.count_documents({}) == 0


def test_an_album_link_shows_the_albums_photos_and_only_those(owner, app, db):
    ada, photo = owner
    other = upload_captioned(ada, db, "a cat sits on the grass", name="cat.png", color=(20, 20, 200))
    response = ada.post("/albums", {"name": "Holidays"}, page="/albums")
    album_id = response.headers["Location"].rsplit("/", 1)[1]
    ada.post(f"/photos/{photo['_id']}/albums", {"album_id": album_id}, page=f"/photos/{photo['_id']}")
    _, token = make_link(ada, album_id=album_id)
    visitor = app.test_client()
    page = text(visitor.get(f"/s/{token}"))
    assert "Holidays" in page and f'alt="{CAPTION}"' in page and "a cat sits" not in page
    assert visitor.get(f"/s/{token}/photos/{photo['_id']}/image/thumbnail").status_code == 200
    assert visitor.get(f"/s/{token}/photos/{other['_id']}/image/thumbnail").status_code == 404
    assert visitor.get(f"/s/{token}/photos/{ObjectId()}/image/thumbnail").status_code == 404
    assert visitor.get(f"/s/{token}/image/display").status_code == 404  # an album link has no single photo
    assert db.albums.find_one({})["visibility"] == "unlisted"


def test_deleting_the_account_deletes_its_links(owner, app, db):
    ada, photo = owner
    _, token = make_link(ada, photo_id=photo["_id"])
    response = ada.post("/account/delete", {"del-password": "correct horse"}, page="/account")
    assert response.status_code == 303
    assert db.share_links.count_documents({}) == 0
    assert app.test_client().get(f"/s/{token}").status_code == 404
