"""Cursor ("keyset") pagination of a user's photos and albums, newest first.

A page is read after a position (created_at, _id) rather than at an offset, so photos
added or deleted while a client walks the list never make it skip or repeat an item:
new photos sort before the position already reached. The cursor is opaque to clients
(base64url JSON of the last item's position); a malformed one is a ValidationError.

The photo filter itself (owner, album, caption search) is photos.photo_filter, the
same one the web grid uses.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database

from .albums import with_photo_count
from .errors import ValidationError
from .photos import API_PROJECTION, CAPTION_STATUSES, photo_filter
from .visibility import visibility_filter

DEFAULT_LIMIT = 24
MAX_LIMIT = 100


@dataclass
class CursorPage:
    items: list[dict]
    next_cursor: str | None


def encode_cursor(doc: dict) -> str:
    created = doc["created_at"]
    position = {"t": int(created.timestamp() * 1000) if created else None, "i": str(doc["_id"])}
    raw = json.dumps(position, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    invalid = ValidationError("The cursor is not valid; use the next_cursor of a previous page.",
                              code="invalid_cursor", field="cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        millis, oid = position["t"], ObjectId(position["i"])
        if not isinstance(millis, int) or isinstance(millis, bool):
            raise invalid
        return datetime.fromtimestamp(millis / 1000, UTC), oid
    except (ValueError, TypeError, KeyError, InvalidId, binascii.Error, UnicodeError, OverflowError, OSError):
        raise invalid from None


def _clamp(limit) -> int:
    try:
        return max(1, min(int(limit), MAX_LIMIT))
    except (TypeError, ValueError):
        return DEFAULT_LIMIT


def _after(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    created_at, oid = decode_cursor(cursor)
    return {"$or": [{"created_at": {"$lt": created_at}},
                    {"created_at": created_at, "_id": {"$lt": oid}}]}


def _page(collection, query: dict, limit: int, cursor: str | None, projection=None) -> CursorPage:
    after = _after(cursor)
    if after is not None:
        query = {"$and": [query, after]}
    docs = list(collection.find(query, projection)
                .sort([("created_at", -1), ("_id", -1)])
                .limit(limit + 1))
    has_more = len(docs) > limit
    docs = docs[:limit]
    return CursorPage(items=docs, next_cursor=encode_cursor(docs[-1]) if has_more and docs else None)


def list_photos(db: Database, owner_id: ObjectId, *, limit=DEFAULT_LIMIT, cursor: str | None = None,
                album_id=None, status: str | None = None, search: str | None = None,
                visibility: str | None = None) -> CursorPage:
    """One page of the user's photos, newest first, with optional filters."""
    query = photo_filter(owner_id, album_id=album_id, search=search)
    if status:
        if status not in CAPTION_STATUSES:
            raise ValidationError(f"Unknown caption status {status!r}.", field="status")
        query["caption_status"] = status
    if visibility:
        query.update(visibility_filter(visibility))
    return _page(db.photos, query, _clamp(limit), cursor, API_PROJECTION)


def list_albums(db: Database, owner_id: ObjectId, *, limit=DEFAULT_LIMIT, cursor: str | None = None) -> CursorPage:
    """One page of the user's albums, newest first, each with its photo_count."""
    page = _page(db.albums, {"owner_id": owner_id}, _clamp(limit), cursor)
    for album in page.items:
        with_photo_count(db, owner_id, album)
    return page
