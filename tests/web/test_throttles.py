"""Throttles where guessing or cost is possible (issue 11.2): failed log-ins counted
atomically (parallel requests cannot overrun the limit), the per-account lock holds only
for the address that failed, sign-ups per address, password re-entry (change password,
delete account) per account. Limits of the tests: LOGIN_LIMIT_PER_ACCOUNT "3 per 15
minutes", LOGIN_LIMIT_PER_ADDRESS "5 per 15 minutes" (tests/conftest.py)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

from photoshare import create_app
from tests.support.common import serving
from tests.support.sessions import Browser, csrf_token_from


@pytest.fixture
def served(app):
    """The test's app over real HTTP (a threaded server: requests really run at once)."""
    with serving(app) as url:
        yield url


def _browser_at(app, address: str) -> Browser:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Browser(client)


def _all_at_once(attempts: int, send) -> Counter:
    """Run `send(number)` from `attempts` threads released together; count the statuses."""
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []

    def one(number: int) -> None:
        barrier.wait(timeout=20)
        statuses.append(send(number).status_code)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return Counter(statuses)


def _form_session(url: str) -> tuple[dict, str]:
    visitor = requests.Session()
    token = csrf_token_from(visitor.get(url, timeout=10).text)
    return visitor.cookies.get_dict(), token


def test_parallel_wrong_passwords_cannot_overrun_the_account_limit(user, served):
    user.logout()
    cookies, token = _form_session(f"{served}/login")
    statuses = _all_at_once(12, lambda n: requests.post(
        f"{served}/login", data={"email": "ada@example.com", "password": f"guess {n}", "csrf_token": token},
        cookies=cookies, timeout=30, allow_redirects=False))
    # Exactly the limit's worth of passwords was checked; every other guess was refused.
    assert statuses == {401: 3, 429: 9}, statuses


def test_parallel_basic_auth_guesses_on_the_api_cannot_overrun_the_limit(user, served):
    # API_TOKEN_LIMIT_PER_ACCOUNT follows LOGIN_LIMIT_PER_ACCOUNT: 3 per 15 minutes here.
    statuses = _all_at_once(12, lambda n: requests.post(
        f"{served}/api/v1/tokens", json={"name": "k", "scopes": ["read"]},
        auth=("ada@example.com", f"guess {n}"), timeout=30))
    assert statuses == {401: 3, 429: 9}, statuses


def test_parallel_share_password_guesses_cannot_overrun_the_limit(app, user, db, served):
    # SHARE_PASSWORD_LIMIT_PER_ADDRESS defaults to 10 per 15 minutes.
    from tests.support.sharing import make_link, upload_captioned

    photo = upload_captioned(user, db, "a dog on a beach")
    _, link = make_link(user, photo_id=photo["_id"], password="open sesame")
    cookies, token = _form_session(f"{served}/s/{link}")
    statuses = _all_at_once(16, lambda n: requests.post(
        f"{served}/s/{link}", data={"password": f"guess {n}", "csrf_token": token}, cookies=cookies, timeout=30,
        allow_redirects=False))
    assert statuses == {401: 10, 429: 6}, statuses


def test_a_throttled_login_says_when_to_come_back(user):
    user.logout()
    for _ in range(3):
        assert user.login(password="wrong password").status_code == 401
    response = user.login(password="wrong password")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(app, user):
    user.logout()
    attacker = _browser_at(app, "203.0.113.9")
    for _ in range(3):
        assert attacker.login(password="wrong password").status_code == 401
    locked = attacker.login(password="wrong password")
    assert locked.status_code == 429 and "attempts for this account" in locked.get_data(as_text=True)
    assert attacker.login().status_code == 429  # locked: even the right password waits there
    # The owner, from their own address, logs in as usual.
    assert user.login().status_code == 303


def test_a_successful_login_gives_its_attempt_back(user):
    user.logout()
    for _ in range(2):
        assert user.login(password="wrong password").status_code == 401
    for _ in range(3):
        assert user.login().status_code == 303
        user.logout()
    assert user.login(password="wrong password").status_code == 401  # the third failure, still allowed


@pytest.fixture
def strict_app(settings):
    app = create_app({**settings, "TESTING": True, "SIGNUP_LIMIT_PER_ADDRESS": "2 per hour",
                      "PASSWORD_CHECK_LIMIT": "2 per 15 minutes"})
    yield app
    app.extensions["photoshare.backends"].close()


def test_signups_are_throttled_per_address(strict_app, db):
    first, second, third = (_browser_at(strict_app, "198.51.100.1") for _ in range(3))
    assert first.signup(email="a1@example.com").status_code == 303
    assert second.signup(email="a2@example.com", password="short").status_code == 400  # counts: a cost
    response = third.signup(email="a3@example.com")
    assert response.status_code == 429 and "Too many sign-ups" in response.get_data(as_text=True)
    assert strict_app.extensions["photoshare.backends"].db.users.count_documents({}) == 1
    # Another address may still sign up.
    assert _browser_at(strict_app, "198.51.100.2").signup(email="a4@example.com").status_code == 303


def _change_password(browser, current: str, new: str = "battery staple"):
    return browser.post("/account/password", {"pw-current_password": current, "pw-new_password": new,
                                              "pw-confirm": new}, page="/account")


def test_password_changes_are_throttled_per_account(strict_app):
    ada = Browser(strict_app.test_client())
    assert ada.signup().status_code == 303
    assert _change_password(ada, "correct horse", new="short").status_code == 400  # not a guess: not counted
    for _ in range(2):
        assert _change_password(ada, "wrong password").status_code == 400
    response = _change_password(ada, "correct horse")
    assert response.status_code == 429 and "Too many wrong passwords" in response.get_data(as_text=True)
    ada.logout()
    assert ada.login().status_code == 303  # the password did not change


def test_account_deletion_is_throttled_per_account(strict_app):
    ada = Browser(strict_app.test_client())
    assert ada.signup().status_code == 303
    db = strict_app.extensions["photoshare.backends"].db
    for _ in range(2):
        assert ada.post("/account/delete", {"del-password": "wrong password"}, page="/account").status_code == 400
    response = ada.post("/account/delete", {"del-password": "correct horse"}, page="/account")
    assert response.status_code == 429
    assert db.users.count_documents({}) == 1


def test_an_attempt_on_two_counters_is_counted_on_both_or_on_neither(app):
    # A log-in counts per (account, address) and per address: when the second counter is
    # full, the first must not keep the refused attempt (else refusals would lock it too).
    import uuid

    from photoshare.throttling import take_attempt, take_attempts

    first, second = ("pair", uuid.uuid4().hex, "3 per minute"), ("address", uuid.uuid4().hex, "1 per minute")
    with app.app_context():
        assert take_attempts(first, second)
        refused = take_attempts(first, second)
        assert not refused and refused.refused_scope == "address" and refused.retry_after > 0
        # The first counter holds one attempt, not two: two more fit under its limit of 3.
        assert take_attempt(*first) and take_attempt(*first) and not take_attempt(*first)
        # A right password gives back the attempt on every counter.
        other = ("pair", uuid.uuid4().hex, "1 per minute")
        right = take_attempts(other, ("address", uuid.uuid4().hex, "1 per minute"))
        right.refund()
        assert take_attempt(*other)
