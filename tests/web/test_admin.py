"""The administrator's pages (/admin) and the roles behind them: the first account is the
administrator (exactly one, even under concurrent sign-ups), everyone else gets 404 on
every admin page, and an administrator disables, enables and deletes accounts and sets
quotas (with their effects: sessions, API keys, public pages, uploads).
"""

from __future__ import annotations

import re
import threading

import pytest
from bson import ObjectId

from photoshare.services import accounts
from photoshare.services.quota import human_bytes
from tests.images import make_image
from tests.support.api_clients import ApiClient, make_key

ADMIN_PAGES = ["/admin", "/admin/users", "/admin/signup", "/admin/system"]


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def bob(other_browser):
    """A second account (a user, not an administrator), logged in."""
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    return other_browser


def _admin_urls(app, some_id: str) -> list[tuple[str, str]]:
    """Every (method, URL) of the /admin blueprint, with ids filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.rule.startswith("/admin"):
            url = re.sub(r"<[^>]+>", some_id, rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                urls.append((method, url))
    return urls


def test_first_account_is_the_administrator_and_the_second_is_not(user, bob, db):
    ada, bob_doc = db.users.find_one({"email": "ada@example.com"}), db.users.find_one({"email": "bob@example.com"})
    assert ada["role"] == "admin"
    assert "role" not in bob_doc
    assert 'href="/admin/users"' in _text(user.client.get("/"))
    assert 'href="/admin/users"' not in _text(bob.client.get("/"))


def test_a_non_admin_gets_404_on_every_admin_page(app, user, bob, client, db):
    bob_id = str(db.users.find_one({"email": "bob@example.com"})["_id"])
    urls = _admin_urls(app, bob_id)
    assert len(urls) >= 12  # every page and action of the blueprint is covered
    for who, browser in (("bob", bob.client), ("logged out", app.test_client())):
        for method, url in urls:
            data = {"csrf_token": bob.token("/")} if who == "bob" and method == "POST" else {}
            response = browser.open(url, method=method, data=data)
            assert response.status_code == 404, (who, method, url, response.status_code)
    # Nothing was done on Bob's behalf (he tried to disable and delete himself).
    assert db.users.find_one({"email": "bob@example.com"}).get("disabled_at") is None
    for page in ADMIN_PAGES:
        assert user.client.get(page, follow_redirects=True).status_code == 200, page


def test_exactly_one_administrator_under_concurrent_signups(db):
    barrier = threading.Barrier(8)
    errors = []

    def sign_up(n):
        try:
            barrier.wait(timeout=10)
            accounts.register(db, f"racer{n}@example.com", "correct horse", rounds=4)
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert db.users.count_documents({}) == 8
    assert db.users.count_documents({"role": "admin"}) == 1
    claim = db.site_settings.find_one({"_id": "first_admin"})
    assert db.users.find_one({"role": "admin"})["_id"] == claim["user_id"]


def test_create_admin_command_promotes_and_creates(runner, user, bob, db):
    result = runner.invoke(args=["create-admin", "bob@example.com"])
    assert result.exit_code == 0, result.output
    assert db.users.find_one({"email": "bob@example.com"})["role"] == "admin"
    result = runner.invoke(args=["create-admin", "carol@example.com", "--password", "carol's passphrase"])
    assert result.exit_code == 0 and "new account" in result.output
    assert db.users.find_one({"email": "carol@example.com"})["role"] == "admin"
    result = runner.invoke(args=["create-admin", "not-an-email"])
    assert result.exit_code != 0 and "valid e-mail" in result.output


def test_user_list_shows_photos_storage_quota_login_and_state(user, bob, db):
    def bob_row():
        page = _text(user.client.get("/admin/users"))
        return page[page.index('data-user="bob@example.com"'):].split("</tr>")[0]

    assert "never" in bob_row()  # signed up, never logged in since
    assert bob.upload(("bob.jpg", make_image())).status_code == 303
    bob.logout()
    assert bob.login(email="bob@example.com").status_code == 303
    bob_doc = db.users.find_one({"email": "bob@example.com"})
    row = bob_row()
    assert bob_doc["storage_used"] > 0 and bob_doc["last_login_at"] is not None
    assert "<td>1</td>" in row and "/ 2.0 GB (default)" in row and ">active<" in row
    assert bob_doc["last_login_at"].strftime("%Y-%m-%d %H:%M") in row


def _post_admin(user, url, data=None):
    return user.post(url, data or {}, page="/admin/users")


def test_disable_ends_sessions_keys_and_public_pages_and_enable_restores(app, user, bob, db):
    bob_doc = db.users.find_one({"email": "bob@example.com"})
    key = make_key(db, bob_doc)
    bob_api = ApiClient(app.test_client(), key, bob_doc)
    photo = bob_api.upload(make_image()).get_json()
    assert bob_api.patch(f"/api/v1/photos/{photo['id']}", json={"visibility": "public"}).status_code == 200
    public_url = _public_page(app, photo["id"])
    visitor = app.test_client()
    assert visitor.get(public_url).status_code == 200

    response = _post_admin(user, f"/admin/users/{bob_doc['_id']}/disable")
    assert response.status_code == 303
    assert "is disabled" in _text(user.client.get("/admin/users"))
    assert bob.client.get("/account").status_code == 302  # the session ended: back to log-in
    response = bob.login(email="bob@example.com")
    assert response.status_code == 401 and "has been disabled" in _text(response)
    response = bob_api.get("/api/v1/photos")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "account_disabled"
    assert visitor.get(public_url).status_code == 404

    assert _post_admin(user, f"/admin/users/{bob_doc['_id']}/enable").status_code == 303
    assert bob_api.get("/api/v1/photos").status_code == 200
    assert visitor.get(public_url).status_code == 200
    assert bob.login(email="bob@example.com").status_code == 303


def _public_page(app, photo_id: str) -> str:
    # The public photo page of the sharing feature (/p/<id>; /s/<id> before it).
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    return f"/p/{photo_id}" if "/p/<photo_id>" in rules else f"/s/{photo_id}"


def test_administrator_cannot_disable_demote_or_delete_themselves(user, db):
    ada_id = db.users.find_one({"email": "ada@example.com"})["_id"]
    for action, data in (("disable", {}), ("role", {"role": "user"}), ("delete", {})):
        response = _post_admin(user, f"/admin/users/{ada_id}/{action}", data)
        assert response.status_code == 409, action
        assert "your own account" in _text(response)
    assert db.users.find_one({"_id": ada_id})["role"] == "admin"


def test_role_change_and_delete(user, bob, db):
    bob_id = db.users.find_one({"email": "bob@example.com"})["_id"]
    assert _post_admin(user, f"/admin/users/{bob_id}/role", {"role": "admin"}).status_code == 303
    assert bob.client.get("/admin/users").status_code == 200
    assert _post_admin(user, f"/admin/users/{bob_id}/role", {"role": "king"}).status_code == 400
    assert _post_admin(user, f"/admin/users/{bob_id}/role", {"role": "user"}).status_code == 303
    assert bob.client.get("/admin/users").status_code == 404
    assert bob.upload(("bob.jpg", make_image())).status_code == 303
    assert _post_admin(user, f"/admin/users/{bob_id}/delete").status_code == 303
    assert db.users.find_one({"_id": bob_id}) is None and db.photos.count_documents({"owner_id": bob_id}) == 0
    assert _post_admin(user, f"/admin/users/{bob_id}/delete").status_code == 404
    assert _post_admin(user, f"/admin/users/{ObjectId()}/disable").status_code == 404
    assert _post_admin(user, "/admin/users/not-an-id/disable").status_code == 404


def test_quota_refuses_web_uploads_past_it_and_the_dashboard_shows_usage(user, bob, db):
    bob_id = db.users.find_one({"email": "bob@example.com"})["_id"]
    assert bob.upload(("first.jpg", make_image())).status_code == 303
    used = db.users.find_one({"_id": bob_id})["storage_used"]
    assert used == db.photos.find_one({"owner_id": bob_id})["stored_bytes"] > 0
    # The figures come from the account document the session loaded for this request.
    assert f"Storage: {human_bytes(used)} of 2.0 GB used" in _text(bob.client.get("/"))

    assert _post_admin(user, f"/admin/users/{bob_id}/quota", {"quota_mb": "0"}).status_code == 303
    assert f"Storage: {human_bytes(used)} of 0 bytes used (100 %)" in " ".join(_text(bob.client.get("/")).split())
    response = bob.upload(("second.jpg", make_image(color=(1, 2, 3))))
    assert response.status_code == 413
    assert "storage quota is full" in _text(response)
    assert db.photos.count_documents({"owner_id": bob_id}) == 1
    assert db.users.find_one({"_id": bob_id})["storage_used"] == used  # nothing counted for the refusal
    assert _post_admin(user, f"/admin/users/{bob_id}/quota", {"quota_mb": "-5"}).status_code == 400
    assert _post_admin(user, f"/admin/users/{bob_id}/quota", {"quota_mb": "lots"}).status_code == 400

    # Deleting gives the bytes back; the default quota applies again when the field is empty.
    photo_id = db.photos.find_one({"owner_id": bob_id})["_id"]
    assert bob.post(f"/photos/{photo_id}/delete", page=f"/photos/{photo_id}").status_code == 303
    assert db.users.find_one({"_id": bob_id})["storage_used"] == 0
    assert _post_admin(user, f"/admin/users/{bob_id}/quota", {"quota_mb": ""}).status_code == 303
    assert "quota_bytes" not in db.users.find_one({"_id": bob_id})
    assert bob.upload(("third.jpg", make_image())).status_code == 303


def test_parallel_uploads_cannot_pass_the_quota_together(app, db, queue):
    from photoshare.services import photos as photo_service
    from photoshare.services.errors import UploadRejected
    import io

    owner = accounts.register(db, "racer@example.com", "correct horse", rounds=4)
    image = make_image(size=(200, 150))
    # Measure one photo's stored bytes, then allow room for exactly two more.
    first = photo_service.add_photo(db, queue, owner["_id"], "one.jpg", io.BytesIO(image), app.config,
                                    keep_both=True)
    db.users.update_one({"_id": owner["_id"]}, {"$set": {"quota_bytes": 3 * first["stored_bytes"]}})
    barrier, outcomes = threading.Barrier(6), []

    def upload():
        barrier.wait(timeout=10)
        try:
            photo_service.add_photo(db, queue, owner["_id"], "x.jpg", io.BytesIO(image), app.config,
                                    keep_both=True)  # the same bytes on purpose: a quota race
            outcomes.append("stored")
        except UploadRejected as rejected:
            outcomes.append(rejected.code)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["quota_exceeded"] * 4 + ["stored"] * 2
    user = db.users.find_one({"_id": owner["_id"]})
    assert user["storage_used"] == 3 * first["stored_bytes"] == user["quota_bytes"]
    assert db.photos.count_documents({"owner_id": owner["_id"]}) == 3


def test_only_administrators_are_offered_and_granted_admin_keys(user, bob, db):
    assert 'value="admin"' in _text(user.client.get("/account/api-keys"))
    response = user.post("/account/api-keys", {"name": "ops", "scopes": ["admin"], "expires_in_days": "7"},
                         page="/account/api-keys")
    assert response.status_code == 201
    assert 'value="admin"' not in _text(bob.client.get("/account/api-keys"))
    response = bob.post("/account/api-keys", {"name": "sneaky", "scopes": ["admin"], "expires_in_days": "7"},
                        page="/account/api-keys")
    assert response.status_code == 400 and "Only administrators" in _text(response)
    bob_id = db.users.find_one({"email": "bob@example.com"})["_id"]
    assert db.api_keys.count_documents({"owner_id": bob_id}) == 0


def test_recount_storage_counts_photos_from_before_quotas(runner, user, db):
    assert user.upload(("a.jpg", make_image())).status_code == 303
    assert user.upload(("b.jpg", make_image(color=(5, 6, 7)))).status_code == 303
    ada_id = db.users.find_one({"email": "ada@example.com"})["_id"]
    expected = sum(p["stored_bytes"] for p in db.photos.find({"owner_id": ada_id}))
    # As a store from before quotas: no counter, no stored_bytes on one photo.
    db.photos.update_one({"filename": "a.jpg"}, {"$unset": {"stored_bytes": ""}})
    db.users.update_one({"_id": ada_id}, {"$unset": {"storage_used": "", "photo_count": ""}})
    result = runner.invoke(args=["recount-storage"])
    assert result.exit_code == 0 and "1 accounts" in result.output
    ada = db.users.find_one({"_id": ada_id})
    assert ada["storage_used"] == expected and ada["photo_count"] == 2
    # The old photo now counts: deleting it gives its bytes back.
    photo = db.photos.find_one({"filename": "a.jpg"})
    assert photo["stored_bytes"] > 0
    assert user.post(f"/photos/{photo['_id']}/delete", page=f"/photos/{photo['_id']}").status_code == 303
    ada = db.users.find_one({"_id": ada_id})
    assert ada["storage_used"] == expected - photo["stored_bytes"] and ada["photo_count"] == 1


def test_an_install_from_before_roles_makes_its_oldest_account_the_administrator(app, db):
    from photoshare import repositories
    from photoshare.clock import utcnow
    from datetime import timedelta

    now = utcnow()
    old = db.users.insert_one({"email": "old@example.com", "password_hash": "x", "created_at": now - timedelta(days=9)})
    db.users.insert_one({"email": "newer@example.com", "password_hash": "x", "created_at": now})
    repositories.ensure_indexes(db)  # what start-up does
    assert db.users.find_one({"_id": old.inserted_id})["role"] == "admin"
    assert db.users.count_documents({"role": "admin"}) == 1
    repositories.ensure_indexes(db)  # idempotent
    stranger = accounts.register(db, "stranger@example.com", "correct horse", rounds=4)
    assert stranger.get("role") is None
