"""The account-export repository: the one module that reads and writes `exports`.

Documents: owner_id, status (queued | building | ready | failed), done, total (photos
written so far, of how many), cursor (where the next build step starts), file (archive
name under EXPORT_DIR), size_bytes, error, created_at, finished_at, expires_at.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

QUEUED, BUILDING, READY, FAILED = "queued", "building", "ready", "failed"
IN_PROGRESS = (QUEUED, BUILDING)


def ensure_indexes(db: Database) -> None:
    db.exports.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_newest")
    db.exports.create_index([("expires_at", ASCENDING)], name="expiry")


def insert(db: Database, export: dict) -> dict:
    export["_id"] = db.exports.insert_one(export).inserted_id
    return export


def latest_of_owner(db: Database, owner_id: ObjectId) -> dict | None:
    return db.exports.find_one({"owner_id": owner_id}, sort=[("created_at", -1), ("_id", -1)])


def find(db: Database, export_id: ObjectId) -> dict | None:
    return db.exports.find_one({"_id": export_id})


def find_owned(db: Database, owner_id: ObjectId, export_id: ObjectId) -> dict | None:
    return db.exports.find_one({"_id": export_id, "owner_id": owner_id})


def start(db: Database, export_id: ObjectId, total: int) -> dict | None:
    """queued → building (only once: a second run of the same job does nothing)."""
    return db.exports.find_one_and_update({"_id": export_id, "status": QUEUED},
                                          {"$set": {"status": BUILDING, "total": total, "done": 0}},
                                          return_document=ReturnDocument.AFTER)


def progress(db: Database, export_id: ObjectId, done: int, cursor: str) -> dict | None:
    """A step is written: `done` photos so far, the next step starts after `cursor`. The
    export after it, or None if it is no longer being built (deleted meanwhile)."""
    return db.exports.find_one_and_update({"_id": export_id, "status": BUILDING},
                                          {"$set": {"done": done, "cursor": cursor}},
                                          return_document=ReturnDocument.AFTER)


def finish(db: Database, export_id: ObjectId, fields: dict) -> dict | None:
    return db.exports.find_one_and_update({"_id": export_id, "status": BUILDING},
                                          {"$set": {"status": READY, **fields}}, return_document=ReturnDocument.AFTER)


def fail(db: Database, export_id: ObjectId, reason: str, now: datetime) -> None:
    db.exports.update_one({"_id": export_id, "status": {"$in": list(IN_PROGRESS)}},
                          {"$set": {"status": FAILED, "error": reason, "finished_at": now}})


def expired(db: Database, now: datetime) -> list[dict]:
    # Explicitly not null: exports under way have no expiry yet (and the embedded store
    # orders null before dates in range queries, unlike MongoDB).
    return list(db.exports.find({"expires_at": {"$ne": None, "$lte": now}}, {"file": 1}))


def delete(db: Database, export_id: ObjectId) -> None:
    db.exports.delete_one({"_id": export_id})


def delete_all_of_owner(db: Database, owner_id: ObjectId) -> list[dict]:
    docs = list(db.exports.find({"owner_id": owner_id}, {"file": 1}))
    db.exports.delete_many({"owner_id": owner_id})
    return docs
