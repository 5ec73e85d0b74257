"""Website sessions for tests: a test client that fetches each form's page and posts its
CSRF token, like a person with a browser (`browser`, `user`, `other_browser`)."""

from __future__ import annotations

import io
import re

import pytest

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

    def upload(self, *files: tuple[str, bytes], keep_both: bool = True, **kwargs):
        # keep_both by default: most tests upload the same tiny image again and again;
        # the duplicate tests (tests/web/test_duplicates.py) pass keep_both=False.
        data = {"images": [(io.BytesIO(content), name) for name, content in files]}
        if keep_both:
            data["keep_both"] = "1"
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


