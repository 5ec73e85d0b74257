"""The invitation repository: the one module that reads and writes `invites`.

Documents: token_hash (SHA-256 of the secret in the link; the secret is never stored),
created_by, created_at, expires_at, used_at, used_by, note.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database


def ensure_indexes(db: Database) -> None:
    db.invites.create_index([("token_hash", ASCENDING)], unique=True, name="token_hash_unique")
    db.invites.create_index([("created_at", DESCENDING)], name="newest")


def insert(db: Database, invite: dict) -> dict:
    invite["_id"] = db.invites.insert_one(invite).inserted_id
    return invite


def claim(db: Database, token_hash: str, now: datetime) -> dict | None:
    """Mark an unused, unexpired invitation used (one conditional update: single use even
    under concurrent sign-ups); the invitation, or None."""
    return db.invites.find_one_and_update(
        {"token_hash": token_hash, "used_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}}, return_document=ReturnDocument.AFTER)


def release(db: Database, invite_id: ObjectId) -> None:
    """The sign-up that claimed it failed (e.g. the e-mail is taken): usable again."""
    db.invites.update_one({"_id": invite_id, "used_by": None}, {"$set": {"used_at": None}})


def set_used_by(db: Database, invite_id: ObjectId, user_id: ObjectId) -> None:
    db.invites.update_one({"_id": invite_id}, {"$set": {"used_by": user_id}})


def find_by_hash(db: Database, token_hash: str) -> dict | None:
    return db.invites.find_one({"token_hash": token_hash})


def newest(db: Database, limit: int) -> list[dict]:
    return list(db.invites.find({}, {"token_hash": 0}).sort([("created_at", -1), ("_id", -1)]).limit(limit))


def revoke(db: Database, invite_id: ObjectId, now: datetime) -> bool:
    """Expire an unused invitation now."""
    return db.invites.update_one({"_id": invite_id, "used_at": None},
                                 {"$set": {"expires_at": now}}).matched_count > 0
