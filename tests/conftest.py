"""Fixtures for the platform tests (Flask tutorial style: `app`, `client`, `runner`).

Everything runs on real servers: the MongoDB wire-protocol store (mongoeco over a temp
SQLite file, started once per session on a free port, or TEST_MONGO_URI) and Redis
(TEST_REDIS_URL, default redis://127.0.0.1:6379/0, else a private redis-server). Jobs
run the real worker code with the real Captioner on a tiny checkpoint (real VGG16
encoder, tiny untrained decoder: captions are deterministic words of
captioner.testing.TINY_WORDS); stand-ins (tests/platform_fakes.py) only inject failures.

Isolation: another engineer's tests may share that Redis at the same time. Every key
this session writes contains a random session prefix (queue names, job ids, limiter
keys, heartbeats); each test gets its own sub-prefix and its own database, and the
session deletes only keys containing its prefix.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from photoshare import create_app
from photoshare.config import load_settings
from photoshare.embedded_store import start_process as start_store
from photoshare.embedded_store import stop_process
from photoshare.local_redis import redis_answers, start_redis_server
from photoshare.queueing import connect_redis

# The REST API tests' fixtures (`ada`, `api`, `read_api`...), available to every test.
pytest_plugins = ["tests.api_support"]

SESSION_PREFIX = f"pstest-{uuid.uuid4().hex[:10]}"
_test_numbers = itertools.count(1)
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def skip_unless(condition: bool, reason: str) -> None:
    """Skip a test whose tool or data is missing here; on CI (the CI variable is set),
    which installs all of them, that is a failure instead."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    if os.environ.get("TEST_MONGO_URI"):
        yield os.environ["TEST_MONGO_URI"]
        return
    process, uri = start_store(tmp_path_factory.mktemp("store") / "store.sqlite")
    yield uri
    stop_process(process)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(url):
        yield url
        return
    process, url = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait()


