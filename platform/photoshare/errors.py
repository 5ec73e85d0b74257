"""Error handling: every failure becomes a clear page or JSON answer, never a bare 500.

`error_response` is the one renderer of errors for the website and the API: requests
that want JSON (/api/..., the status endpoint, /healthz, or an Accept header preferring
JSON) get `{"error": {"code", "message", ...}}`, pages get templates/error.html, both
with the same status code. The API adds only what is its own (authentication
challenges, validation details: photoshare.api.errors) and calls this renderer.
"""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .request_limits import is_upload_request, too_large_message
from .services.errors import ServiceError

UNTRUSTED_HOST_MESSAGE = "This site does not answer to the host name in this request."
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable. Please try again in a moment."

# Readable messages of HTTP errors raised by Flask or werkzeug (pages and API alike).
HTTP_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This action is not available here.",
}


# Endpoints whose JSON errors are `{"code", "message"}` at the top level: the website's own
# scripts' JSON modes (the dashboard's uploads, the photo page's caption editor, the share
# dialog), whose shape is agreed with static/js.
FLAT_JSON_ENDPOINTS = frozenset({"gallery.upload", "gallery.edit_caption", "share_links.create"})


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path.endswith("/status"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, *, title: str | None = None, field: str | None = None,
                   details: dict | None = None, headers: dict | None = None, extra: dict | None = None):
    """The error answer: JSON `{"error": {code, message[, field, details]}, **extra}` for
    JSON clients, else the error page. Never cached."""
    if wants_json():
        error = {"code": code, "message": message}
        if field:
            error["field"] = field
        if details:
            error["details"] = details
        body = {"code": code, "message": message} if request.endpoint in FLAT_JSON_ENDPOINTS else {"error": error}
        response = jsonify({**body, **(extra or {})})
        response.status_code = status
    elif request_ctx.url_adapter is None:
        # A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page either, and
        # the forged name is not echoed back.
        response = current_app.response_class(f"{status} {UNTRUSTED_HOST_MESSAGE}\n", status=status,
                                              mimetype="text/plain")
    else:
        _load_user_or_anonymous()
        response = current_app.make_response((
            render_template("error.html", status=status, title=title or "Something went wrong", message=message),
            status))
    response.cache_control.no_store = True
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _load_user_or_anonymous() -> None:
    """Load the logged-in user for the error page's top bar, or settle for an anonymous
    one. The page may be telling that the store is down: loading the user (a session
    look-up in the store) would then fail again inside this error handler and turn the
    503 page into a bare 500."""
    if "_login_user" in g:
        return
    manager = current_app.login_manager
    try:
        manager._load_user()
    except (PyMongoError, RedisConnectionError, RedisTimeoutError):
        g._login_user = manager.anonymous_user()


def http_error_message(error: HTTPException) -> str:
    return HTTP_MESSAGES.get(error.code) or error.description or "The request could not be handled."


def _code_name(http_error: HTTPException) -> str:
    return (http_error.name or "error").lower().replace(" ", "_")


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        title = "Not found" if error.http_status == 404 else None
        return error_response(error.http_status, error.code, error.message, title=title)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_response(
            400, "csrf_failed",
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
            title="Form expired")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        title = "Upload too large" if is_upload_request() else "Request too large"
        return error_response(413, "too_large", too_large_message(), title=title)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded):
        return error_response(429, "too_many_requests", error.description, title="Too many attempts")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return error_response(error.code or 500, _code_name(error), http_error_message(error), title=error.name)

    @app.errorhandler(ConnectionFailure)
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def backend_down(error):
        current_app.logger.error("backend unavailable: %r", error)
        return error_response(503, "unavailable", UNAVAILABLE_MESSAGE, title="Temporarily unavailable")

    @app.errorhandler(Exception)
    def unexpected(error):
        if isinstance(error, HTTPException):
            return http_error(error)
        current_app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side. Please try again.")
