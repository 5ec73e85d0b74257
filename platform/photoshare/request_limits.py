"""How large a request body may be.

MAX_CONTENT_LENGTH (all files of an upload, ~201 MB by default) applies only to the
upload endpoints; every other request (forms, JSON) may carry at most MAX_FORM_BYTES
(1 MB), so nobody can make a web process read hundreds of megabytes into a form or a
JSON body. A body over the limit is refused with 413 before it is read.
"""

from __future__ import annotations

from flask import Flask, current_app, request

# Endpoints that accept image files: the website's upload form and the API's uploads.
UPLOAD_ENDPOINTS = frozenset({"gallery.upload", "photos.upload", "captions.caption"})


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
    def limit_request_body() -> None:
        if not is_upload_request():
            request.max_content_length = current_app.config["MAX_FORM_BYTES"]
