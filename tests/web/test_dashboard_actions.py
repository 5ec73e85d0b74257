"""The dashboard's and photo page's server side: bulk actions of the select mode, the
photo page's inline caption editing (JSON answers), revert to the AI caption, the beam
alternatives offered without the shown caption, and the attention words of "Why this
caption"."""

from __future__ import annotations

import json
import re

from photoshare.repositories import photos as photo_repo
from photoshare.services import bulk

from tests.images import make_image
from tests.support.sharing import text, upload_captioned

ALTERNATIVES = [{"caption": "a dog on the beach", "score": -1.0}, {"caption": "a dog in the sand", "score": -2.0},
                {"caption": "a brown dog running", "score": -3.0}]
ATTENTION = [{"word": word, "weights": [[round(0.01 * (r * 7 + c), 2) for c in range(7)] for r in range(7)]}
             for word in ("a", "dog", "on", "the", "beach")]


def _upload(user, db, name):
    assert user.upload((name, make_image("PNG"))).status_code == 303
    return db.photos.find_one({"filename": name})


def _captioned(user, db, name="dog.png"):
    """A photo done by the real state machine, with alternatives and attention maps."""
    assert user.upload((name, make_image("PNG"))).status_code == 303
    photo = db.photos.find_one({"filename": name})
    assert photo_repo.claim(db, photo["_id"], photo["job_id"], "test")
    assert photo_repo.complete(db, photo["_id"], photo["job_id"], {
        "ai_caption": ALTERNATIVES[0]["caption"], "alternatives": ALTERNATIVES, "attention": list(ATTENTION),
        "model_version": "t"})
    return db.photos.find_one({"_id": photo["_id"]})


def _bulk(user, data):
    return user.post("/photos/bulk", data, page="/")


def test_bulk_visibility_and_album_change_only_the_selected_photos(user, db):
    one, two, three = (_upload(user, db, f"p{i}.png") for i in range(3))
    response = _bulk(user, {"action": "visibility", "visibility": "public",
                            "photo_ids": [str(one["_id"]), str(two["_id"])]})
    assert response.status_code == 303
    assert [db.photos.find_one({"_id": p["_id"]}).get("visibility") for p in (one, two)] == ["public", "public"]
    assert db.photos.find_one({"_id": three["_id"]}).get("visibility") in (None, "private")
    assert "Changed who can see 2 photos." in text(user.client.get("/"))

    assert user.post("/albums", {"name": "Summer"}, page="/albums").status_code == 303
    album = db.albums.find_one({"name": "Summer"})
    assert _bulk(user, {"action": "album", "album_id": str(album["_id"]),
                        "photo_ids": [str(two["_id"]), str(three["_id"])]}).status_code == 303
    assert [album["_id"] in (db.photos.find_one({"_id": p["_id"]}).get("album_ids") or [])
            for p in (one, two, three)] == [False, True, True]


def test_bulk_delete_removes_the_photos_and_their_files(user, db):
    keep, gone = _upload(user, db, "keep.png"), _upload(user, db, "gone.png")
    assert _bulk(user, {"action": "delete", "photo_ids": [str(gone["_id"])]}).status_code == 303
    assert db.photos.find_one({"_id": gone["_id"]}) is None and db.photos.find_one({"_id": keep["_id"]})
    assert "Deleted 1 photo." in text(user.client.get("/"))


def test_bulk_skips_another_users_photos(user, db, other_browser):
    mine = _upload(user, db, "mine.png")
    assert other_browser.signup(email="bob@example.com").status_code == 303
    assert other_browser.upload(("bob.png", make_image("PNG"))).status_code == 303
    bobs = db.photos.find_one({"filename": "bob.png"})
    assert _bulk(user, {"action": "delete", "photo_ids": [str(bobs["_id"]), str(mine["_id"])]}).status_code == 303
    assert db.photos.find_one({"_id": bobs["_id"]}) is not None  # untouched
    assert db.photos.find_one({"_id": mine["_id"]}) is None
    assert "1 of the selected photos were skipped" in text(user.client.get("/"))


