"""/api/docs in a real browser (headless Chromium): Swagger UI from the vendored files
renders every operation of /api/v1/openapi.json under the site's strict CSP, with no
request to another host."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import sign_up_in_browser

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_api_offline(live_server, chromium, tmp_path):
    page = chromium.new_page()
    errors, hosts = [], set()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    import requests

    spec = requests.get(f"{live_server}/api/v1/openapi.json", timeout=10).json()
    operations = sum(1 for path in spec["paths"].values() for method in path
                     if method in ("get", "post", "put", "patch", "delete"))
    page.goto(f"{live_server}/api/docs")
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert operations >= 17 and page.locator(".opblock").count() == operations  # one block per operation
    assert "Photoshare API" in page.locator(".info .title").inner_text()
    page.locator(".opblock-summary-path", has_text="/api/v1/photos").first.wait_for()
    assert page.locator("button.authorize").count() == 1  # Bearer / X-API-Key / Basic
    page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)

    assert hosts == {urlsplit(live_server).netloc}  # nothing from a CDN or a validator
    assert errors == []


def test_create_a_key_in_the_dashboard_and_use_it(live_server, chromium, tmp_path):
    import requests

    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up_in_browser(page, live_server)

    page.click("nav >> text=API keys")
    page.fill('input[name="name"]', "laptop script")
    page.check('input[name="scopes"][value="write"]')
    page.select_option('select[name="expires_in_days"]', "30")
    page.click('form[action="/account/api-keys"] button[type="submit"]')
    key = page.locator('[data-role="new-key"]').input_value()
    assert key.startswith("psk_") and len(key) == 47
    row = page.locator("table.keys tbody tr").first
    assert "laptop script" in row.inner_text() and key[:12] in row.inner_text()
    page.screenshot(path=str(tmp_path / "api-keys.png"), full_page=True)

    answer = requests.get(f"{live_server}/api/v1/photos", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"items": [], "next_cursor": None}

    page.goto(f"{live_server}/account/api-keys")
    assert key not in page.content()  # shown once
    page.click("table.keys >> text=Revoke")
    assert "is revoked" in page.inner_text(".flashes")
    answer = requests.get(f"{live_server}/api/v1/photos", headers={"X-API-Key": key}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "api_key_revoked"
    assert errors == []
