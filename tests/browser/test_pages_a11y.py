"""The look of every page (issue 10) in headless Chromium, at desktop width (1280 x 800)
and at a phone's (390 x 844): home, sign-up, log-in, account, export, API keys, albums,
shared links, explore, profile, public and shared pages, the password page, admin pages
and the error pages. Each page must load without a console error, a page error or a
failed request (the favicon included), have no serious or critical axe-core violation,
and never scroll sideways. Also: the phone menu reaches "Log out", the skip link and the
focus ring work from the keyboard, dark mode follows the system setting, and the API
keys page copies a new key.

One live server and one Chromium serve the whole module. Screenshots go to
test-artifacts/pages/; with UPDATE_SCREENSHOTS=1 the README's docs/screenshots/ are
refreshed too.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import pytest
from flask import abort

from tests.browser.conftest import save_screenshot
from tests.support.common import ROOT
from tests.support.sessions import Browser
from tests.support.sharing import SHARE_URL_RE, text, upload_captioned

ARTIFACTS = ROOT / "test-artifacts" / "pages"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "correct horse"
CAPTION = "a sandy beach under a blue sky with the sea"
# Error pages other than 404 come from the one error renderer (photoshare.errors); this
# module's app gets a route that raises each status so its page can be looked at.
RAISED_STATUSES = (413, 429, 500, 503)
RESET_LINK_RE = re.compile(r'value="[^"]*/reset-password/([^"]+)" data-role="reset-link"')


def scene_png(size=(960, 640)) -> bytes:
    """A small picture of a beach (sky, sun, sea, sand): something to look at in screenshots."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        if y < height * 0.55:  # sky: deep blue to pale at the horizon
            t = y / (height * 0.55)
            colour = (int(40 + 150 * t), int(110 + 110 * t), int(200 + 45 * t))
        elif y < height * 0.72:
            colour = (20, 100, 160)  # sea
        else:
            colour = (225, 200, 150)  # sand
        draw.line([(0, y), (width, y)], fill=colour)
    sun = height // 6
    draw.ellipse([width * 0.7, height * 0.12, width * 0.7 + sun, height * 0.12 + sun], fill=(255, 225, 120))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class Site:
    url: str
    paths: dict[str, str] = field(default_factory=dict)
    owner_state: dict | None = None  # the logged-in owner's cookies (Playwright storage state)


def _post_ok(browser: Browser, url: str, data: dict, status: int = 303, page: str = "/albums"):
    response = browser.post(url, data, page=page)
    assert response.status_code == status, text(response)
    return response


def _share(browser: Browser, **fields) -> str:
    response = _post_ok(browser, "/shares", {"photo_id": "", "album_id": "", **fields}, status=200)
    match = SHARE_URL_RE.search(text(response))
    assert match, text(response)
    return f"/s/{match.group(2)}"


@pytest.fixture(scope="module")
def site(module_app, module_live_server, module_chromium):
    """Made through the website: Ada (the first account: an administrator) with two
    captioned photos, a public one in a public album, three share links, an API key and an
    invitation; Bob with a password-reset link; Ada's logged-in browser state."""
    @module_app.get("/_test/error/<int:status>")
    def raise_status(status):
        abort(status)

    db = module_app.extensions["photoshare.backends"].db
    ada = Browser(module_app.test_client())
    _post_ok(ada, "/signup", {"email": "ada@example.com", "name": "Ada", "handle": "ada",
                              "password": PASSWORD, "confirm": PASSWORD}, page="/signup")
    photo = upload_captioned(ada, db, CAPTION, name="beach.png", content=scene_png())
    upload_captioned(ada, db, "a red boat on a calm lake", name="boat.png", content=scene_png((320, 240)))
    photo_id = str(photo["_id"])
    album = _post_ok(ada, "/albums", {"name": "Summer by the sea"})
    album_id = album.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    _post_ok(ada, f"/photos/{photo_id}/albums", {"album_id": album_id})
    _post_ok(ada, f"/photos/{photo_id}/visibility", {"visibility": "public"})
    _post_ok(ada, f"/albums/{album_id}/visibility", {"visibility": "public"})
    paths = {
        "public-photo": f"/p/{photo_id}", "public-album": f"/a/{album_id}",
        "share-photo": _share(ada, photo_id=photo_id, allow_download="y"),
        "share-album": _share(ada, album_id=album_id),
        "share-password": _share(ada, photo_id=photo_id, password="open sesame"),
    }
    # Rows in the API keys and invitations tables (wide tables scroll inside their own box).
    _post_ok(ada, "/account/api-keys", {"name": "backup script", "scopes": ["read"], "expires_in_days": "30"},
             status=201)
    _post_ok(ada, "/admin/invites", {"expires_in_hours": "48", "note": "for Carol"}, status=201)
    assert Browser(module_app.test_client()).signup(email="bob@example.com", name="Bob").status_code == 303
    bob_id = db.users.find_one({"email": "bob@example.com"})["_id"]
    reset_page = text(_post_ok(ada, f"/admin/users/{bob_id}/reset-link", {}, status=200))
    paths["reset-password"] = "/reset-password/" + RESET_LINK_RE.search(reset_page).group(1)

    context = module_chromium.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{module_live_server}/login")
    page.fill('input[name="email"]', "ada@example.com")
    page.fill('input[name="password"]', PASSWORD)
    page.click('form[action^="/login"] button[type="submit"]')
    page.wait_for_url(f"{module_live_server}/")
    state = context.storage_state()
    context.close()
    return Site(module_live_server, paths, state)


