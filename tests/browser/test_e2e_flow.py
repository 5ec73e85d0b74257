"""The whole product as a new user meets it, in headless Chromium against a live server
and a live worker process (the real captioner on the tiny checkpoint):

sign up; upload three photos through the drop zone's picker and watch their captions
arrive without a reload (from the real model: tiny checkpoint, its words, the caption as
alt text, the same caption on the photo page; this test took over the checks of the
former tests/browser/test_dashboard.py, saving a live worker's start); edit one caption
inline; choose an alternative on another; open the attention view ("Why this caption")
and check its canvas is drawn; open the lightbox; bulk-change visibility and fill an
album in select mode (the grid loads its next page by cursor); make a share link, open
it logged out, revoke it and get 404; drop a HEIC photo on the drop zone and upload a
duplicate (duplicate message, Keep both, then delete that copy through the confirm
dialog); create an API key and use it.

The run fails on any console error, page error or failed request (except the answers
the flow provokes on purpose), on any serious or critical axe-core violation, and on
sideways scrolling at a phone width of 390 px. Screenshots go to test-artifacts/e2e/;
the README's captioned screenshots come from docs/screenshots/take.py (the real model).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import requests
from bson import ObjectId
from captioner.testing import TINY_WORDS

from tests.browser.conftest import save_screenshot, sign_up_in_browser
from tests.support.common import ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
COLOURS = [(200, 60, 40), (40, 120, 200), (60, 170, 80)]


class Watch:
    """Console errors, page errors and failed requests of every page; `expect` lets the
    flow declare the failures it provokes (the duplicate's 409, the revoked link's 404)."""

    def __init__(self):
        self.problems: list[str] = []
        self.expected: list[tuple[int, str]] = []

    def page(self, page):
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        return page

    def _console(self, message):
        # A provoked 4xx also logs "Failed to load resource": judged by its response.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console: {message.text}")

    def _response(self, response):
        if response.status < 400:
            return
        for status, fragment in self.expected:
            if response.status == status and fragment in response.url:
                return
        self.problems.append(f"{response.status} {response.url}")

    def _failed(self, request):
        if request.failure and "ERR_ABORTED" not in request.failure:  # an image dropped by a navigation
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def expect(self, status: int, fragment: str):
        self.expected.append((status, fragment))


def _shot(page, name: str):
    save_screenshot(page, ARTIFACTS, name)


def _check_page(page, name: str, axe):
    """No serious axe violation at desktop width and at 390 px, and no sideways scroll."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} scrolls sideways at {size['width']} px ({width} px wide)"
        violations = axe(page)
        assert violations == [], f"{name} ({label}): {violations}"
        _shot(page, f"{name}-{label}")
    page.set_viewport_size(DESKTOP)


