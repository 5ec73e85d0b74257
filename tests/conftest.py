"""Fixtures for the platform tests (Flask tutorial style: `app`, `client`, `runner`).

Everything runs on real servers: the MongoDB wire-protocol store (mongoeco over a temp
SQLite file, started once per session on a free port, or TEST_MONGO_URI) and Redis
(TEST_REDIS_URL, default redis://127.0.0.1:6379/0, else a private redis-server).

Isolation: another engineer's tests may share that Redis at the same time. Every key
this session writes contains a random session prefix (queue names, job ids, limiter
keys, heartbeats); each test gets its own sub-prefix and its own database, and the
session deletes only keys containing its prefix.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid

import pytest

from photoshare import create_app
from photoshare.config import load_settings
from photoshare.embedded_store import start_process as start_store
from photoshare.embedded_store import stop_process
from photoshare.local_redis import redis_answers, start_redis_server
from photoshare.queueing import connect_redis

SESSION_PREFIX = f"pstest-{uuid.uuid4().hex[:10]}"
_test_numbers = itertools.count(1)


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


class WorkerHarness:
    """Runs the real job code in this process with RQ's SimpleWorker in burst mode
    (what `python worker.py` runs, minus the long-lived loop)."""

    def __init__(self, app, queue, captioner):
        from photoshare import jobs

        self.app = app
        self.queue = queue
        self.captioner = captioner
        self.settings = dict(app.config)
        jobs.configure(self.settings)
        jobs.set_captioner(captioner)

    def work(self) -> bool:
        from rq import SimpleWorker

        name = f"{self.settings['PHOTOSHARE_PREFIX']}-worker-{uuid.uuid4().hex[:6]}"
        worker = SimpleWorker([self.queue], connection=self.queue.connection, name=name)
        return worker.work(burst=True)


@pytest.fixture
def worker(app, queue):
    from photoshare import jobs
    from tests.platform_fakes import FakeCaptioner

    harness = WorkerHarness(app, queue, FakeCaptioner())
    yield harness
    jobs.set_captioner(None)
