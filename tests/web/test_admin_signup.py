"""Signup policy (open, invite, closed) and invitation links: single use, expiring,
refused with a clear message; and the administrator's page that manages them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from photoshare.clock import utcnow
from tests.support.sessions import Browser


def _text(response) -> str:
    return response.get_data(as_text=True)


def _signup(browser: Browser, email: str, invite: str | None = None):
    page = f"/signup?invite={invite}" if invite else "/signup"
    data = {"email": email, "password": "correct horse", "confirm": "correct horse", "name": "X"}
    if invite:
        data["invite"] = invite
    return browser.post("/signup", data, page=page)


def _set_policy(admin: Browser, policy: str):
    response = admin.post("/admin/signup/policy", {"signup_policy": policy}, page="/admin/signup")
    assert response.status_code == 303
    assert f">{policy}<" in _text(admin.client.get("/admin/signup"))


def _new_invite(admin: Browser, **fields) -> str:
    response = admin.post("/admin/invites", fields, page="/admin/signup")
    assert response.status_code == 201, _text(response)
    link = re.search(r'value="(http[^"]+/signup\?invite=([^"]+))"', _text(response))
    assert link, "no invitation link on the page"
    return link.group(2)


@pytest.fixture
def admin(user):
    return user  # the first account


@pytest.fixture
def visitor(app):
    return Browser(app.test_client())


def test_invite_only_refuses_plain_signup_and_accepts_an_invitation_once(admin, visitor, app, db):
    _set_policy(admin, "invite")
    assert "by invitation only" in _text(visitor.client.get("/signup"))
    response = _signup(visitor, "plain@example.com")
    assert response.status_code == 403 and "by invitation only" in _text(response)
    assert db.users.find_one({"email": "plain@example.com"}) is None

    token = _new_invite(admin, note="for Carol")
    assert token not in str(list(db.invites.find()))  # only its hash is kept
    assert "for Carol" in _text(admin.client.get("/admin/signup"))
    assert "signup-notice" not in _text(visitor.client.get(f"/signup?invite={token}"))
    assert _signup(visitor, "carol@example.com", token).status_code == 303
    carol = db.users.find_one({"email": "carol@example.com"})
    assert carol.get("role") is None
    assert db.invites.find_one({})["used_by"] == carol["_id"]

    second = Browser(app.test_client())
    response = _signup(second, "dave@example.com", token)
    assert response.status_code == 403 and "already been used" in _text(response)
    assert db.users.find_one({"email": "dave@example.com"}) is None


def test_a_failed_signup_gives_the_invitation_back(admin, visitor, db):
    _set_policy(admin, "invite")
    token = _new_invite(admin)
    response = _signup(visitor, "ada@example.com", token)  # the e-mail is taken
    assert response.status_code == 400 and "already exists" in _text(response)
    assert _signup(visitor, "erin@example.com", token).status_code == 303


def test_an_expired_or_revoked_invitation_is_refused(admin, visitor, app, db):
    _set_policy(admin, "invite")
    token = _new_invite(admin, expires_in_hours="1")
    db.invites.update_one({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    assert "has expired" in _text(visitor.client.get(f"/signup?invite={token}"))
    response = _signup(visitor, "late@example.com", token)
    assert response.status_code == 403 and db.users.find_one({"email": "late@example.com"}) is None
    assert ">expired<" in _text(admin.client.get("/admin/signup"))

    token = _new_invite(admin)
    invite_id = db.invites.find_one({"used_at": None, "expires_at": {"$gt": utcnow()}})["_id"]
    assert admin.post(f"/admin/invites/{invite_id}/revoke", page="/admin/signup").status_code == 303
    assert _signup(Browser(app.test_client()), "revoked@example.com", token).status_code == 403
    # Garbage tokens and bad validity are clear errors, never a 500.
    assert _signup(Browser(app.test_client()), "junk@example.com", "x" * 43).status_code == 403
    assert _signup(Browser(app.test_client()), "junk@example.com", "<script>").status_code == 403
    response = admin.post("/admin/invites", {"expires_in_hours": "99999"}, page="/admin/signup")
    assert response.status_code == 400 and "between 1 and" in _text(response)


def test_closed_refuses_everyone_and_open_accepts_again(admin, visitor, db):
    _set_policy(admin, "closed")
    response = _signup(visitor, "nobody@example.com")
    assert response.status_code == 403 and "closed" in _text(response)
    _set_policy(admin, "open")
    assert _signup(visitor, "somebody@example.com").status_code == 303


def test_configured_policy_still_lets_the_first_account_in(app, settings, visitor, db):
    app.config["SIGNUP_POLICY"] = "closed"
    assert _signup(visitor, "first@example.com").status_code == 303  # the administrator-to-be
    assert db.users.find_one({"email": "first@example.com"})["role"] == "admin"
    response = _signup(Browser(app.test_client()), "second@example.com")
    assert response.status_code == 403
