"""Errors raised by the service layer, each with a stable code and an HTTP status.

The web layer renders them as HTML error pages or form errors, a JSON API as
`{"error": {"code": ..., "message": ...}}`; messages are written for end users.
"""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId


class ServiceError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field  # the form/API field at fault, when there is one

    def to_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


class ValidationError(ServiceError):
    code = "invalid"
    http_status = 400


class UploadRejected(ValidationError):
    """One uploaded file refused (too large, not an image, too many pixels...)."""

    def __init__(self, message: str, *, code: str, filename: str = "", http_status: int = 400):
        super().__init__(message, code=code, field="images")
        self.filename = filename
        self.http_status = http_status


class AuthenticationFailed(ServiceError):
    code = "invalid_credentials"
    http_status = 401


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404

    def __init__(self, message: str = "Not found.", **kwargs):
        super().__init__(message, **kwargs)


class Conflict(ServiceError):
    code = "conflict"
    http_status = 409


def as_object_id(value, what: str = "object") -> ObjectId:
    """Parse an id from a URL or a form; a malformed id is simply not found."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError):
        raise NotFound(f"No such {what}.") from None
