"""Authorization matrix (issue 11.5): every URL rule of the app (pages and API) × every
kind of caller, each cell a real request with real ids, checked against one table.

A rule missing from ROUTES fails the test (a new route must say who may use it), and so
does an entry for a rule that no longer exists. Classes of answer:

    ok      the caller was let in: 2xx, a redirect other than to the log-in page, or a
            validation answer of the handler itself (400, 409, 422)
    login   not authenticated: 401, or a redirect to /login
    hidden  authenticated (or not) but not allowed: 403 or 404
    public  a page for anyone: any answer of its handler (not a 500 or a throttle)

A *leak* is a cell expected `login` or `hidden` that answered `ok`. Every caller's form
posts carry a valid CSRF token of its own session (so the answer is about who it is, not
about the token); throttles are raised out of the way. Which
photos, albums and accounts are visible to whom by visibility is
tests/web/test_visibility_matrix.py; here the question is only who gets in where.
"""

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
from tests.support.api_clients import basic, bearer
from tests.support.common import SESSION_PREFIX
from tests.support.sessions import csrf_token_from

ACTORS = ("anonymous", "owner", "other", "admin", "read_key", "write_key", "revoked_key", "expired_key",
          "share_viewer")
CLASS = {"o": "ok", "L": "login", "H": "hidden", "p": "public"}

# Profiles: one letter per actor, in ACTORS order. On web pages the key actors are
# anonymous (keys open only the API); on the API the session actors use their own keys
# (owner: Ada read+write, other: Bob read+write, admin: root read+write+admin) and
# anonymous and the share viewer send nothing.
PUBLIC = "ppppppppp"          # anyone: whatever the handler answers (a wrong password's 401 too)
WEB_SELF = "LoooLLLLL"       # a logged-in person's own pages
WEB_ADA = "LoHHLLLLL"        # Ada's photo, album, key, link, export
WEB_ADMIN = "HHHoHHHHH"      # administrators only; 404 for everyone else
API_LIST = "LooooHLLL"       # read scope, the caller's own things
API_CREATE = "LoooHoLLL"     # write scope, the caller's own things
API_READ_ADA = "LoHHoHLLL"   # read scope, Ada's object
API_WRITE_ADA = "LoHHHoLLL"  # write scope, Ada's object
API_ADMIN = "LHHoHHLLL"      # admin scope, administrators only
SHARE = "HHHHHHHHo"          # /s/<token>: only whoever holds a live token (the others try a revoked one)
HIDDEN = "HHHHHHHHH"

PNG = make_image("PNG", size=(8, 8))

