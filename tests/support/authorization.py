"""The world of the authorization matrix (tests/web/test_authorization_matrix.py): one
module-scoped app with an administrator, Ada (the owner) and Bob, their web sessions and
API keys (read+write, read-only, write-only, revoked, expired), Ada's public photo in a
public album, live and revoked share links, a finished export and a caption job; and
`fresh_*` objects made on demand for requests that delete or revoke."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta

import pytest

from photoshare import create_app
from photoshare.clock import utcnow
from photoshare.config import load_settings
from photoshare.services import accounts, api_keys
from photoshare.services import export as export_service
from photoshare.services import signup as signup_service
from tests.images import make_image
from tests.support.api_clients import bearer
from tests.support.common import SESSION_PREFIX
from tests.support.sessions import csrf_token_from

ACTORS = ("anonymous", "owner", "other", "admin", "read_key", "write_key", "revoked_key", "expired_key",
          "share_viewer")
PNG = make_image("PNG", size=(8, 8))
PASSWORD = "correct horse"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def matrix_app(mongo_uri, redis_url, redis_client, tmp_path_factory):
    """One app for the whole matrix (module-scoped: the world is built once)."""
    name = f"{SESSION_PREFIX}-matrix"
    folder = tmp_path_factory.mktemp("matrix")
    settings = load_settings({
        "MONGO_URI": mongo_uri, "MONGO_DBNAME": name, "REDIS_URL": redis_url, "PHOTOSHARE_PREFIX": name,
        "SECRET_KEY": "matrix-secret", "INSTANCE_PATH": str(folder / "instance"), "MEDIA_ROOT": str(folder / "media"),
        "EXPORT_DIR": str(folder / "exports"), "BCRYPT_ROUNDS": "4", "API_CAPTION_TIMEOUT_S": "0.05",
        "LOGIN_LIMIT_PER_ACCOUNT": "1000 per minute", "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
        "API_RATE_LIMIT": "10000 per minute", "SHARE_NOT_FOUND_LIMIT": "1000 per minute",
        "SHARE_PASSWORD_LIMIT_PER_ADDRESS": "1000 per minute", "SIGNUP_LIMIT_PER_ADDRESS": "1000 per minute",
        "PASSWORD_CHECK_LIMIT": "1000 per minute", "API_TOKEN_LIMIT_PER_ADDRESS": "1000 per minute",
    })
    app = create_app({**settings, "TESTING": True})
    yield app
    app.extensions["photoshare.backends"].close()
    from pymongo import MongoClient

    with MongoClient(mongo_uri) as client:
        client.drop_database(name)


class World:
    def __init__(self, app):
        self.app = app
        self.db = app.extensions["photoshare.backends"].db
        # The first account administers the install.
        self.root = accounts.register(self.db, "root@example.com", PASSWORD, "Root", rounds=4)
        self.ada = accounts.register(self.db, "ada@example.com", PASSWORD, "Ada", rounds=4, handle="ada")
        self.bob = accounts.register(self.db, "bob@example.com", PASSWORD, "Bob", rounds=4)
        self.keys = {
            "owner": self._key(self.ada, ["read", "write"]),
            "other": self._key(self.bob, ["read", "write"]),
            "admin": self._key(self.root, ["read", "write", "admin"]),
            "read_key": self._key(self.ada, ["read"]),
            "write_key": self._key(self.ada, ["write"]),
            "revoked_key": self._key(self.ada, ["read", "write"]),
            "expired_key": self._key(self.ada, ["read", "write"]),
        }
        self._revoke_and_expire()
        self.sessions = {"owner": self._login("ada@example.com"), "other": self._login("bob@example.com"),
                         "admin": self._login("root@example.com")}
        # Everyone else browses without logging in, with a session (and CSRF token) of their own.
        self.clients = {actor: self.sessions.get(actor) or self.app.test_client() for actor in ACTORS}
        self.csrf = {actor: self._csrf(client) for actor, client in self.clients.items()}
        self.photo = self._upload()
        self.album = self._api("POST", "/api/v1/albums", json={"name": "Trip"}).get_json()["id"]
        for url, data in ((f"/photos/{self.photo}/albums", {"album_id": self.album}),
                          (f"/photos/{self.photo}/visibility", {"visibility": "public"}),
                          (f"/albums/{self.album}/visibility", {"visibility": "public"})):
            assert self.web_post("owner", url, data).status_code == 303, url
        self.token = self._share({"photo_id": self.photo, "allow_download": True})["token"]
        self.album_token = self._share({"album_id": self.album})["token"]
        revoked = self._share({"photo_id": self.photo})
        self._api("DELETE", f"/api/v1/shares/{revoked['id']}")
        self.revoked_token = revoked["token"]
        self.export = self._finished_export()
        self.job = self._caption_job()

    def _key(self, user, scopes):
        new = api_keys.create_key(self.db, user["_id"], f"matrix {next(_numbers)}", scopes)
        self.key_ids = {**getattr(self, "key_ids", {}), new.secret: new.doc["_id"]}
        return new.secret

    def _revoke_and_expire(self):
        api_keys.revoke_key(self.db, self.ada["_id"], self.key_ids[self.keys["revoked_key"]])
        # An expiry in the past (the service refuses to create one): the key as it is a day later.
        self.db.api_keys.update_one({"_id": self.key_ids[self.keys["expired_key"]]},
                                    {"$set": {"expires_at": utcnow() - timedelta(days=1)}})

    def _login(self, email):
        client = self.app.test_client()
        token = self._csrf(client)
        response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 303
        return client

    @staticmethod
    def _csrf(client) -> str:
        page = "/account" if client.get("/account").status_code == 200 else "/login"
        return csrf_token_from(client.get(page).get_data(as_text=True))

    def web_post(self, actor, url, data):
        return self.clients[actor].post(url, data={**data, "csrf_token": self.csrf[actor]})

    def _api(self, method, url, key="owner", **kwargs):
        return self.app.test_client().open(url, method=method, headers=bearer(self.keys[key]), **kwargs)

    def _upload(self):
        response = self._api("POST", "/api/v1/photos", content_type="multipart/form-data",
                             data={"image": (io.BytesIO(PNG), "m.png"), "keep_both": "true"})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def _share(self, body):
        response = self._api("POST", "/api/v1/shares", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def _finished_export(self):
        export = export_service.request_export(self.db, self.app.extensions["photoshare.backends"].queue,
                                               self.app.config, self.ada["_id"])
        while export_service.build_step(self.db, self.app.config, export["_id"]):
            pass
        return str(export["_id"])

    def _caption_job(self):
        response = self._api("POST", "/api/v1/captions", content_type="multipart/form-data",
                             data={"image": (io.BytesIO(PNG), "q.png")})
        assert response.status_code == 504, response.get_json()  # no worker here: the job waits
        return response.get_json()["job_id"]

    def fill(self, text: str, actor: str) -> str:
        values = {"photo": self.photo, "album": self.album, "export": self.export, "job": self.job,
                  "token": self.token if actor == "share_viewer" else self.revoked_token,
                  "album_token": self.album_token if actor == "share_viewer" else self.revoked_token,
                  "reset_token": "x" * 43, "unique": f"matrix{next(_numbers)}"}
        for name in ("fresh_photo", "fresh_album", "fresh_share", "fresh_key", "fresh_user", "fresh_invite"):
            if "{" + name + "}" in text:
                values[name] = getattr(self, "_" + name)()
        return text.format(**values)

    def _fresh_photo(self):
        return self._upload()

    def _fresh_album(self):
        return self._api("POST", "/api/v1/albums", json={"name": f"Spare {next(_numbers)}"}).get_json()["id"]

    def _fresh_share(self):
        return self._share({"photo_id": self.photo})["id"]

    def _fresh_key(self):
        return str(api_keys.create_key(self.db, self.ada["_id"], f"spare {next(_numbers)}", ["read"]).doc["_id"])

    def _fresh_user(self):
        return str(accounts.register(self.db, f"spare{next(_numbers)}@example.com", PASSWORD, rounds=4)["_id"])

    def _fresh_invite(self):
        return str(signup_service.create_invite(self.db, self.app.config, self.root["_id"])[0]["_id"])


@pytest.fixture(scope="module")
def world(matrix_app):
    return World(matrix_app)

