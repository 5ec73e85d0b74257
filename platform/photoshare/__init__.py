"""photoshare: the web platform (accounts, uploads, MongoDB galleries, captioning jobs).

The code lives in platform/photoshare; `platform` itself is never an import name
(it would shadow the standard-library module). `create_app` is the Flask app factory:

    flask --app photoshare run
    gunicorn 'photoshare:create_app()'
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, redirect, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import PROJECT_ROOT, load_or_create_secret_key, load_settings
from .routing import ObjectIdConverter


def create_app(test_config: dict | None = None) -> Flask:
    """Build the web app; settings come from the environment, then `test_config`."""
    settings = load_settings()
    if test_config:
        settings.update(test_config)

    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        # Generated once and kept in the instance folder (git-ignored), never committed.
        app.config["SECRET_KEY"] = load_or_create_secret_key(app.instance_path)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=app.config["SESSION_COOKIE_SECURE"],
        # Login throttling counters live in Redis (keys carry PHOTOSHARE_PREFIX, see
        # views/auth.py).
        RATELIMIT_STORAGE_URI=app.config["REDIS_URL"],
        RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 2, "socket_timeout": 2},
        # If Redis is down, throttle in memory rather than failing logins.
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    _trust_only_the_public_host(app)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.url_map.converters["oid"] = ObjectIdConverter

    from . import cli, errors, request_limits, security_headers, throttling
    from .extensions import backends, csrf, limiter, login_manager
    from .views import profiles, share_links
    from .views import account_export, admin, api_keys, auth, gallery, health, metrics, password_reset, sharing

    request_limits.init_app(app)  # first: the hooks below may read the body
    state = backends.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    throttling.init_app(app)
    login_manager.init_app(app)
    errors.init_app(app)
    security_headers.init_app(app)
    cli.init_app(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(gallery.bp)
    app.register_blueprint(health.bp)
    # Share links /s/<token> (no login), the owner's links /shares, and the public pages
    # /explore, /u/<handle>, /p/<id>, /a/<id>.
    app.register_blueprint(sharing.bp)
    app.register_blueprint(share_links.bp)
    app.register_blueprint(profiles.bp)
    # Pages to manage API keys: /account/api-keys.
    app.register_blueprint(api_keys.bp)
    # Running the platform: /admin (administrators only, 404 for anyone else), password
    # reset, account export, /metrics (loopback or METRICS_TOKEN).
    app.register_blueprint(admin.bp)
    app.register_blueprint(password_reset.bp)
    app.register_blueprint(account_export.bp)
    app.register_blueprint(metrics.bp)
    # Pages link static/favicon.svg; a browser still asks /favicon.ico for whatever is not
    # an HTML page (an image opened on its own), which would otherwise log a 404.
    app.add_url_rule("/favicon.ico", "favicon",
                     lambda: redirect(url_for("static", filename="favicon.svg"), 301))

    # REST API /api/v1 and its docs page /api/docs.
    from . import api

    api.init_app(app)

    # Indexes for every query, at start-up (retried on later requests if the store
    # is not reachable yet).
    state.ensure_indexes()
    return app


LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def _trust_only_the_public_host(app: Flask) -> None:
    """With PUBLIC_URL set, absolute URLs (og:url, API links) are built on its host, and
    requests naming another Host get a 400 (TRUSTED_HOSTS, default: PUBLIC_URL's host and
    loopback): a forged Host header never reaches a page, a link or a cache."""
    public_url = app.config.get("PUBLIC_URL")
    if not public_url:
        return
    parts = urlsplit(public_url)
    app.config["SERVER_NAME"] = parts.netloc
    app.config["PREFERRED_URL_SCHEME"] = parts.scheme or "http"
    if not app.config.get("TRUSTED_HOSTS"):
        # Loopback too: health checks (docker-compose, make run) ask 127.0.0.1, and URLs
        # are built on SERVER_NAME whatever the Host, so trusting it leaks nothing.
        app.config["TRUSTED_HOSTS"] = [parts.hostname, *LOOPBACK_HOSTS]
    # The public scheme too: behind a TLS proxy the request itself may arrive over http.
    inner, scheme = app.wsgi_app, app.config["PREFERRED_URL_SCHEME"]

    def public_scheme(environ, start_response):
        environ["wsgi.url_scheme"] = scheme
        return inner(environ, start_response)

    app.wsgi_app = public_scheme
