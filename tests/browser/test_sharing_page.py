"""Share links in a real browser: the owner makes a link in the photo page's share
dialog and copies it there (share.js and app.js, under the strict CSP); a logged-out
visitor opens it, and a password link shows only its form until the password is given."""

from __future__ import annotations

import pytest

from tests.images import make_image

FILENAME = "secret-beach.png"  # the file name is not shared either
CAPTION = "Our beach at noon"


def _watch(page, problems):
    # Script errors and CSP violations; failed requests by URL (there is no favicon;
    # the password form answers 401 to a wrong password on purpose).
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and "Failed to load resource" not in message.text
            and problems.append(message.text))
    page.on("response", lambda response: response.status >= 400 and response.status != 401
            and not response.url.endswith("/favicon.ico") and problems.append(f"{response.status} {response.url}"))
    return page


def _make_link(page, live_server, photo_id, password: str | None = None) -> str:
    page.goto(f"{live_server}/photos/{photo_id}")
    page.click("details.share-dialog summary")
    if password:
        page.fill('details.share-dialog input[name="password"]', password)
    page.click('details.share-dialog button[type="submit"]')
    # The dialog shows the new address (once) without leaving the page (static/js/share.js).
    page.locator('[data-role="share-result"]').wait_for(state="visible", timeout=5000)
    assert page.url == f"{live_server}/photos/{photo_id}"
    return page.input_value("#share-url-new")


@pytest.mark.browser
def test_share_a_photo_in_a_real_browser(live_server, chromium, user, db):
    assert user.upload((FILENAME, make_image("JPEG", size=(320, 240)))).status_code == 303
    photo_id = db.photos.find_one({"filename": FILENAME})["_id"]
    db.photos.update_one({"_id": photo_id}, {"$set": {"user_caption": CAPTION}})
    problems: list[str] = []

    owner = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = _watch(owner.new_page(), problems)
    page.goto(f"{live_server}/login")
    page.fill('input[name="email"]', "ada@example.com")
    page.fill('input[name="password"]', "correct horse")
    page.click('form[action="/login"] button[type="submit"]')
    page.wait_for_url(f"{live_server}/")

    share_url = _make_link(page, live_server, photo_id)
    assert share_url.startswith(f"{live_server}/s/") and str(photo_id) not in share_url
    page.click('button[data-copy-from="share-url-new"]')
    page.locator('[data-role="copy-result"]').filter(has_text="Copied.").wait_for(timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == share_url

    visitor = _watch(chromium.new_context().new_page(), problems)  # no cookies: logged out
    visitor.goto(share_url)
    image = visitor.locator("img.display")
    assert image.get_attribute("alt") == CAPTION
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => img.naturalWidth") == 320
    assert visitor.locator(".caption").inner_text() == CAPTION

    # A password link: only the form, then the photo.
    locked_url = _make_link(page, live_server, photo_id, password="open sesame")
    visitor.goto(locked_url)
    assert visitor.locator("img").count() == 0 and CAPTION not in visitor.content()
    visitor.fill('input[name="password"]', "open sesame")
    visitor.click('form button[type="submit"]')
    visitor.locator("img.display").wait_for(timeout=5000)
    assert visitor.locator("img.display").get_attribute("alt") == CAPTION

    # The owner sees the views.
    page.goto(f"{live_server}/shares")
    assert sorted(page.locator('td[data-role="views"]').all_inner_texts()) == ["1", "1"]
    assert problems == []  # no script error, no CSP violation