def _scene(colour, size=(480, 360)) -> bytes:
    """A small picture with something to look at (sky, sun, hill), so the screenshots and
    the attention maps are about shapes, not one flat colour."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        f = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(c * (1 - f) + 235 * f) for c in colour))
    draw.ellipse([width * .62, height * .12, width * .82, height * .39], fill=(255, 214, 90))
    draw.polygon([(0, height), (0, height * .7), (width * .35, height * .52), (width * .7, height * .72),
                  (width, height * .6), (width, height)], fill=(46, 110, 60))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _heic(colour) -> bytes:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(out, format="HEIF", quality=80)
    return out.getvalue()


def _upload_items_done(page, count: int):
    page.wait_for_function(
        "n => document.querySelectorAll('[data-upload-state=done]').length >= n", arg=count, timeout=30_000)


def test_end_to_end_flow(live_server, live_worker, chromium, tmp_path, db, axe, app):
    app.config["PHOTOS_PER_PAGE"] = 2  # so the grid's infinite scroll has a page to load
    watch = Watch()
    context = chromium.new_context(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page = watch.page(context.new_page())

    # Sign up, then upload three photos at once through the drop zone's picker.
    sign_up_in_browser(page, live_server)
    files = []
    for index, colour in enumerate(COLOURS):
        path = tmp_path / f"photo-{index}.jpg"
        path.write_bytes(_scene(colour))
        files.append(path)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    page.set_input_files("#images", [str(path) for path in files])
    _upload_items_done(page, 3)
    assert page.locator("li.tile[data-photo-id]").count() == 3
    # Captions arrive live: every badge turns "done" and shows the AI caption.
    page.wait_for_function(
        "() => [...document.querySelectorAll('li.tile[data-photo-id]')]"
        ".every(t => t.getAttribute('data-caption-status') === 'done')", timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True
    ids = page.eval_on_selector_all("li.tile[data-photo-id]", "tiles => tiles.map(t => t.dataset.photoId)")
    for tile_id in ids:
        photo = db.photos.find_one({"_id": ObjectId(tile_id)})
        tile = page.locator(f'li.tile[data-photo-id="{tile_id}"]')
        shown = tile.locator('[data-role="caption"]').inner_text().strip()
        assert shown == photo["ai_caption"] and shown
        assert tile.locator("img").get_attribute("alt") == shown  # the caption is the alt text
        # Captioned by the real model (the tiny checkpoint), not by a stand-in.
        assert photo["model_version"].startswith("tiny-attention@") and set(shown.split()) <= set(TINY_WORDS)
    assert page.inner_text('[data-role="photo-count"]') == "3 photos"
    _check_page(page, "dashboard", axe)
    for _ in range(3):
        page.locator('[data-role="upload-cancel"]').first.click()  # "Dismiss" once finished
    assert page.locator('[data-role="upload-item"]').count() == 0
    _shot(page, "dashboard")  # README: docs/screenshots/take.py, with the real model

    # The lightbox: opens on the photo, shows its caption, arrows move, Escape closes.
    first_caption = page.locator('li.tile [data-role="caption"]').first.inner_text().strip()
    page.locator('li.tile [data-role="zoom"]').first.click()
    page.locator(".pswp__img").first.wait_for(timeout=5000)
    _shot(page, "lightbox")
    page.locator(".pswp__caption").filter(has_text=first_caption).wait_for(timeout=5000)
    for _ in range(20):  # keys are ignored while the opening animation runs
        page.keyboard.press("ArrowRight")
        if page.inner_text(".pswp__counter").startswith("2"):
            break
        page.wait_for_timeout(100)
    second_caption = page.locator('li.tile [data-role="caption"]').nth(1).inner_text().strip()
    page.locator(".pswp__caption").filter(has_text=second_caption).wait_for(timeout=5000)
    page.keyboard.press("Escape")
    page.locator(".pswp").wait_for(state="detached", timeout=5000)

    # Select mode: two photos become unlisted in one action.
    page.click('[data-role="select-mode"]')
    page.locator("li.tile .tile-link").nth(1).click()
    page.locator("li.tile .tile-link").nth(2).click()
    assert page.inner_text('[data-role="selected-count"]') == "2"
    page.select_option("#bulk-visibility", "unlisted")
    page.click('#bulk-form button[value="visibility"]')
    page.locator(".flashes").filter(has_text="Changed who can see 2 photos.").wait_for(timeout=5000)
    # The reloaded dashboard shows 2 photos a page: the third arrives by the cursor scroll.
    page.locator("li.tile[data-photo-id]").nth(2).wait_for(timeout=5000)
    assert page.locator('[data-role="more"]').count() == 0 and page.locator("nav.pager").is_hidden()
    assert [db.photos.find_one({"_id": ObjectId(i)}).get("visibility") or "private" for i in ids] == [
        "private", "unlisted", "unlisted"]

    # An album, filled in select mode; its page (grid, share dialog) passes the same checks.
    page.goto(f"{live_server}/albums")
    page.fill('input[name="name"]', "Hills")
    page.click('form[action="/albums"] button[type="submit"]')
    page.wait_for_url(f"{live_server}/albums/*")
    album_url = page.url
    page.goto(f"{live_server}/")
    page.locator("li.tile[data-photo-id]").nth(2).wait_for(timeout=5000)  # all three, by the scroll
    page.click('[data-role="select-mode"]')
    page.click('[data-role="select-all"]')
    assert page.inner_text('[data-role="selected-count"]') == "3"
    page.click('#bulk-form button[value="album"]')
    page.locator(".flashes").filter(has_text="Added 3 photos to the album.").wait_for(timeout=5000)
    page.goto(album_url)
    page.locator("li.tile[data-photo-id]").nth(2).wait_for(timeout=5000)  # the album scrolls by cursor too
    _check_page(page, "album", axe)

    # Inline caption editing on the first photo: saved without a reload.
    page.click(f'li.tile[data-photo-id="{ids[0]}"] .tile-link')
    page.wait_for_url(f"{live_server}/photos/{ids[0]}")
    ai_caption = db.photos.find_one({"_id": ObjectId(ids[0])})["ai_caption"]
    assert page.inner_text("figcaption").strip() == ai_caption
    assert page.locator("img.display").get_attribute("alt") == ai_caption
    page.evaluate("window.__sameDocument = true")
    page.fill('[data-role="caption-form"] textarea[name="caption"]', "Red wall at noon")
    page.click('[data-role="caption-form"] button[type="submit"]')
    page.locator("figcaption").filter(has_text="Red wall at noon").wait_for(timeout=5000)
    assert db.photos.find_one({"_id": ObjectId(ids[0])})["user_caption"] == "Red wall at noon"
    assert page.evaluate("window.__sameDocument") is True

    # One click on an alternative of the second photo; it is then no longer offered.
    page.goto(f"{live_server}/photos/{ids[1]}")
    current = page.inner_text("figcaption").strip()
    choices = page.locator('[data-role="alternative"]:not([hidden]) button')
    assert choices.count() >= 1 and current not in choices.all_inner_texts()
    chosen = choices.first.inner_text().strip()
    choices.first.click()
    page.locator("figcaption").filter(has_text=chosen).wait_for(timeout=5000)
    assert db.photos.find_one({"_id": ObjectId(ids[1])})["user_caption"] == chosen
    assert chosen not in page.locator('[data-role="alternative"]:not([hidden]) button').all_inner_texts()

    # Why this caption: hovering a word draws its attention map over the photo.
    word = page.locator(".attention-word").nth(1)
    word.hover()
    page.locator("canvas.attention-canvas.is-visible").wait_for(timeout=5000)
    drawn = page.evaluate("""() => {
        const canvas = document.querySelector('canvas.attention-canvas');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let opaque = 0;
        for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) opaque++; }
        return {opaque, total: data.length / 4};
    }""")
    assert drawn["total"] > 0 and drawn["opaque"] > 0.9 * drawn["total"]
    assert "is-active" in word.get_attribute("class")
    _shot(page, "photo-attention")
    page.mouse.move(0, 0)
    page.locator(".attention-word").first.focus()  # keyboard: focus shows it too
    page.locator("canvas.attention-canvas.is-visible").wait_for(timeout=5000)
    _check_page(page, "photo", axe)

    # A share link from the dialog; a logged-out visitor opens it; revoked, it is a 404.
    page.click("details.share-dialog summary")
    page.click('details.share-dialog button[type="submit"]')
    page.locator('[data-role="share-result"]').wait_for(state="visible", timeout=5000)
    share_url = page.input_value("#share-url-new")
    assert page.locator('.share-links-of [data-state="active"]').count() == 1  # listed at once
    page.click('button[data-copy-from="share-url-new"]')
    page.locator('[data-role="copy-result"]').filter(has_text="Copied.").wait_for(timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == share_url
    visitor = watch.page(chromium.new_context(viewport=DESKTOP).new_page())
    visitor.goto(share_url)
    visitor.locator("img.display").wait_for(timeout=5000)
    assert visitor.locator(".caption").inner_text().strip() == chosen
    _check_page(visitor, "shared-photo", axe)
    page.goto(f"{live_server}/photos/{ids[1]}")
    page.click("details.share-dialog summary")
    assert page.locator('.share-links-of [data-role="views"]').first.inner_text() == "1"
    page.click('details.share-dialog [data-role="revoke"]')
    page.locator(".flashes").filter(has_text="revoked").wait_for(timeout=5000)
    watch.expect(404, "/s/")
    assert visitor.goto(share_url).status == 404

    # A HEIC photo and a duplicate from the dashboard.
    page.goto(f"{live_server}/")
    # The HEIC photo is dropped on the drop zone (a real drop event carrying the file).
    dropped = page.evaluate_handle("""({name, data}) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "image/heic"}));
        return transfer;
    }""", {"name": "iphone.heic", "data": base64.b64encode(_heic((220, 180, 30))).decode("ascii")})
    page.dispatch_event('[data-role="drop-zone"]', "dragenter", {"dataTransfer": dropped})
    assert "is-dragging" in page.get_attribute('[data-role="drop-zone"]', "class")
    page.dispatch_event('[data-role="drop-zone"]', "drop", {"dataTransfer": dropped})
    _upload_items_done(page, 1)
    heic_photo = db.photos.find_one({"filename": "iphone.heic"})
    assert heic_photo is not None and page.locator(f'li.tile[data-photo-id="{heic_photo["_id"]}"]').count() == 1
    watch.expect(409, "/upload")
    page.set_input_files("#images", str(files[2]))
    duplicate = page.locator('[data-upload-state="duplicate"]')
    duplicate.wait_for(timeout=10_000)
    assert "already" in duplicate.inner_text().lower()
    duplicate.locator('[data-role="keep-both"]').click()
    _upload_items_done(page, 2)
    copies = list(db.photos.find({"filename": files[2].name}))
    assert len(copies) == 2
    # A file that is no image: refused, and the server's message shown beside that file.
    watch.expect(400, "/upload")
    watch.expect(415, "/upload")
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"shopping list: bread, milk\n" * 20)
    page.set_input_files("#images", str(fake))
    refused = page.locator('[data-role="upload-item"]', has_text="notes.jpg")
    page.wait_for_function("() => [...document.querySelectorAll('[data-upload-state=error]')]"
                           ".some(item => item.textContent.includes('notes.jpg'))", timeout=10_000)
    assert "not an image" in refused.locator('[data-role="upload-state"]').inner_text()
    assert db.photos.find_one({"filename": "notes.jpg"}) is None
    # Delete the copy in select mode, through the confirm dialog.
    newest = max(copies, key=lambda p: p["_id"])
    # (once captioned: a status poll still running when its photo goes would rightly get a 404)
    page.locator(f'li.tile[data-photo-id="{newest["_id"]}"][data-caption-status="done"]').wait_for(timeout=30_000)
    page.click('[data-role="select-mode"]')
    page.click(f'li.tile[data-photo-id="{newest["_id"]}"] .tile-link')
    page.click('[data-role="bulk-delete"]')
    page.locator('dialog[data-role="confirm-delete"]').wait_for(state="visible", timeout=5000)
    page.click('[data-role="confirm-ok"]')
    page.locator(".flashes").filter(has_text="Deleted 1 photo.").wait_for(timeout=5000)
    assert db.photos.find_one({"_id": newest["_id"]}) is None

    # An API key, used with requests.
    page.goto(f"{live_server}/account/api-keys")
    page.fill('input[name="name"]', "e2e script")
    page.click('form[action="/account/api-keys"] button[type="submit"]')
    key = page.input_value('[data-role="new-key"]')
    listed = requests.get(f"{live_server}/api/v1/photos", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert listed.status_code == 200
    assert {item["id"] for item in listed.json()["items"]} >= set(ids) | {str(heic_photo["_id"])}
    _shot(page, "api-keys")

    context.close()
    assert watch.problems == []
