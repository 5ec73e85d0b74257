"""Constants and helpers shared by the test folders."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import uuid
from pathlib import Path

import pytest

# Every key this test session writes to the shared Redis contains this prefix.
SESSION_PREFIX = f"pstest-{uuid.uuid4().hex[:10]}"
ROOT = Path(__file__).resolve().parents[2]
_app_numbers = itertools.count(1)


def skip_unless(condition: bool, reason: str) -> None:
    """Skip a test whose tool or data is missing here; on CI (the CI variable is set),
    which installs all of them, that is a failure instead."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


def app_settings(mongo_uri: str, redis_url: str, directory: Path) -> dict:
    """Settings of one app under test: its own database and key prefix (queue, limiter,
    heartbeats), its files under `directory`. The `settings` fixture makes one per test;
    module-scoped live servers (tests/browser) make one per module."""
    from photoshare.config import load_settings

    name = f"{SESSION_PREFIX}-{next(_app_numbers)}"
    return load_settings({
        "MONGO_URI": mongo_uri,
        "MONGO_DBNAME": name,
        "REDIS_URL": redis_url,
        "PHOTOSHARE_PREFIX": name,
        "SECRET_KEY": "test-secret-key",
        "INSTANCE_PATH": str(directory / "instance"),
        "MEDIA_ROOT": str(directory / "media"),
        "BCRYPT_ROUNDS": "4",  # fast hashing in tests
        "CAPTION_RETRY_INTERVALS": "0",
        "RECONCILE_MIN_AGE": "0",
        "MAX_UPLOAD_MB": "2",
        "MAX_IMAGE_MEGAPIXELS": "4",
        "LOGIN_LIMIT_PER_ACCOUNT": "3 per 15 minutes",
        "LOGIN_LIMIT_PER_ADDRESS": "5 per 15 minutes",
    })


def drop_database(mongo_uri: str, settings: dict) -> None:
    from pymongo import MongoClient

    with MongoClient(mongo_uri) as client:
        client.drop_database(settings["MONGO_DBNAME"])


@contextlib.contextmanager
def serving(app):
    """`app` served over real HTTP on a free port, from a thread (a threaded server:
    requests really run at once); yields its base URL."""
    from werkzeug.serving import make_server

    from photoshare.embedded_store import free_port

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)

