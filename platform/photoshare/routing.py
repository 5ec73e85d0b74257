"""URL converters of the app (`<oid:photo_id>`)."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from werkzeug.routing import BaseConverter, ValidationError


class ObjectIdConverter(BaseConverter):
    """`<oid:photo_id>`: a 24-hex-digit id; anything else does not match (404)."""

    regex = r"[0-9a-fA-F]{24}"

    def to_python(self, value: str) -> ObjectId:
        try:
            return ObjectId(value)
        except InvalidId:
            raise ValidationError() from None

    def to_url(self, value) -> str:
        return str(value)
