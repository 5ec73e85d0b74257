"""Helpers and fixtures of the REST API tests (tests/test_api_*.py).

They build on the platform fixtures of tests/conftest.py (`app`, `db`, `queue`,
`worker`: real mongoeco store, real Redis, per-test prefixes); conftest.py loads this
module as a pytest plugin, so its fixtures need no import.
"""

from __future__ import annotations

import base64
import io
import threading
import time

import pytest

from photoshare.services import accounts, api_keys

PASSWORD = "correct horse"


def basic(email: str, password: str = PASSWORD) -> dict:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class ApiClient:
    """A test client sending one API key (Bearer by default) with every request."""

    def __init__(self, client, key: str | None, user: dict, header: str = "bearer"):
        self.client = client
        self.key = key
        self.user = user
        self.header = header

    def _headers(self, extra):
        headers = {}
        if self.key is not None:
            headers = bearer(self.key) if self.header == "bearer" else {"X-API-Key": self.key}
        return {**headers, **(extra or {})}

    def get(self, url, headers=None, **kwargs):
        return self.client.get(url, headers=self._headers(headers), **kwargs)

    def delete(self, url, headers=None, **kwargs):
        return self.client.delete(url, headers=self._headers(headers), **kwargs)

    def post(self, url, headers=None, **kwargs):
        return self.client.post(url, headers=self._headers(headers), **kwargs)

    def patch(self, url, headers=None, **kwargs):
        return self.client.patch(url, headers=self._headers(headers), **kwargs)

    def upload(self, content: bytes, filename: str = "photo.jpg", url: str = "/api/v1/photos", **fields):
        if url == "/api/v1/photos":
            # Most tests upload the same tiny image again and again: stored each time unless
            # a test asks otherwise (keep_both="false": tests/web/test_duplicates.py).
            fields.setdefault("keep_both", "true")
        data = {"image": (io.BytesIO(content), filename), **fields}
        return self.post(url, data=data, content_type="multipart/form-data")

    def as_key(self, key: str, header: str = "bearer") -> "ApiClient":
        return ApiClient(self.client, key, self.user, header)


def make_account(db, email: str) -> dict:
    return accounts.register(db, email, PASSWORD, email.split("@")[0].title(), rounds=4)


def make_key(db, user: dict, scopes=("read", "write"), name: str = "test key", days=None) -> str:
    return api_keys.create_key(db, user["_id"], name, list(scopes), days).secret


@pytest.fixture
def ada(db) -> dict:
    return make_account(db, "ada.api@example.com")


@pytest.fixture
def bob(db) -> dict:
    return make_account(db, "bob.api@example.com")


@pytest.fixture
def api(app, db, ada) -> ApiClient:
    """Ada's client with a read+write key."""
    return ApiClient(app.test_client(), make_key(db, ada), ada)


@pytest.fixture
def read_api(app, db, ada) -> ApiClient:
    """Ada's client with a read-only key."""
    return ApiClient(app.test_client(), make_key(db, ada, scopes=("read",), name="read only"), ada)


@pytest.fixture
def bob_api(app, db, bob) -> ApiClient:
    return ApiClient(app.test_client(), make_key(db, bob), bob)


def run_with_worker(worker, request_fn, timeout_s: float = 30.0):
    """Send a request that waits for a job (POST /api/v1/captions) from a thread while
    this thread runs the worker (RQ's SimpleWorker wants the main thread), until the
    request has its answer."""
    outcome = {}

    def send():
        try:
            outcome["response"] = request_fn()
        except BaseException as error:  # surfaced below
            outcome["error"] = error

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while thread.is_alive() and time.monotonic() < deadline:
        worker.work()
        thread.join(timeout=0.05)
    thread.join(timeout=5)
    if "error" in outcome:
        raise outcome["error"]
    assert "response" in outcome, "the request did not finish"
    return outcome["response"]
