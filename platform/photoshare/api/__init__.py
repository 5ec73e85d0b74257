"""The public REST API, /api/v1 (JSON only), on the same service layer as the website.

- OpenAPI 3 document generated from the code by flask-smorest: /api/v1/openapi.json;
  Swagger UI from local static files: /api/docs.
- Authentication by API key (photoshare.api.auth); keys are managed at
  /account/api-keys (photoshare.views.api_keys) or through /api/v1/tokens.
- Errors `{"error": {"code", "message"}}` (photoshare.api.errors); per-account rate limits.

`init_app(app)` is called by the app factory.
"""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import Flask, current_app, render_template, url_for

from ..extensions import csrf, limiter
from ..routing import ObjectIdConverter
from ..services.quick_captions import WaiterLimit
from . import admin, albums, captions, errors, photos, shares, tokens
from .auth import SECURITY_SCHEMES, rate_limit_key
from .blueprint import Api
from .schemas import OBJECT_ID_PATTERN

API_BLUEPRINTS = (tokens.bp, photos.bp, albums.bp, captions.bp, admin.bp, shares.bp)

API_DESCRIPTION = """\
The Photoshare API: your photos, their AI captions and your albums.

**Authentication**: an API key, created at /account/api-keys or with
`POST /api/v1/tokens` (HTTP Basic: your e-mail and password), sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys have the `read` and/or
`write` scope. Cookies never authenticate the API, and no CSRF token is needed.

**Errors** are JSON: `{"error": {"code": "...", "message": "..."}}`.

**Rate limits** apply per account, whichever of its keys is used (per address without a
valid key); a 429 answer carries `Retry-After` (seconds).

**Lists** are `{"items": [...], "next_cursor": ...}`: pass `next_cursor` as `cursor` for
the next page.
"""

# Limits on every API blueprint, per account (the caption and token endpoints add their
# own). One budget for the whole API (a shared scope), not one per endpoint.
_per_account_limit = limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api-v1",
                                          key_func=rate_limit_key,
                                          error_message="Too many requests for this account.")


def _no_store(response):
    # Answers are private to the key's owner: no cache keeps them (image files set
    # their own private caching).
    if "Cache-Control" not in response.headers:
        response.cache_control.no_store = True
    return response


for _bp in API_BLUEPRINTS:
    _per_account_limit(_bp)
    errors.register_handlers(_bp)
    _bp.after_request(_no_store)

docs_bp = FlaskBlueprint("apidocs", __name__)


@docs_bp.get("/api/docs")
def docs():
    """Swagger UI on /api/v1/openapi.json (vendored files, no CDN)."""
    return render_template("api_docs.html", spec_url=url_for("api-docs.openapi_json"))


def init_app(app: Flask) -> Api:
    # The API's own settings (API_RATE_LIMIT...) come from photoshare.config with the rest.
    app.config.setdefault("API_TITLE", "Photoshare API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": API_DESCRIPTION},
        "servers": [{"url": "/", "description": "This server"}],
    })

    api = Api(app)
    api.register_converter(ObjectIdConverter, lambda converter: {"type": "string", "pattern": OBJECT_ID_PATTERN})
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    for bp in API_BLUEPRINTS:
        api.register_blueprint(bp)
        csrf.exempt(bp)  # API keys are not ambient credentials: no CSRF token needed
    app.register_blueprint(docs_bp)
    app.extensions["photoshare.api"] = api
    app.extensions["photoshare.caption_waiters"] = WaiterLimit(app.config["API_CAPTION_MAX_WAITERS"])
    return api