def test_bulk_refuses_bad_input_without_changing_anything(user, db):
    photo = _upload(user, db, "p.png")
    ids = [str(photo["_id"])]
    cases = [({"action": "explode", "photo_ids": ids}, "Choose what to do"),
             ({"action": "delete"}, "Select at least one photo."),
             ({"action": "delete", "photo_ids": ids + ["not-an-id"]}, "not valid"),
             ({"action": "visibility", "visibility": "everyone", "photo_ids": ids}, "Choose private, unlisted or public."),
             ({"action": "delete", "photo_ids": [f"{i:024x}" for i in range(bulk.MAX_SELECTED + 1)]}, "at most")]
    for data, message in cases:
        assert _bulk(user, data).status_code == 303
        assert message in text(user.client.get("/")), data
    assert db.photos.find_one({"_id": photo["_id"]}) is not None
    # Another user's (or no) album: 404 before anything changes.
    assert _bulk(user, {"action": "album", "album_id": "0" * 24, "photo_ids": ids}).status_code == 404
    # Without the CSRF token: refused.
    assert user.client.post("/photos/bulk", data={"action": "delete", "photo_ids": ids}).status_code == 400
    assert db.photos.find_one({"_id": photo["_id"]}) is not None


def test_inline_caption_edit_revert_and_errors_answer_json(user, db):
    photo = _captioned(user, db)
    url = f"/photos/{photo['_id']}"
    token = user.token(url)
    headers = {"Accept": "application/json"}
    saved = user.client.post(url + "/caption", data={"caption": "Rex at noon", "csrf_token": token}, headers=headers)
    assert saved.status_code == 200
    assert saved.get_json() == {"caption": "Rex at noon", "ai_caption": ALTERNATIVES[0]["caption"],
                                "user_caption": "Rex at noon"}
    too_long = user.client.post(url + "/caption", data={"caption": "x" * 501, "csrf_token": token}, headers=headers)
    # The shape photo.js reads: code and message at the top level.
    assert too_long.status_code == 400 and set(too_long.get_json()) == {"code", "message"}
    assert too_long.get_json()["message"]
    assert db.photos.find_one({"_id": photo["_id"]})["user_caption"] == "Rex at noon"  # unchanged
    reverted = user.client.post(url + "/caption", data={"caption": "", "csrf_token": token}, headers=headers)
    assert reverted.get_json()["caption"] == ALTERNATIVES[0]["caption"]
    assert db.photos.find_one({"_id": photo["_id"]})["user_caption"] is None


def _alternative_buttons(page: str) -> dict[str, bool]:
    """Each offered alternative -> whether it is shown (not hidden)."""
    forms = re.findall(r'<form [^>]*data-role="alternative"( hidden)?>.*?name="caption" value="([^"]*)"', page, re.S)
    return {caption: not hidden for hidden, caption in forms}


def test_photo_page_offers_alternatives_without_the_shown_caption(user, db):
    photo = _captioned(user, db)
    url = f"/photos/{photo['_id']}"
    page = text(user.client.get(url))
    assert _alternative_buttons(page) == {"a dog on the beach": False, "a dog in the sand": True,
                                          "a brown dog running": True}
    assert 'data-role="revert-form"' in page and re.search(r'data-role="revert-form"[^>]*hidden', page)
    user.post(url + "/caption", {"caption": "a dog in the sand"}, page=url)
    page = text(user.client.get(url))
    assert _alternative_buttons(page) == {"a dog on the beach": True, "a dog in the sand": False,
                                          "a brown dog running": True}
    assert not re.search(r'data-role="revert-form"[^>]*hidden', page)


def test_photo_page_lists_the_attention_words_with_their_maps(user, db):
    photo = _captioned(user, db)
    page = text(user.client.get(f"/photos/{photo['_id']}"))
    words = re.findall(r"class=\"btn attention-word\" data-weights='([^']*)'>([^<]*)</button>", page)
    assert [word for _, word in words] == ["a", "dog", "on", "the", "beach"]
    assert json.loads(words[1][0].replace("&#34;", '"')) == ATTENTION[1]["weights"]
    assert "Why this caption" in page


