"""The dashboard in a real browser (headless Debian Chromium driven by Playwright):
upload a photo through the picker (sent by XHR) and watch its tile appear, its status
turn to done and its caption appear, all without a reload, while a live worker process
(`python worker.py`, the real captioner on the tiny checkpoint) captions it."""

from __future__ import annotations

import pytest
from bson import ObjectId
from captioner.testing import TINY_WORDS

from tests.browser.conftest import sign_up_in_browser
from tests.images import make_image

pytestmark = pytest.mark.browser


def test_upload_and_watch_the_caption_arrive_without_reload(live_server, live_worker, chromium, tmp_path, db):
    picture = tmp_path / "beach.jpg"
    picture.write_bytes(make_image("JPEG", size=(320, 240), color=(40, 90, 200)))
    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    sign_up_in_browser(page, live_server)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # Choosing the file uploads it at once (static/js/upload.js: XHR, JSON answer).
    page.set_input_files('input[name="images"]', str(picture))
    page.locator('[data-upload-state="done"]').wait_for(timeout=30_000)
    assert "Uploaded" in page.inner_text('[data-role="upload-state"]')

    tile = page.locator("li.tile[data-photo-id]").first
    photo_id = tile.get_attribute("data-photo-id")

    status = tile.locator('[data-role="status"]')
    status.filter(has_text="done").wait_for(timeout=90_000)
    caption = tile.locator('[data-role="caption"]').inner_text().strip()
    photo = db.photos.find_one({"_id": ObjectId(photo_id)})
    assert photo["caption_status"] == "done"
    assert caption == photo["ai_caption"] and caption
    # Captioned by the real model (the tiny checkpoint), not by a stand-in.
    assert photo["model_version"].startswith("tiny-attention@") and set(caption.split()) <= set(TINY_WORDS)
    assert tile.locator("img").get_attribute("alt") == caption
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []

    # The photo page shows the same caption beside the display image.
    page.click(f'li.tile[data-photo-id="{photo_id}"] a')
    assert page.locator("figcaption").inner_text().strip() == caption
    assert page.locator("img.display").get_attribute("alt") == caption
