"""Password reset: "forgot password" e-mails a link (to the outbox folder without SMTP),
the link works once, expires, and ends the account's other sessions; an administrator
can issue a link for a user."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from photoshare.clock import utcnow
from tests.support.api_clients import ApiClient, make_key
from tests.support.sessions import Browser

NEW_PASSWORD = "a brand new passphrase"


def _text(response) -> str:
    return response.get_data(as_text=True)


def _outbox(app) -> list[Path]:
    folder = Path(app.config["INSTANCE_PATH"]) / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def _forgot(browser: Browser, email: str):
    return browser.post("/forgot-password", {"email": email}, page="/forgot-password")


def _link_from_mail(path: Path) -> str:
    match = re.search(r"http://localhost(/reset-password/[A-Za-z0-9_-]+)", path.read_text())
    assert match, path.read_text()
    return match.group(1)


def _reset(browser: Browser, path: str, password: str = NEW_PASSWORD):
    return browser.post(path, {"new_password": password, "confirm": password}, page=path)


@pytest.fixture
def ada(user):
    """Ada, logged in on `user`; the tests log her in elsewhere too."""
    return user


def test_reset_link_works_once_and_ends_every_session(app, ada, db):
    other_session = Browser(app.test_client())
    assert other_session.login().status_code == 303
    ada_doc = db.users.find_one({"email": "ada@example.com"})
    api = ApiClient(app.test_client(), make_key(db, ada_doc), ada_doc)
    visitor = Browser(app.test_client())

    response = _forgot(visitor, "ADA@example.com ")
    assert response.status_code == 303
    assert "If an account has this address" in _text(visitor.client.get("/login"))
    [mail] = _outbox(app)
    assert "To: ada@example.com" in mail.read_text() and mail.stat().st_mode & 0o077 == 0
    link = _link_from_mail(mail)
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 43 and token not in str(list(db.password_resets.find()))  # stored hashed

    page = visitor.client.get(link)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert _reset(visitor, link, "short").status_code == 400
    assert _reset(visitor, link).status_code == 303

    # Every session of the account ended, its API keys were revoked; the new password works.
    assert ada.client.get("/account").status_code == 302
    assert other_session.client.get("/account").status_code == 302
    assert api.get("/api/v1/photos").status_code == 401
    assert visitor.login(password="correct horse").status_code == 401
    assert visitor.login(password=NEW_PASSWORD).status_code == 303

    # Once only.
    again = Browser(app.test_client())
    response = again.client.get(link)
    assert response.status_code == 400 and "already been used" in _text(response)
    response = again.post(link, {"new_password": "x" * 10, "confirm": "x" * 10}, page="/login")
    assert response.status_code == 400 and "already been used" in _text(response)
    assert again.login(password=NEW_PASSWORD).status_code == 303


def test_unknown_address_gets_the_same_answer_and_no_mail(app, ada):
    visitor = Browser(app.test_client())
    response = _forgot(visitor, "nobody@example.com")
    assert response.status_code == 303
    assert _outbox(app) == []
    assert _forgot(visitor, "").status_code == 400


def test_reset_link_expires(app, ada, db):
    visitor = Browser(app.test_client())
    _forgot(visitor, "ada@example.com")
    link = _link_from_mail(_outbox(app)[0])
    db.password_resets.update_one({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    response = visitor.client.get(link)
    assert response.status_code == 400 and "expired" in _text(response)
    assert visitor.client.get("/reset-password/not-a-token").status_code == 400
    assert visitor.login(password="correct horse").status_code == 303  # unchanged


def test_a_new_password_voids_the_other_links(app, ada):
    visitor = Browser(app.test_client())
    _forgot(visitor, "ada@example.com")
    _forgot(visitor, "ada@example.com")
    first, second = (_link_from_mail(path) for path in _outbox(app))
    assert _reset(visitor, second).status_code == 303
    assert visitor.client.get(first).status_code == 400


def test_admin_issues_a_reset_link_for_a_user(app, ada, other_browser, db):
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    bob_id = db.users.find_one({"email": "bob@example.com"})["_id"]
    response = ada.post(f"/admin/users/{bob_id}/reset-link", page="/admin/users")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    link = re.search(r'value="http://localhost(/reset-password/[^"]+)"', _text(response))
    visitor = Browser(app.test_client())
    assert _reset(visitor, link.group(1)).status_code == 303
    assert other_browser.client.get("/account").status_code == 302  # Bob's session ended
    assert visitor.login(email="bob@example.com", password=NEW_PASSWORD).status_code == 303
    # Not for another user's hands: Bob (not an admin) gets 404.
    assert other_browser.post(f"/admin/users/{bob_id}/reset-link", page="/login").status_code == 404


def test_public_url_is_used_for_mailed_links(app, ada):
    app.config["PUBLIC_URL"] = "https://photos.example.org"
    visitor = Browser(app.test_client())
    assert _forgot(visitor, "ada@example.com").status_code == 303
    text = _outbox(app)[0].read_text()
    # Not the request's own address (a forged Host header must not reach the e-mail).
    assert "https://photos.example.org/reset-password/" in text and "http://localhost" not in text
    path = re.search(r"https://photos.example.org(/reset-password/\S+)", text).group(1)
    assert visitor.client.get(path).status_code == 200  # the whole link, unfolded
