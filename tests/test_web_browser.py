"""The dashboard in a real browser (headless Debian Chromium driven by Playwright):
upload a photo and watch its status turn to done and its caption appear, without a
reload, while a live worker process captions it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from photoshare.embedded_store import free_port
from tests.platform_images import make_image

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def live_server(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def live_worker(app, live_server):
    """`python -m tests.platform_worker` with this test's settings, until /healthz is 200."""
    config = app.config
    env = {**os.environ, "MONGO_URI": config["MONGO_URI"], "MONGO_DBNAME": config["MONGO_DBNAME"],
           "REDIS_URL": config["REDIS_URL"], "PHOTOSHARE_PREFIX": config["PHOTOSHARE_PREFIX"],
           "WORKER_HEARTBEAT_TTL": "6", "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-m", "tests.platform_worker"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while requests.get(f"{live_server}/healthz", timeout=5).status_code != 200:
        if process.poll() is not None:
            pytest.fail(f"worker exited: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("worker did not become ready")
        time.sleep(0.3)
    yield process
    process.send_signal(signal.SIGTERM)  # warm shutdown
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def test_upload_and_watch_the_caption_arrive_without_reload(live_server, live_worker, chromium, tmp_path, db):
    picture = tmp_path / "beach.jpg"
    picture.write_bytes(make_image("JPEG", size=(320, 240), color=(40, 90, 200)))
    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{live_server}/signup")
    page.fill('input[name="email"]', "ada@example.com")
    page.fill('input[name="name"]', "Ada")
    page.fill('input[name="password"]', "correct horse")
    page.fill('input[name="confirm"]', "correct horse")
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server}/")

    page.set_input_files('input[name="images"]', str(picture))
    page.click('form[action="/upload"] button[type="submit"]')
    page.wait_for_url(f"{live_server}/")
    assert "Uploaded 1 photo" in page.inner_text(".flashes")

    tile = page.locator("li.tile").first
    photo_id = tile.get_attribute("data-photo-id")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    status = tile.locator('[data-role="status"]')
    status.filter(has_text="done").wait_for(timeout=90_000)
    caption = tile.locator('[data-role="caption"]').inner_text().strip()
    photo = db.photos.find_one({"_id": __import__("bson").ObjectId(photo_id)})
    assert photo["caption_status"] == "done"
    assert caption == photo["ai_caption"] and caption
    assert tile.locator("img").get_attribute("alt") == caption
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []

    # The photo page shows the same caption beside the display image.
    page.click(f'li.tile[data-photo-id="{photo_id}"] a')
    assert page.locator("figcaption").inner_text().strip() == caption
    assert page.locator("img.display").get_attribute("alt") == caption
