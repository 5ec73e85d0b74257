"""A live HTTP server, a live worker process and headless Chromium, for the browser tests;
and module-scoped ones (`module_app`, `module_live_server`, `module_chromium`) for
modules that visit many pages."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
import requests

from tests.support.common import ROOT, app_settings, drop_database, serving, skip_unless
from tests.support.worker_harness import start_live_worker, stop_live_worker

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def live_server(app):
    """The test's app served over HTTP on a free port, from a thread."""
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def module_app(mongo_uri, redis_url, redis_client, tmp_path_factory):
    """One app (own database and key prefix) for a whole test module."""
    from photoshare import create_app

    settings = app_settings(mongo_uri, redis_url, tmp_path_factory.mktemp("module-app"))
    app = create_app({**settings, "TESTING": True})
    yield app
    app.extensions["photoshare.backends"].close()
    drop_database(mongo_uri, settings)


@pytest.fixture(scope="module")
def module_live_server(module_app):
    with serving(module_app) as url:
        yield url


@pytest.fixture
def live_worker(app, live_server, tiny_model_dir):
    """A worker process on this test's queue, until /healthz is 200."""
    process = start_live_worker(app.config, tiny_model_dir,
                                lambda: requests.get(f"{live_server}/healthz", timeout=5).status_code == 200)
    yield process
    stop_live_worker(process)


def save_screenshot(page, folder: Path, name: str, readme: str | None = None) -> Path:
    """A test artefact `folder/name.png`; with UPDATE_SCREENSHOTS=1 also the README's
    docs/screenshots/`readme` (pages without captions only: captioned ones come from
    docs/screenshots/take.py and the real model)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    if readme and os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copyfile(path, ROOT / "docs" / "screenshots" / readme)
    return path


def sign_up_in_browser(page, base_url: str, email: str = "ada@example.com", name: str = "Ada",
                       password: str = "correct horse") -> None:
    """Sign up through the real form in a browser page, and land on the dashboard."""
    page.goto(f"{base_url}/signup")
    page.fill('input[name="email"]', email)
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', password)
    page.fill('input[name="confirm"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base_url}/")


@contextlib.contextmanager
def _launched_chromium():
    skip_unless(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def chromium():
    """Headless Debian Chromium driven by Playwright."""
    with _launched_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def module_chromium():
    """One headless Chromium for a whole test module (each test opens its own contexts)."""
    with _launched_chromium() as browser:
        yield browser


SERIOUS_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def axe():
    """`axe(page)`: the page's serious and critical axe-core violations (empty when none).

    axe-core (vendored by axe-playwright-python) is evaluated through Playwright rather
    than added as a <script>, so the pages keep their strict CSP while being checked."""
    from axe_playwright_python.sync_playwright import Axe

    runner = Axe()

    def serious_violations(page) -> list[str]:
        # axe-core once per document (runner.run would evaluate its 600 kB again on every call:
        # pages checked at two widths and in dark mode pay for that on a busy machine).
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate(runner.axe_script)
        response = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:4]}"
                for v in response["violations"] if v["impact"] in SERIOUS_IMPACTS]

    return serious_violations
