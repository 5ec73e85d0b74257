"""Helpers of the sharing and discovery tests: photos with a caption, share links made
through the website, and the share link out of the page that shows it once."""

from __future__ import annotations

import re

from photoshare.repositories import photos as photo_repo

from tests.images import make_image

SHARE_URL_RE = re.compile(r'id="share-url" value="(http://localhost/s/([A-Za-z0-9_-]+))"')


def text(response) -> str:
    return response.get_data(as_text=True)


def upload_captioned(browser, db, caption: str, *, name: str = "secret-beach.png", content: bytes | None = None,
                     color=(200, 40, 40)) -> dict:
    """Upload through the website, then give the photo its AI caption through the real
    state machine (claim, complete), as the worker does."""
    response = browser.upload((name, content or make_image("PNG", color=color)))
    assert response.status_code == 303, text(response)
    photo = db.photos.find_one({"filename": name}, sort=[("_id", -1)])
    assert photo_repo.claim(db, photo["_id"], photo["job_id"], "test")
    assert photo_repo.complete(db, photo["_id"], photo["job_id"], {"ai_caption": caption, "model_version": "t"})
    return db.photos.find_one({"_id": photo["_id"]})


def make_link(browser, *, photo_id=None, album_id=None, **fields) -> tuple[str, str]:
    """Make a share link on the website; (full URL, token) as the page shows it once."""
    data = {"photo_id": str(photo_id or ""), "album_id": str(album_id or ""), **fields}
    page = f"/photos/{photo_id}" if photo_id else f"/albums/{album_id}"
    response = browser.post("/shares", data, page=page)
    assert response.status_code == 200, text(response)
    match = SHARE_URL_RE.search(text(response))
    assert match, text(response)
    return match.group(1), match.group(2)


def set_visibility(browser, photo_id, visibility):
    return browser.post(f"/photos/{photo_id}/visibility", {"visibility": visibility}, page=f"/photos/{photo_id}")
