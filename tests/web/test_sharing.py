"""Sharing: the visibility control on the photo page and the public share page /s/<id>.

A private photo is a 404 for everyone on the share page and its images; once the owner
makes it public, anyone (logged out, or another user) sees the display image, caption,
owner's name and date, never the original file or the owner's e-mail address.
"""

from __future__ import annotations

import re

import pytest
from bson import ObjectId

from tests.images import make_image

FILENAME = "secret-beach.png"  # the file name is not shared either


def _text(response) -> str:
    return response.get_data(as_text=True)


def _set_visibility(browser, photo_id, visibility, **kwargs):
    return browser.post(f"/photos/{photo_id}/visibility", {"visibility": visibility},
                        page=f"/photos/{photo_id}", **kwargs)


@pytest.fixture
def shared(user, other_browser, app, db, worker):
    """Ada (the owner) with one captioned, still private photo; Bob (another user) and a
    logged-out visitor."""
    assert user.upload((FILENAME, make_image("PNG"))).status_code == 303
    worker.work()
    photo = db.photos.find_one({"filename": FILENAME})
    assert photo["caption_status"] == "done" and photo["ai_caption"]
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    return user, other_browser, app.test_client(), photo["_id"]


def _share_urls(photo_id) -> list[str]:
    return [f"/s/{photo_id}", f"/s/{photo_id}/image/display", f"/s/{photo_id}/image/thumbnail"]


def _caption(db, photo_id) -> str:
    return db.photos.find_one({"_id": photo_id})["ai_caption"]


def test_private_photo_is_not_shared(shared, db):
    ada, bob, visitor, photo_id = shared
    caption = _caption(db, photo_id)
    for client in (visitor, bob.client, ada.client):  # not even the owner: the link is for public photos
        for url in _share_urls(photo_id):
            response = client.get(url)
            assert response.status_code == 404, (url, response.status_code)
            assert caption not in _text(response)


def test_public_photo_is_shown_to_anyone(shared, db):
    ada, bob, visitor, photo_id = shared
    caption = _caption(db, photo_id)
    response = _set_visibility(ada, photo_id, "public")
    assert response.status_code == 303 and response.headers["Location"] == f"/photos/{photo_id}"

    for client in (visitor, bob.client):
        response = client.get(f"/s/{photo_id}")
        page = _text(response)
        assert response.status_code == 200
        assert f'src="/s/{photo_id}/image/display"' in page
        assert f'alt="{caption}"' in page
        assert f'<p class="caption">{caption}</p>' in page
        assert "Shared by <span class=\"owner\">Ada</span>" in page
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', page)
        # Unlisted, with a link preview.
        assert '<meta name="robots" content="noindex, nofollow">' in page
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert f'<meta property="og:title" content="{caption}">' in page
        assert f'<meta property="og:description" content="{caption}">' in page
        assert f'<meta property="og:image" content="http://localhost/s/{photo_id}/image/display">' in page
        # Nothing but the shared facts: no file name, no link to the original, no inline script.
        assert FILENAME not in page and "original" not in page
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))

    for variant in ("display", "thumbnail"):
        response = visitor.get(f"/s/{photo_id}/image/{variant}")
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.data[:3] == b"\xff\xd8\xff"
        # Cached like the private images (ETag, Last-Modified), but public and briefly, so
        # that making the photo private again takes effect.
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert response.last_modified is not None
        etag = response.headers["ETag"]
        assert visitor.get(f"/s/{photo_id}/image/{variant}", headers={"If-None-Match": etag}).status_code == 304


def test_original_is_never_shared(shared, db):
    ada, bob, visitor, photo_id = shared
    _set_visibility(ada, photo_id, "public")
    assert "original" in db.photos.find_one({"_id": photo_id})["files"]
    for client in (visitor, bob.client, ada.client):
        for variant in ("original", "ORIGINAL", "thumb", "..", "files"):
            response = client.get(f"/s/{photo_id}/image/{variant}")
            assert response.status_code == 404, (variant, response.status_code)
            assert response.mimetype == "text/html"
    # The owner still has their own original on the private route.
    assert ada.client.get(f"/photos/{photo_id}/image/original").status_code == 200


def test_making_the_photo_private_again_withdraws_it(shared, db):
    ada, bob, visitor, photo_id = shared
    _set_visibility(ada, photo_id, "public")
    assert visitor.get(f"/s/{photo_id}").status_code == 200
    response = _set_visibility(ada, photo_id, "private")
    assert response.status_code == 303
    assert db.photos.find_one({"_id": photo_id})["visibility"] == "private"
    for client in (visitor, bob.client):
        for url in _share_urls(photo_id):
            assert client.get(url).status_code == 404, url


