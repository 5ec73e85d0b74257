"""Error handling: every failure becomes a clear page (or JSON), never a bare 500.

HTML pages render templates/error.html; requests that want JSON (the status endpoint,
/healthz, /api/..., or an Accept header preferring JSON) get
`{"error": {"code": ..., "message": ...}}` with the same status code.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .request_limits import is_upload_request, too_large_message
from .services.errors import ServiceError

UNAVAILABLE_MESSAGE = "The service is temporarily unavailable. Please try again in a moment."


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path.endswith("/status"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: str, title: str | None = None):
    if wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    return render_template("error.html", status=status, title=title or "Something went wrong",
                           message=message), status


def _code_name(http_error: HTTPException) -> str:
    return (http_error.name or "error").lower().replace(" ", "_")


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        title = "Not found" if error.http_status == 404 else None
        return error_response(error.http_status, error.code, error.message, title)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_response(
            400, "csrf_failed",
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
            "Form expired")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        title = "Upload too large" if is_upload_request() else "Request too large"
        return error_response(413, "too_large", too_large_message(), title)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded):
        response = error_response(429, "too_many_requests", error.description, "Too many attempts")
        if request.endpoint == "auth.login" and not wants_json():
            from .views.auth import render_login  # the login page itself shows the message
            response = render_login(error=error.description, status=429)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            404: "There is nothing at this address.",
            405: "This action is not available here.",
        }
        message = messages.get(error.code) or error.description or "The request could not be handled."
        return error_response(error.code or 500, _code_name(error), message, error.name)

    @app.errorhandler(ConnectionFailure)
    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def backend_down(error):
        current_app.logger.error("backend unavailable: %r", error)
        return error_response(503, "unavailable", UNAVAILABLE_MESSAGE, "Temporarily unavailable")

    @app.errorhandler(Exception)
    def unexpected(error):
        if isinstance(error, HTTPException):
            return http_error(error)
        current_app.logger.exception("unhandled error")
        return error_response(500, "internal_error",
                              "Something went wrong on our side. Please try again.")
