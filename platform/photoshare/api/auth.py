"""Who is calling the API: an API key (`Authorization: Bearer <key>` or `X-API-Key`), or,
for /api/v1/tokens only, the account's e-mail and password (HTTP Basic).

Session cookies never authenticate the API (nothing here reads the login session), so
a page on another site cannot make a logged-in browser call it; that is also why API
requests need no CSRF token. The presented key is resolved once per request and kept
in `g` (the rate limiter's key function needs it before the view runs).
"""

from __future__ import annotations

from functools import wraps

from bson import ObjectId
from flask import current_app, g, request

from ..extensions import address_key, get_db, limiter_key
from ..services import accounts, api_keys
from ..services.errors import AuthenticationFailed, ServiceError
from ..throttling import take_attempts
from .errors import ApiAuthError, InsufficientScope

KEY_SECURITY = [{"bearerAuth": []}, {"apiKeyHeader": []}]
BASIC_SECURITY = [{"basicAuth": []}]

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An API key: `Authorization: Bearer psk_...`"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "The same API key in the X-API-Key header"},
    "basicAuth": {"type": "http", "scheme": "basic",
                  "description": "Account e-mail and password (creating and managing keys only)"},
}

_UNRESOLVED = object()


def presented_key() -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    header = request.headers.get("X-API-Key", "").strip()
    return header or None


def resolve_key() -> api_keys.Authenticated | AuthenticationFailed | None:
    """The authenticated key of this request, the reason it failed, or None if no key was sent."""
    cached = g.get("_api_key_auth", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached
    secret = presented_key()
    if secret is None:
        result = None
    else:
        try:
            result = api_keys.authenticate(get_db(), secret)
        except AuthenticationFailed as failure:
            result = failure
    g._api_key_auth = result
    return result


def _basic_credentials():
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username or "", auth.password or ""
    return None


def current_owner_id() -> ObjectId:
    return g.api_owner_id


def _authenticate_key(scope: str | None, schemes) -> None:
    result = resolve_key()
    if result is None:
        raise ApiAuthError("Send your API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
                           code="missing_credentials", schemes=schemes)
    if isinstance(result, AuthenticationFailed):
        raise ApiAuthError(result.message, code=result.code, schemes=schemes)
    if scope and not result.has_scope(scope):
        raise InsufficientScope(scope)
    g.api_owner_id = result.user["_id"]


class TooManyAttempts(ServiceError):
    http_status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int):
        super().__init__("Too many failed attempts with this account or from your address. Wait a few minutes.")
        self.retry_after = retry_after


def _authenticate_basic(email: str, password: str) -> None:
    # Throttled like the website's log-in (SECURITY.md): each attempt is counted before
    # the password is checked, atomically, per (account, address) and per address; a
    # right password gives its attempt back.
    config, address = current_app.config, request.remote_addr
    attempts = take_attempts(
        ("api-login-account", f"{accounts.normalize_email(email)}|{address}", config["API_TOKEN_LIMIT_PER_ACCOUNT"]),
        ("api-login-address", address, config["API_TOKEN_LIMIT_PER_ADDRESS"]))
    if not attempts:
        raise TooManyAttempts(attempts.retry_after)
    try:
        user = accounts.authenticate(get_db(), email, password, rounds=config["BCRYPT_ROUNDS"])
    except AuthenticationFailed:
        # Same answer whether or not the e-mail has an account.
        raise ApiAuthError("Wrong e-mail address or password.", code="invalid_credentials",
                           schemes=("Basic",)) from None
    attempts.refund()
    g.api_owner_id = user["_id"]


def require_key(scope: str):
    """The view needs an active API key of a user, with `scope` ("read" or "write")."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            _authenticate_key(scope, ("Bearer",))
            return view(*args, **kwargs)
        return wrapper
    return decorator


def require_account(key_scope: str | None = None):
    """The view accepts HTTP Basic (e-mail:password) or, if `key_scope` is given, an API
    key with that scope."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            credentials = _basic_credentials()
            schemes = ("Basic", "Bearer") if key_scope else ("Basic",)
            if credentials is not None:
                _authenticate_basic(*credentials)
            elif key_scope and presented_key() is not None:
                _authenticate_key(key_scope, schemes)
            else:
                raise ApiAuthError(
                    "Authenticate with your e-mail and password (HTTP Basic)"
                    + (" or an API key." if key_scope else "."),
                    code="missing_credentials", schemes=schemes)
            return view(*args, **kwargs)
        return wrapper
    return decorator


# -- Rate-limit keys (Flask-Limiter key functions) -------------------------------------

def rate_limit_key() -> str:
    """Per account when a valid API key is sent (all keys of a user share one budget:
    more keys must not mean more requests), else per client address."""
    try:
        result = resolve_key()
    except Exception:  # store unreachable: the view will answer 503
        result = None
    if isinstance(result, api_keys.Authenticated):
        return limiter_key("api-user", result.user["_id"])
    return address_key("api-address")