def new_context(chromium, site: Site, viewport: str, *, logged_in: bool = False, **options):
    phone = viewport == "phone"
    return chromium.new_context(viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone,
                                storage_state=site.owner_state if logged_in else None, **options)


class Problems(list):
    """Console errors, page errors, failed requests and error answers of one page, except
    the page's own expected status (a 404 page answers 404 on purpose)."""

    def watch(self, page, url: str, status: int):
        page.on("pageerror", lambda error: self.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error"
                and not (status >= 400 and "Failed to load resource" in message.text)
                and self.append(f"console: {message.text}"))
        page.on("requestfailed", lambda request: self.append(f"failed: {request.url} {request.failure}"))
        page.on("response", lambda response: response.status >= 400
                and not (response.url == url and response.status == status)
                and self.append(f"{response.status} {response.url}"))
        return page


def screenshot(page, name: str, readme: str | None = None):
    save_screenshot(page, ARTIFACTS, name, readme)


def assert_no_sideways_scroll(page, what: str):
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px of content in {widths[1]} px"


# (name, path or key of Site.paths, expected status, logged in as Ada)
PAGES = [
    ("home", "/", 200, False), ("signup", "/signup", 200, False), ("login", "/login", 200, False),
    ("forgot-password", "/forgot-password", 200, False), ("explore", "/explore", 200, False),
    ("profile", "/u/ada", 200, False), ("public-photo", "public-photo", 200, False),
    ("public-album", "public-album", 200, False), ("share-photo", "share-photo", 200, False),
    ("share-album", "share-album", 200, False), ("share-password", "share-password", 200, False),
    ("not-found", "/no-such-page", 404, False), ("reset-password", "reset-password", 200, False),
    ("reset-password-invalid", "/reset-password/no-such-token", 400, False),
    ("albums", "/albums", 200, True), ("account", "/account", 200, True), ("export", "/account/export", 200, True),
    ("api-keys", "/account/api-keys", 200, True), ("shared-links", "/shares", 200, True),
    ("logout", "/logout", 200, True), ("admin-users", "/admin/users", 200, True),
    ("admin-signup", "/admin/signup", 200, True), ("admin-system", "/admin/system", 200, True),
    ("not-found-owner", "/photos/000000000000000000000000", 404, True),
] + [(f"error-{status}", f"/_test/error/{status}", status, False) for status in RAISED_STATUSES]
# Pages without captions in them; the README's captioned shots (dashboard, photo page,
# shared photo) come from docs/screenshots/take.py with the real model, not this tiny one.
README = {("home", "desktop"): "home.png", ("share-album", "phone"): "phone-shared-album.png"}


@pytest.fixture(scope="module")
def contexts(site, module_chromium):
    """One desktop browser context logged out and one logged in as Ada, shared by the page checks."""
    opened = {logged_in: new_context(module_chromium, site, "desktop", logged_in=logged_in) for logged_in in (False, True)}
    yield opened
    for context in opened.values():
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("name, path, status, logged_in", PAGES, ids=[p[0] for p in PAGES])
def test_page_is_clean_accessible_and_fits(site, contexts, axe, name, path, status, logged_in):
    """At desktop width, then the same page narrowed to a phone's 390 px (no reload: the
    layout follows the viewport's width, and each load costs a second on a busy machine)."""
    url = site.url + site.paths.get(path, path)
    problems = Problems()
    page = problems.watch(contexts[logged_in].new_page(), url, status)
    try:
        response = page.goto(url)
        assert response.status == status
        favicon = page.get_attribute('link[rel="icon"]', "href")
        assert page.request.get(site.url + favicon).status == 200  # headless Chromium fetches no favicon itself
        for viewport, size in VIEWPORTS.items():
            page.set_viewport_size(size)
            assert_no_sideways_scroll(page, f"{name} at {viewport}")
            assert axe(page) == [], f"{name} at {viewport}"
            screenshot(page, f"{name}-{viewport}", README.get((name, viewport)))
        assert problems == []
    finally:
        page.close()


