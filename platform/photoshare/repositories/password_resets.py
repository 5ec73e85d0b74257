"""The password-reset repository: the one module that reads and writes `password_resets`.

Documents: token_hash (SHA-256 of the secret in the link, never the secret), user_id,
created_at, expires_at, used_at, issued_by (an administrator, or None: "forgot password").
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database


def ensure_indexes(db: Database) -> None:
    db.password_resets.create_index([("token_hash", ASCENDING)], unique=True, name="token_hash_unique")
    db.password_resets.create_index([("user_id", ASCENDING)], name="user")


def insert(db: Database, reset: dict) -> dict:
    reset["_id"] = db.password_resets.insert_one(reset).inserted_id
    return reset


def _usable(token_hash: str, now: datetime) -> dict:
    """The link of this token, if it is neither used nor expired."""
    return {"token_hash": token_hash, "used_at": None, "expires_at": {"$gt": now}}


def find_usable(db: Database, token_hash: str, now: datetime) -> dict | None:
    return db.password_resets.find_one(_usable(token_hash, now))


def consume(db: Database, token_hash: str, now: datetime) -> dict | None:
    """Use the link: one conditional update, so it works once even if sent twice at once."""
    return db.password_resets.find_one_and_update(_usable(token_hash, now), {"$set": {"used_at": now}},
                                                  return_document=ReturnDocument.AFTER)


def expire_all_of_user(db: Database, user_id: ObjectId, now: datetime) -> None:
    """A password was set: every other outstanding link of the account stops working."""
    db.password_resets.update_many({"user_id": user_id, "used_at": None}, {"$set": {"used_at": now}})


def delete_all_of_user(db: Database, user_id: ObjectId) -> None:
    db.password_resets.delete_many({"user_id": user_id})
