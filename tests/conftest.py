"""Fixtures of every platform test (Flask tutorial style: `app`, `client`, `runner`).

Everything runs on real servers: the MongoDB wire-protocol store (mongoeco over a temp
SQLite file, started once per session on a free port, or TEST_MONGO_URI) and Redis
(TEST_REDIS_URL, default redis://127.0.0.1:6379/0, else a private redis-server). Jobs
run the real worker code with the real Captioner on a tiny checkpoint (real VGG16
encoder, tiny untrained decoder: captions are deterministic words of
captioner.testing.TINY_WORDS); stand-ins (tests/support/fakes.py) only inject failures.

Isolation: another engineer's tests may share that Redis at the same time. Every key
this session writes contains a random session prefix (queue names, job ids, limiter
keys, heartbeats); each test gets its own sub-prefix and its own database, and the
session deletes only keys containing its prefix.
"""

from __future__ import annotations

import os

import pytest

from photoshare import create_app
from photoshare.embedded_store import start_process as start_store
from photoshare.embedded_store import stop_process
from photoshare.local_redis import redis_answers, start_redis_server
from photoshare.queueing import connect_redis

from tests.support.common import SESSION_PREFIX, app_settings, drop_database

# Fixtures used across the folders, each beside the harness it drives:
#   sessions        `browser`, `user`, `other_browser`: website sessions (test client + CSRF)
#   api_clients     `ada`, `bob`, `api`, `read_api`, `bob_api`: API keys and clients
#   worker_harness  `tiny_model_dir`, `tiny_captioner`, `worker`: the real job code, tiny model
# Live HTTP servers and Chromium are only in tests/browser/conftest.py.
pytest_plugins = ["tests.support.sessions", "tests.support.api_clients", "tests.support.worker_harness"]


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
    values = app_settings(mongo_uri, redis_url, tmp_path)
    yield values
    drop_database(mongo_uri, values)


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