# (endpoint, method) -> (URL, request body or None, profile). Placeholders are filled from
# the world below; `fresh_*` makes a new object of Ada's (or a new account) for that one
# request, so that deleting and revoking leave the world intact.
ROUTES = {
    ("static", "GET"): ("/static/style.css", None, PUBLIC),
    ("auth.signup", "GET"): ("/signup", None, PUBLIC),
    ("auth.signup", "POST"): ("/signup", {"email": "x@example.com", "password": "short", "confirm": "short"}, PUBLIC),
    ("auth.login", "GET"): ("/login", None, PUBLIC),
    ("auth.login", "POST"): ("/login", {"email": "nobody@example.com", "password": "wrong password"}, PUBLIC),
    ("auth.logout", "GET"): ("/logout", None, PUBLIC),
    ("auth.logout", "POST"): ("/logout", {}, PUBLIC),  # a session of its own (see _request)
    ("password.forgot", "GET"): ("/forgot-password", None, PUBLIC),
    ("password.forgot", "POST"): ("/forgot-password", {"email": "{unique}@example.com"}, PUBLIC),
    ("password.reset", "GET"): ("/reset-password/{reset_token}", None, PUBLIC),
    ("password.reset", "POST"): ("/reset-password/{reset_token}", {"password": "x", "confirm": "y"}, PUBLIC),
    ("health.healthz", "GET"): ("/healthz", None, PUBLIC),
    ("health.live", "GET"): ("/healthz/live", None, PUBLIC),
    ("metrics.scrape", "GET"): ("/metrics", None, PUBLIC),  # loopback callers (the test client is 127.0.0.1)
    ("apidocs.docs", "GET"): ("/api/docs", None, PUBLIC),
    ("api-docs.openapi_json", "GET"): ("/api/v1/openapi.json", None, PUBLIC),
    # Public pages of Ada's public photo and album.
    ("profiles.explore", "GET"): ("/explore", None, PUBLIC),
    ("profiles.profile", "GET"): ("/u/ada", None, PUBLIC),
    ("profiles.photo", "GET"): ("/p/{photo}", None, PUBLIC),
    ("profiles.photo_image", "GET"): ("/p/{photo}/image/thumbnail", None, PUBLIC),
    ("profiles.album", "GET"): ("/a/{album}", None, PUBLIC),
    ("profiles.album_photo_image", "GET"): ("/a/{album}/photos/{photo}/image/thumbnail", None, PUBLIC),
    # Share links.
    ("sharing.shared", "GET"): ("/s/{token}", None, SHARE),
    ("sharing.shared", "POST"): ("/s/{token}", {"password": "guess"}, SHARE),
    ("sharing.image", "GET"): ("/s/{token}/image/thumbnail", None, SHARE),
    ("sharing.original", "GET"): ("/s/{token}/original", None, SHARE),
    ("sharing.album_photo_image", "GET"): ("/s/{album_token}/photos/{photo}/image/thumbnail", None, SHARE),
    # A logged-in person's own pages.
    ("gallery.index", "GET"): ("/", None, PUBLIC),  # anonymous: the landing page, no photo of anyone's
    ("gallery.albums", "GET"): ("/albums", None, WEB_SELF),
    ("gallery.create_album", "POST"): ("/albums", {"name": "{unique}"}, WEB_SELF),
    ("gallery.upload", "POST"): ("/upload", "upload", WEB_SELF),
    ("gallery.bulk", "POST"): ("/photos/bulk", {"action": "delete"}, WEB_SELF),
    ("auth.account", "GET"): ("/account", None, WEB_SELF),
    ("auth.change_password", "POST"): ("/account/password", {"pw-current_password": "wrong password",
                                                             "pw-new_password": "battery staple",
                                                             "pw-confirm": "battery staple"}, WEB_SELF),
    ("auth.delete_account", "POST"): ("/account/delete", {"del-password": "wrong password"}, WEB_SELF),
    ("profiles.set_handle", "POST"): ("/account/handle", {"handle": "!"}, WEB_SELF),
    ("api_keys.index", "GET"): ("/account/api-keys", None, WEB_SELF),
    ("api_keys.create", "POST"): ("/account/api-keys", {"name": "k", "scopes": "read"}, WEB_SELF),
    ("account_export.index", "GET"): ("/account/export", None, WEB_SELF),
    ("account_export.start", "POST"): ("/account/export", {}, WEB_SELF),
    ("account_export.status", "GET"): ("/account/export/status", None, WEB_SELF),
    ("share_links.index", "GET"): ("/shares", None, WEB_SELF),
    # Ada's things, through the website.
    ("gallery.grid_page", "GET"): ("/photos/grid?album={album}", None, WEB_ADA),  # another's album: 404
    ("gallery.photo", "GET"): ("/photos/{photo}", None, WEB_ADA),
    ("gallery.photo_image", "GET"): ("/photos/{photo}/image/original", None, WEB_ADA),
    ("gallery.photo_status", "GET"): ("/photos/{photo}/status", None, WEB_ADA),
    ("gallery.edit_caption", "POST"): ("/photos/{photo}/caption", {"caption": "edited"}, WEB_ADA),
    ("gallery.recaption", "POST"): ("/photos/{photo}/recaption", {}, WEB_ADA),
    ("gallery.set_visibility", "POST"): ("/photos/{photo}/visibility", {"visibility": "public"}, WEB_ADA),
    ("gallery.add_to_album", "POST"): ("/photos/{photo}/albums", {"album_id": "{album}"}, WEB_ADA),
    ("gallery.remove_from_album", "POST"): ("/photos/{fresh_photo}/albums/{album}/remove", {}, WEB_ADA),
    ("gallery.delete_photo", "POST"): ("/photos/{fresh_photo}/delete", {}, WEB_ADA),
    ("share_links.shared_details", "POST"): ("/photos/{photo}/shared-details", {}, WEB_ADA),
    ("gallery.album", "GET"): ("/albums/{album}", None, WEB_ADA),
    ("gallery.rename_album", "POST"): ("/albums/{album}/rename", {"name": "Renamed"}, WEB_ADA),
    ("gallery.delete_album", "POST"): ("/albums/{fresh_album}/delete", {}, WEB_ADA),
    ("share_links.album_visibility", "POST"): ("/albums/{album}/visibility", {"visibility": "public"}, WEB_ADA),
    ("share_links.create", "POST"): ("/shares", {"photo_id": "{photo}"}, WEB_ADA),
    ("share_links.revoke", "POST"): ("/shares/{fresh_share}/revoke", {}, WEB_ADA),
    ("api_keys.revoke", "POST"): ("/account/api-keys/{fresh_key}/revoke", {}, WEB_ADA),
    ("account_export.download", "GET"): ("/account/export/{export}/download", None, WEB_ADA),
    # Administration pages.
    ("admin.index", "GET"): ("/admin", None, WEB_ADMIN),
    ("admin.users", "GET"): ("/admin/users", None, WEB_ADMIN),
    ("admin.system_page", "GET"): ("/admin/system", None, WEB_ADMIN),
    ("admin.signup_settings", "GET"): ("/admin/signup", None, WEB_ADMIN),
    ("admin.set_policy", "POST"): ("/admin/signup/policy", {"policy": "open"}, WEB_ADMIN),
    ("admin.create_invite", "POST"): ("/admin/invites", {}, WEB_ADMIN),
    ("admin.revoke_invite", "POST"): ("/admin/invites/{fresh_invite}/revoke", {}, WEB_ADMIN),
    ("admin.recaption_outdated", "POST"): ("/admin/system/recaption-outdated", {}, WEB_ADMIN),
    ("admin.retry_failed", "POST"): ("/admin/system/retry-failed", {}, WEB_ADMIN),
    ("admin.delete_user", "POST"): ("/admin/users/{fresh_user}/delete", {}, WEB_ADMIN),
    ("admin.disable_user", "POST"): ("/admin/users/{fresh_user}/disable", {}, WEB_ADMIN),
    ("admin.enable_user", "POST"): ("/admin/users/{fresh_user}/enable", {}, WEB_ADMIN),
    ("admin.set_quota", "POST"): ("/admin/users/{fresh_user}/quota", {"quota_mb": "10"}, WEB_ADMIN),
    ("admin.reset_link", "POST"): ("/admin/users/{fresh_user}/reset-link", {}, WEB_ADMIN),
    ("admin.set_role", "POST"): ("/admin/users/{fresh_user}/role", {"role": "user"}, WEB_ADMIN),
    # The REST API.
    ("photos.list_photos", "GET"): ("/api/v1/photos", None, API_LIST),
    ("photos.upload", "POST"): ("/api/v1/photos", "upload", API_CREATE),
    ("photos.photo", "GET"): ("/api/v1/photos/{photo}", None, API_READ_ADA),
    ("photos.image", "GET"): ("/api/v1/photos/{photo}/image?size=thumb", None, API_READ_ADA),
    ("photos.update_photo", "PATCH"): ("/api/v1/photos/{photo}", {"caption": "edited"}, API_WRITE_ADA),
    ("photos.recaption", "POST"): ("/api/v1/photos/{photo}/recaption", None, API_WRITE_ADA),
    ("photos.delete_photo", "DELETE"): ("/api/v1/photos/{fresh_photo}", None, API_WRITE_ADA),
    ("albums.list_albums", "GET"): ("/api/v1/albums", None, API_LIST),
    ("albums.create_album", "POST"): ("/api/v1/albums", {"name": "{unique}"}, API_CREATE),
    ("albums.album", "GET"): ("/api/v1/albums/{album}", None, API_READ_ADA),
    ("albums.rename_album", "PATCH"): ("/api/v1/albums/{album}", {"name": "Renamed"}, API_WRITE_ADA),
    ("albums.delete_album", "DELETE"): ("/api/v1/albums/{fresh_album}", None, API_WRITE_ADA),
    ("shares.list_shares", "GET"): ("/api/v1/shares", None, API_LIST),
    ("shares.create_share", "POST"): ("/api/v1/shares", {"photo_id": "{photo}"}, API_WRITE_ADA),
    ("shares.revoke_share", "DELETE"): ("/api/v1/shares/{fresh_share}", None, API_WRITE_ADA),
    ("captions.caption", "POST"): ("/api/v1/captions", {}, API_LIST),  # no image: 422 once let in
    ("captions.caption_job", "GET"): ("/api/v1/captions/{job}", None, API_READ_ADA),
    ("tokens.list_tokens", "GET"): ("/api/v1/tokens", None, API_LIST),
    # Key creation takes only the password (HTTP Basic): the session actors send theirs.
    ("tokens.create_token", "POST"): ("/api/v1/tokens", {"name": "k", "scopes": ["read"]}, "LoooLLLLL"),
    ("tokens.revoke_token", "DELETE"): ("/api/v1/tokens/{fresh_key}", None, API_WRITE_ADA),
    ("admin_api.list_users", "GET"): ("/api/v1/admin/users", None, API_ADMIN),
    ("admin_api.update_user", "PATCH"): ("/api/v1/admin/users/{fresh_user}", {"role": "user"}, API_ADMIN),
    ("admin_api.update_settings", "PATCH"): ("/api/v1/admin/settings", {"signup_policy": "open"}, API_ADMIN),
    ("admin_api.create_invite", "POST"): ("/api/v1/admin/invites", {}, API_ADMIN),
    ("admin_api.stats", "GET"): ("/api/v1/admin/stats", None, API_ADMIN),
}

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


