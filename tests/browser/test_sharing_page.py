"""The public share page in a real browser."""

from __future__ import annotations

import pytest

from tests.images import make_image

FILENAME = "secret-beach.png"  # the file name is not shared either


@pytest.mark.browser
def test_share_a_photo_in_a_real_browser(live_server, chromium, user, db):
    """Owner: make the photo public and copy the link (app.js, under the strict CSP);
    a logged-out visitor opens it and sees the image and the caption."""
    assert user.upload((FILENAME, make_image("JPEG", size=(320, 240)))).status_code == 303
    photo_id = db.photos.find_one({"filename": FILENAME})["_id"]
    db.photos.update_one({"_id": photo_id}, {"$set": {"user_caption": "Our beach at noon"}})

    problems = []

    def watch(page):
        # Script errors and CSP violations; failed requests by URL (there is no favicon).
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda message: message.type == "error" and "Failed to load resource" not in message.text
                and problems.append(message.text))
        page.on("response", lambda response: response.status >= 400 and not response.url.endswith("/favicon.ico")
                and problems.append(f"{response.status} {response.url}"))
        return page

    owner = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = watch(owner.new_page())
    page.goto(f"{live_server}/login")
    page.fill('input[name="email"]', "ada@example.com")
    page.fill('input[name="password"]', "correct horse")
    page.click('form[action="/login"] button[type="submit"]')
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/photos/{photo_id}")
    assert page.locator("#share-url").count() == 0
    page.check('input[name="visibility"][value="public"]')
    page.click('form.visibility button[type="submit"]')
    page.wait_for_url(f"{live_server}/photos/{photo_id}")
    share_url = page.input_value("#share-url")
    assert share_url == f"{live_server}/s/{photo_id}"
    page.click('button[data-copy-from="share-url"]')
    page.locator('[data-role="copy-result"]').filter(has_text="Copied.").wait_for(timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == share_url
    page.goto(f"{live_server}/")
    assert page.locator(f'li.tile[data-photo-id="{photo_id}"] .badge-public').text_content() == "public"

    visitor = watch(chromium.new_context().new_page())  # no cookies: logged out
    visitor.goto(share_url)
    image = visitor.locator("img.display")
    assert image.get_attribute("alt") == "Our beach at noon"
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => img.naturalWidth") == 320
    assert visitor.locator(".caption").inner_text() == "Our beach at noon"
    assert problems == []  # no script error, no CSP violation