@pytest.fixture(scope="session")
def redis_client(redis_url):
    client = connect_redis(redis_url)
    yield client
    # Delete this session's keys, and only those.
    keys = list(client.scan_iter(match=f"*{SESSION_PREFIX}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])
    # RQ also lists queue and worker names in shared sets: remove only ours.
    for shared_set in ("rq:queues", "rq:workers"):
        ours = [m for m in client.smembers(shared_set) if SESSION_PREFIX.encode() in m]
        if ours:
            client.srem(shared_set, *ours)
    client.close()


@pytest.fixture
def settings(mongo_uri, redis_url, redis_client, tmp_path):
    """Settings of one test: own database, own key prefix (queue, limiter, heartbeats)."""
    name = f"{SESSION_PREFIX}-{next(_test_numbers)}"
    env = {
        "MONGO_URI": mongo_uri,
        "MONGO_DBNAME": name,
        "REDIS_URL": redis_url,
        "PHOTOSHARE_PREFIX": name,
        "SECRET_KEY": "test-secret-key",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "BCRYPT_ROUNDS": "4",  # fast hashing in tests
        "CAPTION_RETRY_INTERVALS": "0",
        "RECONCILE_MIN_AGE": "0",
        "MAX_UPLOAD_MB": "2",
        "MAX_IMAGE_MEGAPIXELS": "4",
        "LOGIN_LIMIT_PER_ACCOUNT": "3 per 15 minutes",
        "LOGIN_LIMIT_PER_ADDRESS": "5 per 15 minutes",
    }
    values = load_settings(env)
    yield values
    from pymongo import MongoClient

    with MongoClient(mongo_uri) as client:
        client.drop_database(name)


@pytest.fixture
def app(settings):
    app = create_app({**settings, "TESTING": True})
    yield app
    app.extensions["photoshare.backends"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    return app.extensions["photoshare.backends"].db


@pytest.fixture
def queue(app):
    return app.extensions["photoshare.backends"].queue


# -- Helpers ----------------------------------------------------------------------

_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1) or match.group(2)


class Browser:
    """A test client that behaves like a person with a browser: it fetches the form's
    page first and posts the CSRF token it found there."""

    def __init__(self, client):
        self.client = client

    def token(self, page: str = "/login") -> str:
        return csrf_token_from(self.client.get(page).get_data(as_text=True))

    def post(self, url: str, data: dict | None = None, page: str = "/login", **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(page))
        return self.client.post(url, data=data, **kwargs)

    def signup(self, email="ada@example.com", password="correct horse", name="Ada", **kwargs):
        return self.post("/signup", {"email": email, "password": password, "confirm": password,
                                     "name": name}, page="/signup", **kwargs)

    def login(self, email="ada@example.com", password="correct horse", **kwargs):
        return self.post("/login", {"email": email, "password": password}, **kwargs)

    def logout(self):
        return self.post("/logout", page="/logout")

    def upload(self, *files: tuple[str, bytes], **kwargs):
        import io

        data = {"images": [(io.BytesIO(content), name) for name, content in files]}
        return self.post("/upload", data, page="/", content_type="multipart/form-data", **kwargs)


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def user(browser):
    """A signed-up, logged-in user (Ada)."""
    response = browser.signup()
    assert response.status_code == 303, response.get_data(as_text=True)
    return browser


@pytest.fixture
def other_browser(app):
    """A second, independent browser session (for user B)."""
    return Browser(app.test_client())


# -- The captioning model and workers --------------------------------------------------

@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny checkpoint of the real model (captioner.testing), made once per session."""
    from captioner.paths import encoder_weights_path
    from captioner.testing import tiny_checkpoint

    skip_unless(encoder_weights_path().exists(), "VGG16 encoder weights are not prepared (run `make setup`)")
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_captioner(tiny_model_dir):
    """The real Captioner on the tiny checkpoint, loaded once per session."""
    from captioner import Captioner

    return Captioner.load(tiny_model_dir)


class CountingCaptioner:
    """The real captioner, counting its calls and showing each call's images to
    `on_call` (which may raise to inject a failure)."""

    def __init__(self, inner, on_call=None):
        self.inner, self.on_call, self.calls = inner, on_call, 0

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    def caption(self, images):
        self.calls += 1
        if self.on_call is not None:
            self.on_call(images)
        return self.inner.caption(images)


class WorkerHarness:
    """Runs the real job code in this process with RQ's SimpleWorker in burst mode
    (what `python worker.py` runs, minus the long-lived loop)."""

    def __init__(self, app, queue, captioner):
        from photoshare import jobs

        self.app = app
        self.queue = queue
        self.captioner = CountingCaptioner(captioner)
        self.settings = dict(app.config)
        jobs.configure(self.settings)
        jobs.set_captioner(self.captioner)

    def use(self, on_call) -> CountingCaptioner:
        """From now on, show each call's images to `on_call` before captioning them."""
        from photoshare import jobs

        self.captioner = CountingCaptioner(self.captioner.inner, on_call)
        jobs.set_captioner(self.captioner)
        return self.captioner

    def work(self) -> bool:
        from rq import SimpleWorker

        name = f"{self.settings['PHOTOSHARE_PREFIX']}-worker-{uuid.uuid4().hex[:6]}"
        worker = SimpleWorker([self.queue], connection=self.queue.connection, name=name)
        return worker.work(burst=True)


@pytest.fixture
def worker(app, queue, tiny_captioner):
    from photoshare import jobs

    harness = WorkerHarness(app, queue, tiny_captioner)
    yield harness
    jobs.set_captioner(None)


def start_live_worker(settings: dict, model_dir: Path, ready_when, timeout_s: float = 120,
                      **env_vars: str) -> subprocess.Popen:
    """`python worker.py` (the real entry point) with these settings, the tiny model and
    `env_vars`, until `ready_when()` is true."""
    env = {**os.environ, "MONGO_URI": settings["MONGO_URI"], "MONGO_DBNAME": settings["MONGO_DBNAME"],
           "REDIS_URL": settings["REDIS_URL"], "PHOTOSHARE_PREFIX": settings["PHOTOSHARE_PREFIX"],
           "CAPTIONER_MODEL": str(model_dir), "WORKER_HEARTBEAT_TTL": "6", "TF_CPP_MIN_LOG_LEVEL": "2",
           **env_vars}
    process = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    while not ready_when():
        if process.poll() is not None:
            pytest.fail(f"worker exited: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the worker did not become ready")
        time.sleep(0.3)
    return process


def stop_live_worker(process: subprocess.Popen) -> None:
    process.terminate()  # SIGTERM: warm shutdown
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stderr.close()


# -- A live server and a browser ----------------------------------------------------------

@pytest.fixture
def live_server(app):
    """The test's app served over HTTP on a free port, from a thread."""
    from werkzeug.serving import make_server

    from photoshare.embedded_store import free_port

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def live_worker(app, live_server, tiny_model_dir):
    """A worker process on this test's queue, until /healthz is 200."""
    process = start_live_worker(app.config, tiny_model_dir,
                                lambda: requests.get(f"{live_server}/healthz", timeout=5).status_code == 200)
    yield process
    stop_live_worker(process)


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


@pytest.fixture
def chromium():
    """Headless Debian Chromium driven by Playwright."""
    skip_unless(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