def _request(world: World, endpoint: str, method: str, url: str, body, actor: str):
    url = world.fill(url, actor)
    api = url.startswith("/api/")
    headers, client, token = {}, world.clients[actor], world.csrf[actor]
    if api and actor in world.keys:
        headers = bearer(world.keys[actor])
    if endpoint == "tokens.create_token":
        email = {"owner": "ada", "other": "bob", "admin": "root"}.get(actor)
        headers = basic(f"{email}@example.com", PASSWORD) if email else headers
    if endpoint == "auth.logout" and method == "POST" and actor in world.sessions:
        # Logging out ends the session: that cell uses a session of its own.
        client = world._login(f"{ {'owner': 'ada', 'other': 'bob', 'admin': 'root'}[actor] }@example.com")
        token = world._csrf(client)
    kwargs = {}
    if body == "upload":
        field = "image" if api else "images"
        extra = {"keep_both": "true"} if api else {"csrf_token": token}
        kwargs = {"data": {field: (io.BytesIO(PNG), "u.png"), **extra}, "content_type": "multipart/form-data"}
    elif body is not None and api:
        kwargs = {"json": {k: world.fill(v, actor) if isinstance(v, str) else v for k, v in body.items()}}
    elif body is not None:
        kwargs = {"data": {**{k: world.fill(v, actor) for k, v in body.items()}, "csrf_token": token}}
    return client.open(url, method=method, headers=headers, **kwargs)


