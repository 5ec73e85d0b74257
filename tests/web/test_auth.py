"""Accounts: sign-up, log-in, log-out, CSRF, throttling, session cookie, account page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from photoshare import create_app
from photoshare.embedded_store import free_port
from photoshare.services import accounts
from tests.images import make_image
from tests.support.storage import stored_keys


def _text(response) -> str:
    return response.get_data(as_text=True)


# -- Sign-up ----------------------------------------------------------------------

def test_signup_page_has_the_fields_and_a_csrf_token(client):
    page = _text(client.get("/signup"))
    for name in ("email", "password", "confirm", "name", "csrf_token"):
        assert f'name="{name}"' in page


def test_signup_creates_a_bcrypt_hashed_account_with_normalised_email(browser, db):
    response = browser.signup(email="  Ada@Example.COM ", password="correct horse")
    assert response.status_code == 303
    user = db.users.find_one({"email": "ada@example.com"})
    assert user is not None and user["name"] == "Ada"
    assert user["password_hash"].startswith("$2")  # bcrypt
    assert "correct horse" not in str(user)
    assert browser.client.get("/").status_code == 200
    assert "Your photos" in _text(browser.client.get("/"))


def test_signup_name_is_optional(browser, db):
    assert browser.signup(email="noname@example.com", name="").status_code == 303
    assert db.users.find_one({"email": "noname@example.com"})["name"] is None


@pytest.mark.parametrize("email, password, confirm, message", [
    ("", "correct horse", "correct horse", "Enter your e-mail address."),
    ("not-an-email", "correct horse", "correct horse", "Enter a valid e-mail address"),
    ("bob@example.com", "short", "short", "at least 12 characters"),
    ("bob@example.com", "correct horse", "other horse", "The two passwords differ."),
    ("bob@example.com", "", "", "Choose a password."),
])
def test_signup_refuses_invalid_input_with_a_clear_message(browser, db, email, password, confirm, message):
    response = browser.post("/signup", {"email": email, "password": password, "confirm": confirm},
                            page="/signup")
    assert response.status_code == 400
    assert message in _text(response)
    assert db.users.count_documents({}) == 0


def test_signup_refuses_a_duplicate_email_whatever_its_case(browser, other_browser, db):
    assert browser.signup(email="ada@example.com").status_code == 303
    response = other_browser.signup(email="ADA@example.com ")
    assert response.status_code == 400
    assert "already exists" in _text(response)
    assert db.users.count_documents({}) == 1


def test_long_passphrases_count_beyond_72_bytes(db):
    # bcrypt alone reads only 72 bytes; the service pre-hashes so that every byte matters.
    base = "x" * 80
    user = accounts.register(db, "long@example.com", base + "A", rounds=4)
    assert accounts.authenticate(db, "long@example.com", base + "A", rounds=4)["_id"] == user["_id"]
    with pytest.raises(accounts.AuthenticationFailed):
        accounts.authenticate(db, "long@example.com", base + "B", rounds=4)


# -- Log-in and log-out -----------------------------------------------------------

def test_login_and_logout(browser, other_browser):
    browser.signup()
    other = other_browser
    response = other.login(email="ADA@example.com", password="correct horse")
    assert response.status_code == 303
    assert other.client.get("/").status_code == 200 and "Your photos" in _text(other.client.get("/"))
    assert other.logout().status_code == 303
    response = other.client.get("/albums")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("email, password", [
    ("ada@example.com", "wrong password"),
    ("nobody@example.com", "correct horse"),
])
def test_login_refuses_wrong_credentials_without_saying_which(browser, other_browser, email, password):
    browser.signup()
    response = other_browser.login(email=email, password=password)
    assert response.status_code == 401
    assert "Wrong e-mail address or password." in _text(response)
    assert "Your photos" not in _text(other_browser.client.get("/"))


def test_login_redirects_only_to_local_paths(browser, other_browser):
    browser.signup()
    token = other_browser.token()
    data = {"email": "ada@example.com", "password": "correct horse", "csrf_token": token}
    response = other_browser.client.post("/login?next=https://evil.example/", data=data)
    assert response.headers["Location"] == "/"
    other_browser.logout()
    data["csrf_token"] = other_browser.token()
    response = other_browser.client.post("/login?next=/albums", data=data)
    assert response.headers["Location"] == "/albums"


# Each would send the browser to another host (werkzeug drops the tab of the first:
# `Location: //evil.example/`, a scheme-relative URL).
OFF_SITE_TARGETS = ["/\t/evil.example/", "/\n/evil.example/", "//evil.example/", "///evil.example/",
                    "/\\evil.example/", "https://evil.example/", "javascript:alert(1)", "evil.example", "/\x00/x"]


@pytest.mark.parametrize("target", OFF_SITE_TARGETS)
def test_login_never_redirects_off_site(browser, other_browser, target):
    from urllib.parse import quote

    browser.signup()
    data = {"email": "ada@example.com", "password": "correct horse", "csrf_token": other_browser.token()}
    response = other_browser.client.post(f"/login?next={quote(target, safe='')}", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_safe_local_path_keeps_paths_with_queries():
    from photoshare.safe_urls import safe_local_path

    assert safe_local_path("/photos/abc?page=2#top") == "/photos/abc?page=2#top"
    assert safe_local_path("/a:b") == "/a:b"
    for target in OFF_SITE_TARGETS + ["", None, " /albums"]:
        assert safe_local_path(target) is None, target


def test_logout_needs_a_post_with_csrf_token(user):
    page = user.client.get("/logout")
    assert page.status_code == 200 and "Log out of ada@example.com" in _text(page)
    assert user.client.get("/albums").status_code == 200  # GET did not log out
    response = user.client.post("/logout", data={})
    assert response.status_code == 400
    assert user.client.get("/albums").status_code == 200


# -- CSRF -------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/signup", "/login", "/upload", "/albums", "/account/password",
                                 "/account/delete"])
def test_forms_without_csrf_token_are_refused(user, db, url):
    response = user.client.post(url, data={"email": "eve@example.com", "password": "x" * 10,
                                            "confirm": "x" * 10, "name": "Eve"})
    assert response.status_code == 400
    assert "This form has expired or did not come from this site." in _text(response)
    assert db.users.count_documents({}) == 1 and db.albums.count_documents({}) == 0


def test_a_forged_csrf_token_is_refused(user, db):
    response = user.client.post("/albums", data={"name": "Holiday", "csrf_token": "forged"})
    assert response.status_code == 400
    assert db.albums.count_documents({}) == 0


def test_csrf_refusal_is_json_for_json_clients(user):
    response = user.client.post("/albums", data={"name": "x"}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


# -- Throttling -------------------------------------------------------------------

def test_failed_logins_are_throttled_per_account(browser, app):
    # LOGIN_LIMIT_PER_ACCOUNT is "3 per 15 minutes" in the tests.
    browser.signup()
    browser.logout()
    for _ in range(3):
        assert browser.login(password="wrong password").status_code == 401
    response = browser.login(password="correct horse")  # even the right password waits
    assert response.status_code == 429
    assert "Too many failed log-in attempts for this account" in _text(response)
    assert 'name="email"' in _text(response)  # shown on the login page itself
    # Another account from the same address is not affected (address limit is 5).
    other = browser.signup(email="bob@example.com")
    assert other.status_code == 303


def test_failed_logins_are_throttled_per_address(browser):
    # LOGIN_LIMIT_PER_ADDRESS is "5 per 15 minutes": five different accounts guessed.
    for number in range(5):
        assert browser.login(email=f"user{number}@example.com").status_code == 401
    response = browser.login(email="someone-else@example.com")
    assert response.status_code == 429
    assert "from your network address" in _text(response)


def test_successful_logins_do_not_count_towards_the_limit(browser):
    browser.signup()
    for _ in range(5):
        browser.logout()
        assert browser.login().status_code == 303


def test_throttling_counters_live_in_redis_under_the_deployment_prefix(browser, app, redis_client):
    browser.login(password="wrong password")
    keys = list(redis_client.scan_iter(match=f"*{app.config['PHOTOSHARE_PREFIX']}-limiter*"))
    assert keys


def test_login_still_works_when_redis_is_down(settings):
    # Throttling falls back to memory rather than locking everyone out.
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({**settings, "REDIS_URL": dead})
    try:
        from tests.support.sessions import Browser

        browser = Browser(app.test_client())
        assert browser.signup().status_code == 303
        browser.logout()
        assert browser.login(password="wrong password").status_code == 401
        assert browser.login().status_code == 303
    finally:
        app.extensions["photoshare.backends"].close()


# -- Session cookie -----------------------------------------------------------------

def _session_cookie_header(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_session_cookie_is_httponly_and_samesite_lax(browser):
    response = browser.signup()
    header = _session_cookie_header(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header


def test_session_cookie_is_secure_when_configured(settings):
    app = create_app({**settings, "SESSION_COOKIE_SECURE": True, "REMEMBER_COOKIE_SECURE": True})
    try:
        from tests.support.sessions import Browser

        response = Browser(app.test_client()).signup()
        assert "Secure" in _session_cookie_header(response)
    finally:
        app.extensions["photoshare.backends"].close()


# -- Account page ---------------------------------------------------------------------

def test_account_page_needs_login(client):
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_change_password(user, other_browser):
    other_browser.login()  # a second session of the same account
    assert other_browser.client.get("/albums").status_code == 200
    response = user.post("/account/password", {"pw-current_password": "correct horse",
                                                "pw-new_password": "battery staple",
                                                "pw-confirm": "battery staple"}, page="/account")
    assert response.status_code == 303
    assert user.client.get("/albums").status_code == 200  # this session stays logged in
    # ...the other session is logged out, and the old password no longer works.
    assert other_browser.client.get("/albums").status_code == 302
    assert other_browser.login(password="correct horse").status_code == 401
    assert other_browser.login(password="battery staple").status_code == 303


def test_change_password_revokes_the_accounts_api_keys(user, db, app):
    from photoshare.services import api_keys
    from tests.support.api_clients import ApiClient

    owner = db.users.find_one({"email": "ada@example.com"})["_id"]
    secrets = [api_keys.create_key(db, owner, name, ["read"]).secret for name in ("laptop", "backup")]
    bob = accounts.register(db, "bob@example.com", "correct horse", rounds=4)
    bobs = api_keys.create_key(db, bob["_id"], "bob's", ["read"]).secret
    api = ApiClient(app.test_client(), secrets[0], None)
    assert api.get("/api/v1/photos").status_code == 200

    response = user.post("/account/password", {"pw-current_password": "correct horse",
                                                "pw-new_password": "battery staple",
                                                "pw-confirm": "battery staple"}, page="/account")
    assert response.status_code == 303
    assert "your API keys have been revoked" in _text(user.client.get("/account"))
    for secret in secrets:
        answer = api.as_key(secret).get("/api/v1/photos")
        assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "api_key_revoked"
    assert {api_keys.key_state(key) for key in api_keys.list_keys(db, owner)} == {"revoked"}
    assert api.as_key(bobs).get("/api/v1/photos").status_code == 200  # other accounts keep theirs


@pytest.mark.parametrize("current, new, confirm, message", [
    ("wrong password", "battery staple", "battery staple", "The current password is wrong."),
    ("correct horse", "short", "short", "at least 12 characters"),
    ("correct horse", "battery staple", "battery stapler", "The two passwords differ."),
])
def test_change_password_refusals(user, db, current, new, confirm, message):
    before = db.users.find_one()["password_hash"]
    response = user.post("/account/password", {"pw-current_password": current, "pw-new_password": new,
                                                "pw-confirm": confirm}, page="/account")
    assert response.status_code == 400
    assert message in _text(response)
    assert db.users.find_one()["password_hash"] == before


def test_delete_account_deletes_photos_files_and_albums(user, other_browser, db):
    other_browser.signup(email="bob@example.com")
    other_browser.upload(("bob.png", make_image("PNG")))
    assert user.upload(("a.jpg", make_image()), ("b.png", make_image("PNG"))).status_code == 303
    user.post("/albums", {"name": "Holiday"}, page="/albums")
    assert len(stored_keys(db)) == 9
    response = user.post("/account/delete", {"del-password": "correct horse"}, page="/account")
    assert response.status_code == 303
    ada = {"email": "ada@example.com"}
    assert db.users.count_documents(ada) == 0
    assert db.albums.count_documents({}) == 0
    assert db.photos.count_documents({}) == 1  # Bob's
    assert len(stored_keys(db)) == 3
    assert user.client.get("/albums").status_code == 302
    assert user.login().status_code == 401


def test_an_upload_storing_while_the_account_is_deleted_leaves_nothing(user, db, queue, app, monkeypatch):
    # The upload has passed its checks and is writing files when the account is deleted:
    # it notices once its photo is stored, and removes what it stored.
    import io

    from photoshare.repositories import photo_files
    from photoshare.services import photos

    owner = db.users.find_one()["_id"]
    real_put, writes = photo_files.put, []

    def put_while_the_account_is_deleted(*args, **kwargs):
        writes.append(args)
        if len(writes) == 3:
            summary = accounts.delete_account(db, owner, "correct horse")
            assert summary.photos == 0
        return real_put(*args, **kwargs)

    monkeypatch.setattr(photo_files, "put", put_while_the_account_is_deleted)
    with pytest.raises(accounts.AccountClosed):
        photos.add_photo(db, queue, owner, "late.jpg", io.BytesIO(make_image()), app.config)
    assert db.users.count_documents({}) == 0
    assert db.photos.count_documents({}) == 0 and len(stored_keys(db)) == 0
    assert queue.count == 0


def test_an_interrupted_account_deletion_closes_the_account_first(user, db, queue, app, monkeypatch):
    import io

    from photoshare.services import api_keys, photos, reconciliation
    from tests.support.api_clients import ApiClient

    assert user.upload(("a.jpg", make_image())).status_code == 303
    owner = db.users.find_one()["_id"]
    key = api_keys.create_key(db, owner, "script", ["read", "write"]).secret

    def crash(*args):
        raise ConnectionError("the web process died here")

    monkeypatch.setattr(accounts, "purge_account", crash)
    assert user.post("/account/delete", {"del-password": "correct horse"}, page="/account").status_code == 500
    monkeypatch.undo()
    # Closed: sessions, keys, log-in and uploads are over, though the content is still there.
    assert db.photos.count_documents({}) == 1
    assert user.client.get("/albums").status_code == 302
    assert ApiClient(app.test_client(), key, None).get("/api/v1/photos").status_code == 401
    assert db.api_keys.count_documents({}) == 0
    assert user.login().status_code == 401
    with pytest.raises(accounts.AccountClosed):
        photos.add_photo(db, queue, owner, "b.jpg", io.BytesIO(make_image()), app.config)
    assert db.photos.count_documents({}) == 1

    # The reconciliation finishes the deletion once it is old enough.
    later = datetime.now(UTC) + timedelta(minutes=app.config["ORPHAN_MIN_AGE_MINUTES"] + 1)
    assert reconciliation.sweep_orphans(db, app.config).accounts_deleted == 0
    assert reconciliation.sweep_orphans(db, app.config, now=later).accounts_deleted == 1
    assert db.users.count_documents({}) == 0 and db.photos.count_documents({}) == 0
    assert len(stored_keys(db)) == 0


def test_delete_account_needs_the_password(user, db):
    response = user.post("/account/delete", {"del-password": "wrong password"}, page="/account")
    assert response.status_code == 400
    assert "The password is wrong." in _text(response)
    assert db.users.count_documents({}) == 1
