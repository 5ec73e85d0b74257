"""Errors of the API: always `{"error": {"code", "message"}}` JSON with the right status,
never HTML, never a stack trace.

Handlers are registered on each API blueprint, so the website keeps its HTML error
pages. Errors raised before a blueprint is known (no route matches: 404/405) are
answered by the app-wide handlers of photoshare.errors, which give the same JSON shape
for /api/ paths.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from ..errors import error_response, http_error_message
from ..request_limits import too_large_message
from ..services.errors import AuthenticationFailed, ServiceError

REALM = "photoshare-api"

# Stable codes for HTTP errors raised by Flask, werkzeug, webargs or Flask-Limiter.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiAuthError(AuthenticationFailed):
    """401: no credentials, or not valid ones."""

    def __init__(self, message: str, *, code: str = "unauthorized", schemes=("Bearer",)):
        super().__init__(message, code=code)
        self.schemes = schemes


class InsufficientScope(ServiceError):
    code = "insufficient_scope"
    http_status = 403

    def __init__(self, scope: str):
        super().__init__(f"This API key lacks the “{scope}” scope needed for this request.")
        self.scope = scope


def _challenge(schemes, error: str | None = None, scope: str | None = None) -> str:
    parts = []
    for scheme in schemes:
        params = [f'realm="{REALM}"']
        if scheme == "Bearer" and error:
            params.append(f'error="{error}"')
        if scheme == "Bearer" and scope:
            params.append(f'scope="{scope}"')
        parts.append(f"{scheme} {', '.join(params)}")
    return ", ".join(parts)


def handle_service_error(error: ServiceError):
    body = error.to_dict()
    detail = body.pop("error")
    headers = {}
    if error.http_status == 401:
        schemes = getattr(error, "schemes", None) or ("Basic",)  # accounts.authenticate: Basic auth
        # RFC 6750: no error code when no credentials were sent at all.
        bearer_error = None if error.code in ("unauthorized", "missing_credentials") else "invalid_token"
        headers["WWW-Authenticate"] = _challenge(schemes, bearer_error)
    elif isinstance(error, InsufficientScope):
        headers["WWW-Authenticate"] = _challenge(("Bearer",), "insufficient_scope", error.scope)
    if getattr(error, "retry_after", None):
        headers["Retry-After"] = str(error.retry_after)
    return error_response(error.http_status, detail["code"], detail["message"], field=detail.get("field"),
                          headers=headers, extra=body)


def _validation_message(messages) -> str:
    """First readable message of webargs' {location: {field: [messages]}}."""
    def walk(node, path):
        if isinstance(node, str):
            return path, node
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            found = walk(value, path + [str(key)] if isinstance(node, dict) else path)
            if found:
                return found
        return None

    found = walk(messages, [])
    if not found:
        return "The request is not valid."
    path, text = found
    where = ".".join(path[1:]) if len(path) > 1 else "".join(path)
    return f"{where}: {text}" if where else text


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    headers = dict(data.get("headers") or {}) if isinstance(data, dict) else {}
    if status == 422 and messages:
        return error_response(422, "validation_failed", _validation_message(messages),
                              details=messages, headers=headers)
    if status == 400 and messages:
        # webargs: the body is not valid JSON
        return error_response(400, "invalid_json", _validation_message(messages), details=messages,
                              headers=headers)
    if status == 413:
        message = too_large_message()
    elif status == 429:
        message = f"Rate limit exceeded ({error.description}). Retry after the number of seconds in Retry-After."
    else:
        message = http_error_message(error)
    if status >= 500:
        current_app.logger.error("API %s %s answered %s: %s", request.method, request.path, status, error)
    response = error_response(status, HTTP_CODES.get(status, f"http_{status}"), message, headers=headers)
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def register_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(ServiceError, handle_service_error)
    bp.register_error_handler(HTTPException, handle_http_exception)
    # Code-specific handlers of the app (photoshare.errors: 413, 429, CSRF) are looked
    # up before a blueprint's generic HTTPException handler: register these codes here.
    for status in (400, 401, 403, 404, 405, 409, 413, 415, 422, 429):
        bp.register_error_handler(status, handle_http_exception)
