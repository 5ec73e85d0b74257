"""Password length (OWASP ASVS 2.1.1, level 1): at least 12 characters wherever a
password is set; accounts from before keep logging in with their shorter ones."""

from __future__ import annotations

from photoshare.services import accounts


def test_signup_refuses_eleven_characters_and_takes_twelve(browser, db):
    response = browser.signup(email="ada@example.com", password="elevenchars")
    assert response.status_code == 400 and "at least 12 characters" in response.get_data(as_text=True)
    assert db.users.count_documents({}) == 0
    assert browser.signup(email="ada@example.com", password="twelve chars").status_code == 303


def test_a_new_password_needs_twelve_characters_too(user):
    response = user.post("/account/password", {"pw-current_password": "correct horse", "pw-new_password": "elevenchars",
                                               "pw-confirm": "elevenchars"}, page="/account")
    assert response.status_code == 400 and "at least 12 characters" in response.get_data(as_text=True)


def test_an_account_from_before_keeps_its_shorter_password(browser, db):
    # Made with the old minimum of 8 (the hash stored as it was then).
    accounts.register(db, "old@example.com", "x" * 12, rounds=4)
    db.users.update_one({"email": "old@example.com"},
                        {"$set": {"password_hash": accounts.hash_password("eightchr", rounds=4)}})
    assert browser.login(email="old@example.com", password="eightchr").status_code == 303
