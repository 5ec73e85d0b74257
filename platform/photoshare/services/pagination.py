"""Pagination, two kinds, newest first.

- Offset pages (`OffsetPage`): the website's grids, with page numbers.
- Cursor ("keyset") pages (`CursorPage`): the API's lists. A page is read after a
  position (the last item's `_id`) rather than at an offset, so items added or deleted
  while a client walks the list never make it skip or repeat one: new items sort before
  the position already reached. Lists are newest upload first by `_id` alone (made at
  upload; one key is what both stores serve from an index), so the position is
  `_id < last`. The cursor is opaque to clients (base64url JSON of the last item's
  position); a malformed one is a ValidationError. Cursors issued before the order was
  `_id` alone also carried a time, which is ignored.

What is listed (and under which filter) is the business of services.photos and
services.albums; this module only holds the mechanics.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass

from bson import ObjectId
from bson.errors import InvalidId

from .errors import ValidationError

DEFAULT_LIMIT = 24
MAX_PER_PAGE = 100
# Far beyond any real library, and small enough that (page - 1) * per_page always fits
# the store's 64-bit skip (a huge ?page= would otherwise overflow it: a 500).
MAX_PAGE = 1_000_000


@dataclass
class OffsetPage:
    items: list[dict]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass
class CursorPage:
    items: list[dict]
    next_cursor: str | None


def clamp_page(page) -> int:
    """A page number within 1..MAX_PAGE (anything unreadable is page 1)."""
    try:
        page = int(page)
    except (TypeError, ValueError):
        return 1
    return max(1, min(page, MAX_PAGE))


def clamp_per_page(limit) -> int:
    """Items per page within 1..MAX_PER_PAGE (anything unreadable is the default)."""
    try:
        return max(1, min(int(limit), MAX_PER_PAGE))
    except (TypeError, ValueError):
        return DEFAULT_LIMIT


def encode_cursor(doc: dict) -> str:
    position = {"i": str(doc["_id"])}
    raw = json.dumps(position, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> ObjectId:
    invalid = ValidationError("The cursor is not valid; use the next_cursor of a previous page.",
                              code="invalid_cursor", field="cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        return ObjectId(position["i"])
    except (ValueError, TypeError, KeyError, InvalidId, binascii.Error, UnicodeError):
        raise invalid from None


def after_cursor(query: dict, cursor: str | None) -> dict:
    """`query` restricted to the items after the cursor's position (newest-first order).

    The condition joins the query's own top-level fields (an `$and` only when the query
    already constrains `_id`), so the equality the embedded store's index serves stays
    where its planner looks for it."""
    if not cursor:
        return query
    after = {"$lt": decode_cursor(cursor)}
    if "_id" in query:
        return {"$and": [query, {"_id": after}]}
    return {**query, "_id": after}


def cursor_page(read_newest, query: dict, limit, cursor: str | None) -> CursorPage:
    """One cursor page: `read_newest(query, limit=n)` is a repository's newest-first read."""
    limit = clamp_per_page(limit)
    docs = read_newest(after_cursor(query, cursor), limit=limit + 1)
    has_more = len(docs) > limit
    docs = docs[:limit]
    return CursorPage(items=docs, next_cursor=encode_cursor(docs[-1]) if has_more and docs else None)