def answer_class(response, expected: str) -> str:
    status = response.status_code
    if expected == "public" and status not in (429, 500):
        return "public"  # /healthz answers 503 here (no worker): its own answer, not a failure
    if status == 401 or (status in (301, 302, 303) and "/login" in response.headers.get("Location", "")):
        return "login"
    if status in (403, 404):
        return "hidden"
    if status < 400 or status in (400, 409, 422):
        return "ok"
    return f"status {status}"


def test_every_url_rule_is_in_the_table(matrix_app):
    rules = {(rule.endpoint, method) for rule in matrix_app.url_map.iter_rules()
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert sorted(rules - ROUTES.keys()) == [], "routes without an expectation: add them to ROUTES"
    assert sorted(ROUTES.keys() - rules) == [], "expectations of routes that no longer exist"


def test_authorization_matrix(world, capsys):
    mismatches, leaks, cells = [], [], 0
    for (endpoint, method), (url, body, profile) in sorted(ROUTES.items()):
        if endpoint not in world.app.view_functions:
            continue  # reported by test_every_url_rule_is_in_the_table
        for actor, letter in zip(ACTORS, profile, strict=True):
            response = _request(world, endpoint, method, url, body, actor)
            cells += 1
            expected = CLASS[letter]
            got = answer_class(response, expected)
            if got != expected:
                mismatches.append(f"{method} {url} as {actor}: expected {expected}, got {got} "
                                  f"({response.status_code})")
                if got == "ok" and expected != "public":
                    leaks.append(mismatches[-1])
    with capsys.disabled():
        print(f"\nauthorization matrix: {len(ROUTES)} route-methods x {len(ACTORS)} actors = {cells} cells, "
              f"{len(leaks)} leaks, {len(mismatches)} mismatches")
    assert leaks == [] and mismatches == [], "\n".join(mismatches)