def test_photo_page_without_attention_has_no_why_section(user, db):
    photo = upload_captioned(user, db, "Plain caption")
    assert "Why this caption" not in text(user.client.get(f"/photos/{photo['_id']}"))


def _tile_ids(page: str) -> list[str]:
    return re.findall(r'<li class="tile" data-photo-id="([0-9a-f]{24})"', page)


def _more_url(page: str) -> str | None:
    match = re.search(r'data-(?:role="more-button" data-url|role="more-url" href)="([^"]+)"', page)
    return match.group(1).replace("&amp;", "&") if match else None


def test_infinite_scroll_reads_older_tiles_by_cursor(user, db, app):
    app.config["PHOTOS_PER_PAGE"] = 2
    ids = [str(_upload(user, db, f"p{i}.png")["_id"]) for i in range(5)][::-1]  # newest first
    first = text(user.client.get("/"))
    seen, url = _tile_ids(first), _more_url(first)
    assert seen == ids[:2] and url.startswith("/photos/grid?cursor=")
    while url:
        fragment = text(user.client.get(url))
        seen += _tile_ids(fragment)
        url = _more_url(fragment)
    assert seen == ids  # each once, in order, and the last fragment has no "more"
    assert user.client.get("/photos/grid?cursor=not-a-cursor").status_code == 400


def test_album_grid_pages_by_cursor_and_only_the_owners_album(user, db, app, other_browser):
    app.config["PHOTOS_PER_PAGE"] = 1
    photos = [_upload(user, db, f"p{i}.png") for i in range(3)]
    assert user.post("/albums", {"name": "Trip"}, page="/albums").status_code == 303
    album = db.albums.find_one({"name": "Trip"})
    assert _bulk(user, {"action": "album", "album_id": str(album["_id"]),
                        "photo_ids": [str(photos[0]["_id"]), str(photos[2]["_id"])]}).status_code == 303
    url = _more_url(text(user.client.get(f"/albums/{album['_id']}")))
    assert f"album={album['_id']}" in url
    assert _tile_ids(text(user.client.get(url))) == [str(photos[0]["_id"])]
    assert other_browser.signup(email="bob@example.com").status_code == 303
    assert other_browser.client.get(url).status_code == 404  # not Bob's album


def test_share_dialog_makes_a_link_as_json(user, db, other_browser):
    photo = _upload(user, db, "share.png")
    url = f"/photos/{photo['_id']}"
    token, headers = user.token(url), {"Accept": "application/json"}
    made = user.client.post("/shares", data={"csrf_token": token, "photo_id": str(photo["_id"]),
                                             "expires_in_days": "7", "password": ""}, headers=headers)
    assert made.status_code == 201
    body = made.get_json()
    assert body["url"].startswith("http://localhost/s/") and str(photo["_id"]) not in body["url"]
    assert body["link"]["state"] == "active" and body["link"]["expires_at"] and body["link"]["views"] == 0
    assert db.photos.find_one({"_id": photo["_id"]})["visibility"] == "unlisted"  # shared: no longer private
    assert user.client.get(body["url"].replace("http://localhost", "")).status_code == 200
    refused = user.client.post("/shares", data={"csrf_token": token, "photo_id": str(photo["_id"]),
                                                "expires_in_days": "9999"}, headers=headers)
    assert refused.status_code == 400 and set(refused.get_json()) == {"code", "message"}
    assert refused.get_json()["message"]
    assert db.share_links.count_documents({}) == 1
    assert other_browser.signup(email="bob@example.com").status_code == 303
    foreign = other_browser.client.post("/shares", data={"csrf_token": other_browser.token("/"),
                                                         "photo_id": str(photo["_id"])}, headers=headers)
    assert foreign.status_code == 404 and db.share_links.count_documents({}) == 1