def test_private_missing_and_malformed_ids_get_the_same_404(shared):
    ada, _, visitor, photo_id = shared
    private = visitor.get(f"/s/{photo_id}")
    missing = visitor.get(f"/s/{ObjectId()}")
    malformed = visitor.get("/s/not-an-id")
    assert private.status_code == missing.status_code == malformed.status_code == 404
    assert _text(private) == _text(missing) == _text(malformed)
    assert "This photo does not exist or is not shared." in _text(private)
    images = [visitor.get(f"/s/{photo_id}/image/display"), visitor.get(f"/s/{ObjectId()}/image/display"),
              visitor.get("/s/xyz/image/display")]
    assert {response.status_code for response in images} == {404}
    assert len({_text(response) for response in images}) == 1


def test_public_page_never_shows_the_owners_email(shared, db):
    ada, bob, visitor, photo_id = shared
    _set_visibility(ada, photo_id, "public")
    for client in (visitor, bob.client):
        page = _text(client.get(f"/s/{photo_id}"))
        assert "ada@example.com" not in page and "Ada" in page
    # An owner without a name is not named by their e-mail address either.
    db.users.update_one({"email": "ada@example.com"}, {"$set": {"name": None}})
    page = _text(visitor.get(f"/s/{photo_id}"))
    assert "ada@example.com" not in page and "a Photoshare member" in page


def test_visibility_form_needs_the_csrf_token(shared, db):
    ada, _, _, photo_id = shared
    response = ada.client.post(f"/photos/{photo_id}/visibility", data={"visibility": "public"})
    assert response.status_code == 400
    assert "Form expired" in _text(response)
    assert db.photos.find_one({"_id": photo_id})["visibility"] == "private"  # uploads: private by default


@pytest.mark.parametrize("visibility", ["private", "public"])
def test_another_user_cannot_change_the_visibility(shared, db, visibility):
    ada, bob, visitor, photo_id = shared
    _set_visibility(ada, photo_id, "public")
    before = db.photos.find_one({"_id": photo_id})
    response = _set_visibility(bob, photo_id, visibility)
    assert response.status_code == 404
    assert db.photos.find_one({"_id": photo_id}) == before
    assert visitor.get(f"/s/{photo_id}").status_code == 200


@pytest.mark.parametrize("visibility", ["everyone", "", "PUBLIC", None])
def test_invalid_visibility_is_refused_and_changes_nothing(shared, db, visibility):
    ada, _, visitor, photo_id = shared
    before = db.photos.find_one({"_id": photo_id})
    data = {} if visibility is None else {"visibility": visibility}
    response = ada.post(f"/photos/{photo_id}/visibility", data, page=f"/photos/{photo_id}")
    page = _text(response)
    assert response.status_code == 400
    # The photo page again, with the message at the form and the stored choice still checked.
    assert "Visibility must be one of: private, public." in page
    assert re.search(r'<input checked id="visibility-0" name="visibility" type="radio" value="private">', page)
    assert db.photos.find_one({"_id": photo_id}) == before
    assert visitor.get(f"/s/{photo_id}").status_code == 404


def test_photo_page_offers_the_share_link_and_the_grid_marks_public_photos(shared):
    ada, _, _, photo_id = shared
    photo_page = _text(ada.client.get(f"/photos/{photo_id}"))
    assert f'action="/photos/{photo_id}/visibility"' in photo_page
    assert "Public (anyone with the link)" in photo_page
    assert "data-copy-from" not in photo_page and f"/s/{photo_id}" not in photo_page
    assert 'class="badge-public"' not in _text(ada.client.get("/"))

    response = _set_visibility(ada, photo_id, "public", follow_redirects=True)
    photo_page = _text(response)
    assert "anyone with its link can see it" in photo_page
    assert 'value="public" checked' in photo_page or 'checked id="visibility-1"' in photo_page
    assert f'id="share-url" value="http://localhost/s/{photo_id}" readonly' in photo_page
    assert 'data-copy-from="share-url"' in photo_page
    assert 'class="badge-public"' in _text(ada.client.get("/"))
    # The copy button is wired in app.js (the CSP allows no inline script).
    script = ada.client.get("/static/app.js")
    assert "data-copy-from" in _text(script)
    script.close()
