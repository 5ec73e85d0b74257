"""Server-side sessions (issue 11.1): logging out, changing the password, closing or
disabling the account end a session at once, however many copies of its cookie exist;
idle timeout and absolute lifetime; session tokens hashed at rest; no caching of what a
logged-in person sees, originals cached privately and briefly."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from photoshare.security_headers import ORIGINAL_MAX_AGE
from tests.images import make_image
from tests.support.sessions import Browser


def _session_cookie(browser: Browser) -> str:
    cookie = browser.client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def _replay(app, cookie: str, url: str = "/albums"):
    """The same cookie, from another browser (a copy kept by someone else)."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get(url)


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_cookie_replayed_after_logout_gets_the_login_page(app, user):
    cookie = _session_cookie(user)
    assert _replay(app, cookie).status_code == 200  # the copy works while the session lives
    assert user.logout().status_code == 303
    assert _is_login_redirect(_replay(app, cookie))
    assert _is_login_redirect(_replay(app, cookie, "/account"))


def test_logout_ends_only_that_session(app, user, other_browser):
    assert other_browser.login().status_code == 303
    user.logout()
    assert other_browser.client.get("/albums").status_code == 200


def test_the_store_holds_only_a_hash_of_the_session_token(user, db):
    sessions = list(db.sessions.find())
    assert len(sessions) == 1
    # The token reaches the cookie through flask-login's _user_id ("<user id>:<token>").
    with user.client.session_transaction() as flask_session:
        token = flask_session["_user_id"].partition(":")[2]
    assert len(token) == 43  # 256 random bits, base64url
    assert sessions[0]["_id"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(sessions)


def test_cookies_of_the_old_signed_only_sessions_no_longer_log_anyone_in(app, user, db):
    # Before server-side sessions the cookie named "<user id>:<session version>" and was
    # accepted for 31 days; such a cookie names no session now.
    user_id = db.users.find_one()["_id"]
    old_style = app.test_client()
    with old_style.session_transaction() as flask_session:
        flask_session["_user_id"] = f"{user_id}:1"
        flask_session["_fresh"] = True
    assert _is_login_redirect(old_style.get("/albums"))


def test_logging_in_again_replaces_the_browsers_session(app, user, db):
    old_cookie = _session_cookie(user)
    response = user.client.post("/login", data={"email": "ada@example.com", "password": "correct horse",
                                                 "csrf_token": user.token("/account")})
    assert response.status_code == 303
    assert db.sessions.count_documents({}) == 1
    assert _is_login_redirect(_replay(app, old_cookie))
    assert user.client.get("/albums").status_code == 200


def test_a_cookie_from_before_the_password_change_is_refused(app, user, db):
    old_cookie = _session_cookie(user)
    response = user.post("/account/password", {"pw-current_password": "correct horse",
                                               "pw-new_password": "battery staple", "pw-confirm": "battery staple"},
                         page="/account")
    assert response.status_code == 303
    assert user.client.get("/albums").status_code == 200  # the one who changed it stays in
    assert _is_login_redirect(_replay(app, old_cookie))
    assert db.sessions.count_documents({}) == 1


def test_a_cookie_replayed_after_account_deletion_gets_the_login_page(app, user, db):
    cookie = _session_cookie(user)
    response = user.post("/account/delete", {"del-password": "correct horse"}, page="/account")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert db.users.count_documents({}) == 0 and db.sessions.count_documents({}) == 0
    assert _is_login_redirect(_replay(app, cookie))


@pytest.mark.parametrize("field, age", [("last_seen_at", timedelta(minutes=721)),   # idle 720 minutes
                                        ("created_at", timedelta(hours=169))])      # lifetime 168 hours
def test_sessions_time_out_when_idle_and_after_their_lifetime(app, user, db, field, age):
    session = db.sessions.find_one()
    db.sessions.update_one({"_id": session["_id"]}, {"$set": {field: session[field] - age}})
    assert _is_login_redirect(user.client.get("/albums"))
    assert db.sessions.count_documents({}) == 0  # a timed-out session is forgotten


def test_an_active_session_is_kept_alive(app, user, db):
    session = db.sessions.find_one()
    stale = session["last_seen_at"] - timedelta(minutes=700)  # idle for 700 of 720 minutes
    db.sessions.update_one({"_id": session["_id"]}, {"$set": {"last_seen_at": stale}})
    assert user.client.get("/albums").status_code == 200
    assert db.sessions.find_one()["last_seen_at"] > stale


def test_timeouts_are_configurable(settings):
    from photoshare import create_app

    app = create_app({**settings, "SESSION_IDLE_MINUTES": 0})
    try:
        browser = Browser(app.test_client())
        assert browser.signup().status_code == 303
        assert _is_login_redirect(browser.client.get("/albums"))
    finally:
        app.extensions["photoshare.backends"].close()


def test_a_disabled_accounts_session_ends(app, user, db):
    cookie = _session_cookie(user)
    user_id = db.users.find_one()["_id"]
    from photoshare.repositories import users as user_repo

    user_repo.set_disabled(db, user_id, True)
    assert _is_login_redirect(_replay(app, cookie))


def test_private_pages_are_not_cached_and_originals_only_briefly(user, db):
    for page in ("/", "/albums", "/account", "/shares"):
        response = user.client.get(page)
        assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"], page
    assert user.upload(("beach.png", make_image("PNG"))).status_code == 303
    photo_id = db.photos.find_one()["_id"]
    original = user.client.get(f"/photos/{photo_id}/image/original")
    assert original.status_code == 200
    assert original.cache_control.private and original.cache_control.max_age <= ORIGINAL_MAX_AGE
    thumbnail = user.client.get(f"/photos/{photo_id}/image/thumbnail")
    assert thumbnail.cache_control.private and "no-store" not in thumbnail.headers["Cache-Control"]
    # Pages for anyone (the login page) keep their default caching.
    anonymous = user.client.application.test_client().get("/login")
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