@pytest.mark.browser
def test_the_phone_menu_reaches_log_out(site, module_chromium, axe):
    context = new_context(module_chromium, site, "phone")
    page = context.new_page()
    problems = Problems()
    problems.watch(page, "", 0)
    page.goto(f"{site.url}/login")
    page.fill('input[name="email"]', "bob@example.com")
    page.fill('input[name="password"]', PASSWORD)
    page.click('form[action^="/login"] button[type="submit"]')
    page.wait_for_url(f"{site.url}/")
    # The browser asks for the favicon after the page's load: leaving before it answers
    # would cancel that request (ERR_ABORTED), a failure of this test, not of the page.
    page.wait_for_load_state("networkidle")
    page.goto(f"{site.url}/albums")
    log_out = page.get_by_role("button", name="Log out")
    assert not log_out.is_visible()  # folded into the menu at 390 px
    page.get_by_role("button", name="Menu").click()
    log_out.wait_for(state="visible")
    # Checked once the menu has finished opening (Bootstrap swaps .collapsing for .show at
    # the end of its transition): mid-animation, a busy machine gave a flaky answer here.
    page.locator("#main-nav.collapse.show").wait_for()
    assert page.get_attribute(".navbar-toggler", "aria-expanded") == "true"
    assert_no_sideways_scroll(page, "the open phone menu")
    assert axe(page) == []
    screenshot(page, "phone-menu-open", "phone-menu.png")
    log_out.click()
    page.wait_for_url(f"{site.url}/login")
    assert page.locator("#main-nav button", has_text="Log out").count() == 0
    assert problems == []
    context.close()


@pytest.mark.browser
def test_keyboard_reaches_content_through_the_skip_link_with_a_visible_focus_ring(site, module_chromium):
    context = new_context(module_chromium, site, "desktop")
    page = context.new_page()
    page.goto(f"{site.url}/explore")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    assert skip.evaluate("node => node === document.activeElement")
    box = skip.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 10  # shown while focused, not clipped away
    assert skip.evaluate("node => getComputedStyle(node).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")  # the first control of the page: the search field
    focused = page.evaluate("[document.activeElement.id, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["q", "solid"]
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("logged_in, pages", [
    (False, ("/", "/login", "share-photo", "/no-such-page")),
    (True, ("/account", "/account/api-keys", "/shares", "/admin/users")),
], ids=["visitor", "owner"])
def test_dark_mode_follows_the_system_setting(site, module_chromium, axe, logged_in, pages):
    context = new_context(module_chromium, site, "desktop", logged_in=logged_in, color_scheme="dark")
    page = context.new_page()
    for path in pages:
        page.goto(site.url + site.paths.get(path, path))
        assert page.get_attribute("html", "data-bs-theme") == "dark"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
        assert axe(page) == [], f"{path} in dark mode"
        name = path.strip("/").replace("/", "-") or "home"
        screenshot(page, f"{name}-dark", "dark-home.png" if path == "/" else None)
    context.close()


@pytest.mark.browser
def test_a_new_api_key_is_copied_and_the_flash_message_is_dismissed(site, module_chromium, axe):
    context = new_context(module_chromium, site, "desktop", logged_in=True,
                          permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    problems = Problems()
    problems.watch(page, "", 0)
    page.goto(f"{site.url}/account/api-keys")
    page.fill('input[name="name"]', "backup script")
    page.click('form[action="/account/api-keys"] button[type="submit"]')
    key = page.locator('[data-role="new-key"]').input_value()
    assert key.startswith("psk_")
    page.get_by_role("button", name="Copy", exact=True).click()
    page.locator('[data-role="copy-result"]').filter(has_text="Copied.").wait_for(timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert axe(page) == []
    screenshot(page, "api-key-copied")

    page.click(f'tr:has-text("{key[:12]}") button:has-text("Revoke")')
    flash = page.locator(".flashes .alert", has_text="is revoked")
    flash.wait_for()
    assert axe(page) == []
    flash.get_by_role("button", name="Dismiss").focus()
    page.keyboard.press("Enter")  # Bootstrap's alert plug-in, wired from the bundle under the CSP
    flash.wait_for(state="detached")
    assert problems == []
    context.close()


@pytest.mark.browser
def test_hints_and_errors_are_read_with_their_fields(site, module_chromium, axe):
    context = new_context(module_chromium, site, "phone")
    page = context.new_page()
    page.goto(f"{site.url}/signup")
    hint_id = page.get_attribute('input[name="password"]', "aria-describedby")
    assert page.inner_text(f"#{hint_id}") == "At least 12 characters."
    page.click('form[action="/signup"] button[type="submit"]')  # nothing filled in: 400
    email = page.locator('input[name="email"]')
    assert email.get_attribute("aria-invalid") == "true"
    assert page.inner_text("#" + email.get_attribute("aria-describedby")) == "Enter your e-mail address."

    page.fill('input[name="email"]', "carol@example.com")
    page.fill('input[name="password"]', "short")
    page.fill('input[name="confirm"]', "short")
    page.click('form[action="/signup"] button[type="submit"]')
    password = page.locator('input[name="password"]')
    assert password.get_attribute("aria-invalid") == "true"
    hint, error = password.get_attribute("aria-describedby").split()  # the hint, then the error
    assert hint == hint_id and "12" in page.inner_text(f"#{error}")
    assert_no_sideways_scroll(page, "the sign-up form with errors")
    assert axe(page) == []
    screenshot(page, "signup-errors-phone")
    context.close()
