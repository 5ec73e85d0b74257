"""How large a request body may be.

MAX_CONTENT_LENGTH (all files of an upload, ~201 MB by default) applies only to the
upload endpoints; every other request (forms, JSON) may carry at most MAX_FORM_BYTES
(1 MB), so nobody can make a web process read hundreds of megabytes into a form or a
JSON body. A body over the limit is refused with 413 before it is read.

An anonymous web upload is refused (login redirect, or 401 in its JSON mode) before its
body is read too: nobody without an account makes a web process receive 200 MB.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_login import current_user

# Endpoints that accept image files: the website's upload form and the API's uploads.
UPLOAD_ENDPOINTS = frozenset({"gallery.upload", "photos.upload", "captions.caption"})
# Website endpoints taking large bodies that only a logged-in user may send (the API's
# are refused by their key check, which reads only headers).
LOGIN_FIRST_ENDPOINTS = frozenset({"gallery.upload"})


def is_upload_request() -> bool:
    return request.endpoint in UPLOAD_ENDPOINTS


def too_large_message() -> str:
    """What a 413 says, for the limit that applied to this request."""
    config = current_app.config
    if not is_upload_request():
        return f"The request is too large: at most {config['MAX_FORM_BYTES'] // 1024} KB outside uploads."
    if request.path.startswith("/api/"):
        return f"The request is too large: an image may be at most {config['MAX_UPLOAD_MB']} MB."
    return (f"The upload is too large: each photo may be at most {config['MAX_UPLOAD_MB']} MB, "
            f"and at most {config['MAX_UPLOAD_FILES']} photos can be sent at once.")


def init_app(app: Flask) -> None:
    """Call before any extension whose before_request hook may read the body (CSRF,
    the log-in throttling): this hook must run first."""

    @app.before_request
    def limit_request_body():
        if not is_upload_request():
            request.max_content_length = current_app.config["MAX_FORM_BYTES"]
        elif request.endpoint in LOGIN_FIRST_ENDPOINTS and not current_user.is_authenticated:
            return _login_first()


def _login_first():
    # Answered from the headers alone (the session cookie); the body stays unread.
    from .errors import error_response, wants_json
    from .extensions import login_manager

    if wants_json():
        return error_response(401, "login_required", "Log in to upload photos.")
    return login_manager.unauthorized()
