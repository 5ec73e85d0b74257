"""Search: the token index of photos (repositories.search_tokens) and its upkeep.

A search is independent of word order and of simple word forms: "dogs running" and
"a dog runs through the grass" share the tokens {dog, run}. The owner searches their
AI captions, their own captions and the names of their albums (`search_tokens`);
/explore searches the captions people are shown of public photos only
(`caption_tokens`). Both require all of the query's tokens, under multikey indexes:
(owner_id, search_tokens) and (visibility, caption_tokens) on MongoDB, and the
single-field ones the embedded store can use.

The arrays are kept right by repositories.photos on every caption change; album names
reach them through `album_tokens` on each photo, which this module recomputes when a
photo's albums change or an album is renamed. `backfill` gives photos stored before
search tokens existed their arrays (idempotent: `flask --app photoshare backfill-search`).
"""

from __future__ import annotations

import logging

from bson import ObjectId
from pymongo.database import Database

from ..repositories import albums as album_repo
from ..repositories import photos as photo_repo
from ..repositories.search_tokens import album_tokens, query_tokens

log = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 100
# Never a token (tokens are [a-z0-9]+): the filter of a query without a searchable word
# ("the", ".*") matches nothing, from the index.
NO_TOKEN = "-"


def _all_of(field: str, query: str | None) -> dict:
    """Photos whose `field` holds every token of the query: an $and of equalities, which
    MongoDB answers from the multikey index bounded by one token, and the embedded store
    from the single-field index of its rarest token (docs/STORAGE.md, patch 4a). {} when
    there is no query; a filter matching nothing when it has no searchable word."""
    if not query or not query.strip():
        return {}
    tokens = query_tokens(query[:MAX_QUERY_LENGTH])
    if not tokens:
        return {field: NO_TOKEN}
    return {"$and": [{field: token} for token in tokens]}


def owner_filter(query: str | None) -> dict:
    """The search part of a query over one owner's photos ({} when there is no query)."""
    return _all_of("search_tokens", query)


def public_filter(query: str | None) -> dict:
    """The search part of a query over public photos: their shown captions only."""
    return _all_of("caption_tokens", query)


def combine(query: dict, part: dict) -> dict:
    """`query` and `part` as one flat $and of simple clauses: the embedded store's planner
    sees an equality (and so its index) only at the top level of a filter."""
    if not part:
        return query
    clauses = [{key: value} for key, value in query.items() if key != "$and"] + list(query.get("$and", []))
    return {"$and": clauses + (list(part["$and"]) if set(part) == {"$and"} else [part])}


def _album_names(db: Database, owner_id: ObjectId, album_ids) -> list[str]:
    return [album["name"] for album in album_repo.by_ids(db, owner_id, list(album_ids))] if album_ids else []


def refresh_album_tokens(db: Database, owner_id: ObjectId, photo_id: ObjectId, attempts: int = 5) -> None:
    """The photo's albums changed: store the tokens of their names (and so refresh its
    search tokens). Retried if the albums change again meanwhile."""
    for _ in range(attempts):
        photo = photo_repo.find_owned(db, owner_id, photo_id, {"album_ids": 1})
        if photo is None:
            return
        album_ids = photo.get("album_ids")
        if photo_repo.set_album_tokens(db, photo_id, album_ids, album_tokens(_album_names(db, owner_id, album_ids))):
            return


def album_renamed(db: Database, owner_id: ObjectId, album_id: ObjectId) -> int:
    """An album's name changed: recompute the album tokens of each of its photos."""
    count = 0
    for photo in list(photo_repo.album_memberships(db, owner_id, album_id)):
        refresh_album_tokens(db, owner_id, photo["_id"])
        count += 1
    return count


def backfill(db: Database, batch: int = 500) -> int:
    """Give every photo without search tokens its arrays; returns how many. Safe to run
    again, and while the site runs."""
    done, seen = 0, set()
    while True:
        # A photo that could not be done (changing under our feet) is not tried forever.
        photos = [p for p in photo_repo.without_search_tokens(db, limit=batch) if p["_id"] not in seen]
        if not photos:
            return done
        for photo in photos:
            seen.add(photo["_id"])
            album_ids = photo.get("album_ids")
            tokens = album_tokens(_album_names(db, photo["owner_id"], album_ids))
            if not photo_repo.set_album_tokens(db, photo["_id"], album_ids, tokens):
                refresh_album_tokens(db, photo["owner_id"], photo["_id"])
            done += 1
        log.info("search tokens: %d photos done", done)
