"""The share link repository: the one module that reads and writes `share_links`.

A link document:

    owner_id, target ("photo" | "album"), target_id,
    token_hash      SHA-256 (hex) of the link's token: the token itself is never stored,
                    so a copy of the database does not open any link
    token_hint      the token's first characters, to tell links apart in lists
    created_at, expires_at (None: never), revoked_at (None while it works),
    password_hash   bcrypt, or None
    allow_download  whether the original (re-encoded without metadata) may be downloaded
    views, last_viewed_at

Functions return documents, None or booleans; services.shares decides what they mean.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from ..clock import utcnow

NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]
MAX_LISTED = 500


def _links(db: Database):
    return db.share_links


def ensure_indexes(db: Database) -> None:
    links = _links(db)
    links.create_index([("token_hash", ASCENDING)], unique=True, name="token_hash_unique")
    links.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_newest")
    links.create_index([("owner_id", ASCENDING), ("target_id", ASCENDING)], name="owner_target")


def insert(db: Database, link: dict) -> dict:
    link = {**link, "created_at": utcnow(), "revoked_at": None, "views": 0, "last_viewed_at": None}
    link["_id"] = _links(db).insert_one(link).inserted_id
    return link


def find_by_token_hash(db: Database, token_hash: str) -> dict | None:
    return _links(db).find_one({"token_hash": token_hash})


def of_owner(db: Database, owner_id: ObjectId, target_id: ObjectId | None = None) -> list[dict]:
    """The owner's links (of one photo or album when `target_id` is given), newest first."""
    query = {"owner_id": owner_id} if target_id is None else {"owner_id": owner_id, "target_id": target_id}
    return list(_links(db).find(query).sort(NEWEST_FIRST).limit(MAX_LISTED))


def find_owned(db: Database, owner_id: ObjectId, link_id: ObjectId) -> dict | None:
    return _links(db).find_one({"_id": link_id, "owner_id": owner_id})


def revoke(db: Database, owner_id: ObjectId, link_id: ObjectId, when: datetime | None = None) -> bool:
    """Revoke the link (idempotent); False if the owner has no such link."""
    result = _links(db).update_one({"_id": link_id, "owner_id": owner_id, "revoked_at": None},
                                   {"$set": {"revoked_at": when or utcnow()}})
    return result.matched_count > 0 or find_owned(db, owner_id, link_id) is not None


def count_view(db: Database, link_id: ObjectId) -> None:
    """One more view: an atomic $inc, so concurrent visits all count."""
    _links(db).update_one({"_id": link_id}, {"$inc": {"views": 1}, "$set": {"last_viewed_at": utcnow()}})


def delete_all_of_owner(db: Database, owner_id: ObjectId) -> int:
    return _links(db).delete_many({"owner_id": owner_id}).deleted_count
