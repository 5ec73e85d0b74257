"""Who sees what: anonymous visitor / another user / the owner × private / unlisted /
public × page / image bytes / listings / API. The expected answer of every cell is
written out below, and every cell is requested."""

from __future__ import annotations

import pytest

from tests.support.api_clients import ApiClient, make_key
from tests.support.sharing import make_link, set_visibility, text, upload_captioned

CAPTION = "a brown dog jumps over a log"
VIEWERS = ("anonymous", "other", "owner")

# Expected status per (visibility, surface) for viewers who are not the owner; the
# owner's own pages and API always answer 200, the owner sees share and public pages
# as anyone does.
EXPECTED = {
    "private": {"share page": 404, "share image": 404, "public page": 404, "public image": 404,
                "explore": False, "profile": False},
    "unlisted": {"share page": 200, "share image": 200, "public page": 404, "public image": 404,
                 "explore": False, "profile": False},
    "public": {"share page": 200, "share image": 200, "public page": 200, "public image": 200,
               "explore": True, "profile": True},
}


@pytest.fixture
def world(user, other_browser, app, db):
    ada = user
    assert ada.post("/account/handle", {"handle": "ada"}, page="/account").status_code == 303
    photo = upload_captioned(ada, db, CAPTION)
    _, token = make_link(ada, photo_id=photo["_id"])
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    ada_doc = db.users.find_one({"email": "ada@example.com"})
    bob_doc = db.users.find_one({"email": "bob@example.com"})
    clients = {"anonymous": app.test_client(), "other": other_browser.client, "owner": ada.client}
    apis = {"anonymous": ApiClient(app.test_client(), None, None),
            "other": ApiClient(app.test_client(), make_key(db, bob_doc), bob_doc),
            "owner": ApiClient(app.test_client(), make_key(db, ada_doc), ada_doc)}
    return ada, photo["_id"], token, clients, apis


@pytest.mark.parametrize("visibility", ["private", "unlisted", "public"])
def test_visibility_matrix(world, visibility):
    ada, photo_id, token, clients, apis = world
    assert set_visibility(ada, photo_id, visibility).status_code == 303
    expected = EXPECTED[visibility]
    for viewer in VIEWERS:
        client, api = clients[viewer], apis[viewer]
        cells = {
            "share page": client.get(f"/s/{token}").status_code,
            "share image": client.get(f"/s/{token}/image/display").status_code,
            "public page": client.get(f"/p/{photo_id}").status_code,
            "public image": client.get(f"/p/{photo_id}/image/thumbnail").status_code,
            "explore": str(photo_id) in text(client.get("/explore")),
            "profile": str(photo_id) in text(client.get("/u/ada")),
        }
        assert cells == expected, (viewer, visibility, cells)
        owner_page = client.get(f"/photos/{photo_id}")
        owner_image = client.get(f"/photos/{photo_id}/image/display")
        api_photo = api.get(f"/api/v1/photos/{photo_id}")
        api_image = api.get(f"/api/v1/photos/{photo_id}/image?size=original")
        if viewer == "owner":
            assert (owner_page.status_code, owner_image.status_code) == (200, 200)
            assert (api_photo.status_code, api_image.status_code) == (200, 200)
            assert api_photo.get_json()["visibility"] == visibility
        else:
            # The owner's own pages: a login redirect or a 404, never the photo.
            assert owner_page.status_code in (302, 404) and CAPTION not in text(owner_page)
            assert owner_image.status_code in (302, 404) and owner_image.mimetype != "image/jpeg"
            assert api_photo.status_code == api_image.status_code == (401 if viewer == "anonymous" else 404)
        # Whatever the cell, a visible page never shows the e-mail address.
        for url in (f"/s/{token}", f"/p/{photo_id}", "/u/ada", "/explore"):
            assert "ada@example.com" not in text(client.get(url)) or viewer == "owner"


def test_profiles_show_public_albums_only_and_unknown_handles_are_404(world, app, db):
    ada, photo_id, _, clients, _ = world
    public_id = ada.post("/albums", {"name": "Open album"}, page="/albums").headers["Location"].rsplit("/", 1)[1]
    hidden_id = ada.post("/albums", {"name": "Closed album"}, page="/albums").headers["Location"].rsplit("/", 1)[1]
    ada.post(f"/photos/{photo_id}/albums", {"album_id": public_id}, page=f"/photos/{photo_id}")
    assert ada.post(f"/albums/{public_id}/visibility", {"visibility": "public"},
                    page=f"/albums/{public_id}").status_code == 303
    visitor = clients["anonymous"]
    profile = text(visitor.get("/u/ADA"))  # handles ignore case
    assert "Open album" in profile and "Closed album" not in profile
    album_page = visitor.get(f"/a/{public_id}")
    assert album_page.status_code == 200 and f'alt="{CAPTION}"' in text(album_page)
    # The photo itself is unlisted: it shows in the public album, not on the profile's photo list.
    assert visitor.get(f"/a/{public_id}/photos/{photo_id}/image/thumbnail").status_code == 200
    assert visitor.get(f"/a/{hidden_id}").status_code == 404
    assert visitor.get(f"/a/{hidden_id}/photos/{photo_id}/image/thumbnail").status_code == 404
    assert visitor.get("/u/nobody_here").status_code == 404
    assert visitor.get("/u/ada").status_code == 200


def test_handles_are_unique_and_checked(world, other_browser, db):
    response = other_browser.post("/account/handle", {"handle": "Ada"}, page="/account", follow_redirects=True)
    assert "The handle “ada” is taken" in text(response)
    response = other_browser.post("/account/handle", {"handle": "x!"}, page="/account", follow_redirects=True)
    assert "A handle is 3 to 30 letters" in text(response)
    response = other_browser.post("/account/handle", {"handle": "explore"}, page="/account", follow_redirects=True)
    assert "is reserved" in text(response)
    assert "handle" not in db.users.find_one({"email": "bob@example.com"})
    assert other_browser.post("/account/handle", {"handle": "bob_b"}, page="/account").status_code == 303
    assert db.users.find_one({"email": "bob@example.com"})["handle"] == "bob_b"


def test_a_handle_can_be_chosen_at_signup(client, app, db):
    from tests.support.sessions import Browser

    first = Browser(client)
    response = first.post("/signup", {"email": "cy@example.com", "password": "correct horse",
                                      "confirm": "correct horse", "name": "Cy", "handle": "@Cy_Photos"},
                          page="/signup")
    assert response.status_code == 303
    assert db.users.find_one({"email": "cy@example.com"})["handle"] == "cy_photos"
    second = Browser(app.test_client())
    response = second.post("/signup", {"email": "dee@example.com", "password": "correct horse",
                                       "confirm": "correct horse", "handle": "cy_photos"}, page="/signup")
    assert response.status_code == 400 and "The handle “cy_photos” is taken" in text(response)
    assert db.users.find_one({"email": "dee@example.com"}) is None
