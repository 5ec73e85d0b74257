"""Response headers that harden every page: no sniffing, no framing, a strict CSP
(the templates use no inline script or style, and nothing comes from a CDN); no caching
of what a logged-in person sees; HSTS when the site runs on HTTPS."""

from __future__ import annotations

from flask import Flask, g, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# A year; only sent when SESSION_COOKIE_SECURE says the site is served over HTTPS (sent
# over plain HTTP it would lock browsers out of a site that has no certificate).
HSTS = "max-age=31536000; includeSubDomains"
# An original keeps what the photo's file holds (camera, date, position): a browser cache
# may keep the owner's copy only briefly, then it revalidates (a cheap 304).
ORIGINAL_MAX_AGE = 5 * 60
PRIVATE_MIMETYPES = ("text/html", "application/json")


def _logged_in() -> bool:
    # Only a user this request has already loaded: looking one up here would cost a
    # store query for every static file.
    user = g.get("_login_user")
    return bool(user is not None and user.is_authenticated)


def _asks_for_original() -> bool:
    return (request.view_args or {}).get("variant") == "original" or request.args.get("size") == "original"


def init_app(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if _logged_in() and "Cache-Control" not in response.headers and response.mimetype in PRIVATE_MIMETYPES:
            # A private page must not stay in a shared computer's cache after log-out.
            response.cache_control.no_store = True
        cache = response.cache_control
        if cache.private and _asks_for_original() and (cache.max_age or 0) > ORIGINAL_MAX_AGE:
            cache.max_age = ORIGINAL_MAX_AGE
        return response
