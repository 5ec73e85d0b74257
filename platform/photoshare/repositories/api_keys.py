"""The API key repository: the one module that reads and writes the `api_keys` collection.

Documents: owner_id, name, prefix, key_hash, scopes, created_at, last_used_at,
expires_at, revoked_at. Listings never carry the hash.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

WITHOUT_HASH = {"key_hash": 0}


def ensure_indexes(db: Database) -> None:
    db.api_keys.create_index([("key_hash", ASCENDING)], unique=True, name="key_hash_unique")
    db.api_keys.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_newest")


def insert(db: Database, key: dict) -> dict:
    key["_id"] = db.api_keys.insert_one(key).inserted_id
    return key


def count_active(db: Database, owner_id: ObjectId, now: datetime) -> int:
    return db.api_keys.count_documents({
        "owner_id": owner_id, "revoked_at": None,
        "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
    })


def list_of_owner(db: Database, owner_id: ObjectId) -> list[dict]:
    return list(db.api_keys.find({"owner_id": owner_id}, WITHOUT_HASH).sort([("created_at", -1), ("_id", -1)]))


def find_owned(db: Database, owner_id: ObjectId, key_id: ObjectId) -> dict | None:
    return db.api_keys.find_one({"_id": key_id, "owner_id": owner_id}, WITHOUT_HASH)


def find_by_hash(db: Database, key_hash: str) -> dict | None:
    return db.api_keys.find_one({"key_hash": key_hash})


def touch(db: Database, key_id: ObjectId, now: datetime) -> None:
    db.api_keys.update_one({"_id": key_id}, {"$set": {"last_used_at": now}})


def revoke(db: Database, owner_id: ObjectId, key_id: ObjectId, now: datetime) -> None:
    db.api_keys.update_one({"_id": key_id, "owner_id": owner_id, "revoked_at": None}, {"$set": {"revoked_at": now}})


def revoke_all(db: Database, owner_id: ObjectId, now: datetime) -> int:
    return db.api_keys.update_many({"owner_id": owner_id, "revoked_at": None},
                                   {"$set": {"revoked_at": now}}).modified_count


def delete_all(db: Database, owner_id: ObjectId) -> None:
    db.api_keys.delete_many({"owner_id": owner_id})
