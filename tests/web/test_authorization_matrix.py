"""Authorization matrix (issue 11.5): every URL rule of the app (pages and API) × every
kind of caller, each cell a real request with real ids, checked against one table.

A rule missing from ROUTES fails the test (a new route must say who may use it), and so
does an entry for a rule that no longer exists. Classes of answer:

    ok      the caller was let in: 2xx, a redirect other than to the log-in page, or a
            validation answer of the handler itself (400, 409, 422)
    login   not authenticated: 401, or a redirect to /login
    hidden  authenticated (or not) but not allowed: 403 or 404
    public  (ANSWERED) for anyone, whatever its handler answers (not a 500 or a throttle):
            a wrong password's 401, log-out's redirect to the log-in page, /healthz's 503

A *leak* is a cell expected `login` or `hidden` that answered `ok`. Every caller's form
posts carry a valid CSRF token of its own session (so the answer is about who it is, not
about the token); throttles are raised out of the way. Which
photos, albums and accounts are visible to whom by visibility is
tests/web/test_visibility_matrix.py; here the question is only who gets in where.
"""

from __future__ import annotations

import io

from tests.support.api_clients import basic, bearer
from tests.support.authorization import ACTORS, PASSWORD, PNG, World, matrix_app, world  # noqa: F401 (fixtures)

CLASS = {"o": "ok", "L": "login", "H": "hidden", "p": "public"}

# Profiles: one letter per actor, in ACTORS order. On web pages the key actors are
# anonymous (keys open only the API); on the API the session actors use their own keys
# (owner: Ada read+write, other: Bob read+write, admin: root read+write+admin) and
# anonymous and the share viewer send nothing.
PUBLIC = "ooooooooo"         # anyone is let in
ANSWERED = "ppppppppp"       # anyone; the handler's own answer may be a 401 or a redirect to the log-in page
WEB_SELF = "LoooLLLLL"       # a logged-in person's own pages
WEB_ADA = "LoHHLLLLL"        # Ada's photo, album, key, link, export
WEB_ADMIN = "HHHoHHHHH"      # administrators only; 404 for everyone else
API_LIST = "LooooHLLL"       # read scope, the caller's own things
API_CREATE = "LoooHoLLL"     # write scope, the caller's own things
API_READ_ADA = "LoHHoHLLL"   # read scope, Ada's object
API_WRITE_ADA = "LoHHHoLLL"  # write scope, Ada's object
API_ADMIN = "LHHoHHLLL"      # admin scope, administrators only
SHARE = "HHHHHHHHo"          # /s/<token>: only whoever holds a live token (the others try a revoked one)


# (endpoint, method) -> (URL, request body or None, profile). Placeholders are filled from
# the world below; `fresh_*` makes a new object of Ada's (or a new account) for that one
# request, so that deleting and revoking leave the world intact.
ROUTES = {
    ("static", "GET"): ("/static/style.css", None, PUBLIC),
    ("favicon", "GET"): ("/favicon.ico", None, PUBLIC),
    ("auth.signup", "GET"): ("/signup", None, PUBLIC),
    ("auth.signup", "POST"): ("/signup", {"email": "x@example.com", "password": "short", "confirm": "short"}, PUBLIC),
    ("auth.login", "GET"): ("/login", None, PUBLIC),
    ("auth.login", "POST"): ("/login", {"email": "nobody@example.com", "password": "wrong password"}, ANSWERED),
    ("auth.logout", "GET"): ("/logout", None, PUBLIC),
    ("auth.logout", "POST"): ("/logout", {}, ANSWERED),  # a session of its own (see _request)
    ("password.forgot", "GET"): ("/forgot-password", None, PUBLIC),
    ("password.forgot", "POST"): ("/forgot-password", {"email": "{unique}@example.com"}, ANSWERED),
    ("password.reset", "GET"): ("/reset-password/{reset_token}", None, PUBLIC),
    ("password.reset", "POST"): ("/reset-password/{reset_token}", {"password": "x", "confirm": "y"}, PUBLIC),
    ("health.healthz", "GET"): ("/healthz", None, ANSWERED),
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
