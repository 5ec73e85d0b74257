"""The user repository: the one module that reads and writes the `users` collection."""

from __future__ import annotations

from datetime import datetime
from typing import Iterator

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..clock import utcnow


class EmailTaken(Exception):
    """Another account has this e-mail address (unique index)."""


class HandleTaken(Exception):
    """Another account has this public handle (unique index)."""


def ensure_indexes(db: Database) -> None:
    db.users.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    # Public handles (/u/<handle>), lower-case; accounts without one have no field.
    db.users.create_index([("handle", ASCENDING)], unique=True, sparse=True, name="handle_unique")
    # Accounts whose deletion was interrupted (the orphan sweep); few ever have it.
    db.users.create_index([("deleting_at", ASCENDING)], sparse=True, name="deleting")


def insert(db: Database, email: str, name: str | None, password_hash: str, handle: str | None = None) -> dict:
    user = {
        "email": email,
        "name": name,
        "password_hash": password_hash,
        # Part of the login session id: bumping it signs out every other session.
        "session_version": 1,
        "created_at": utcnow(),
    }
    if handle:
        user["handle"] = handle
    try:
        user["_id"] = db.users.insert_one(user).inserted_id
    except DuplicateKeyError:
        # Two unique indexes: the e-mail one answers first when both collide.
        if handle and find_by_email(db, email) is None:
            raise HandleTaken(handle) from None
        raise EmailTaken(email) from None
    return user


def set_handle(db: Database, user_id: ObjectId, handle: str) -> None:
    try:
        db.users.update_one({"_id": user_id}, {"$set": {"handle": handle}})
    except DuplicateKeyError:
        raise HandleTaken(handle) from None


def find_by_handle(db: Database, handle: str) -> dict | None:
    """The public facts of the account with this handle (never its e-mail address)."""
    return db.users.find_one({"handle": handle}, PUBLIC_FIELDS)


def public_profiles(db: Database, user_ids) -> dict:
    """{user id: public facts} of several accounts (the cards of /explore)."""
    return {user["_id"]: user for user in db.users.find({"_id": {"$in": list(user_ids)}}, PUBLIC_FIELDS)}


# What other people may learn of an account; the state fields say whether to show it.
PUBLIC_FIELDS = {"name": 1, "handle": 1, "deleting_at": 1, "disabled_at": 1}


def find(db: Database, user_id: ObjectId, projection=None) -> dict | None:
    return db.users.find_one({"_id": user_id}, projection)


def find_by_email(db: Database, email: str) -> dict | None:
    return db.users.find_one({"email": email})


def public_name(db: Database, user_id: ObjectId) -> str | None:
    """Only the name: the e-mail address never leaves this collection for a public page."""
    return (db.users.find_one({"_id": user_id}, {"name": 1, "_id": 0}) or {}).get("name")


def set_password(db: Database, user_id: ObjectId, password_hash: str) -> dict | None:
    """New password hash; the session version is bumped (every other session ends)."""
    db.users.update_one({"_id": user_id}, {
        "$set": {"password_hash": password_hash, "password_changed_at": utcnow()},
        "$inc": {"session_version": 1},
    })
    return find(db, user_id)


def mark_deleting(db: Database, user_id: ObjectId) -> None:
    """Close the account: no log-in, no upload, every session ends."""
    db.users.update_one({"_id": user_id}, {"$set": {"deleting_at": utcnow()}, "$inc": {"session_version": 1}})


def deleting_before(db: Database, cutoff: datetime) -> Iterator[ObjectId]:
    return (user["_id"] for user in db.users.find({"deleting_at": {"$lte": cutoff}}, {"_id": 1}))


def delete(db: Database, user_id: ObjectId) -> None:
    db.users.delete_one({"_id": user_id})


# -- Administration (roles, state, quota, storage counter) ------------------------------
# role: "admin" or absent (a user); disabled_at: set while an administrator has disabled
# the account; quota_bytes: the account's own quota (absent: the configured default);
# storage_used: bytes stored, kept by atomic $inc on every upload and deletion.

ADMIN = "admin"
LIST_FIELDS = {"password_hash": 0}


def set_role(db: Database, user_id: ObjectId, role: str | None) -> dict | None:
    update = {"$set": {"role": role}} if role else {"$unset": {"role": ""}}
    return db.users.find_one_and_update({"_id": user_id}, update, projection=LIST_FIELDS,
                                        return_document=ReturnDocument.AFTER)


def set_disabled(db: Database, user_id: ObjectId, disabled: bool) -> dict | None:
    """Disable (every session ends: the session version is bumped) or enable the account."""
    update = ({"$set": {"disabled_at": utcnow()}, "$inc": {"session_version": 1}} if disabled
              else {"$unset": {"disabled_at": ""}})
    return db.users.find_one_and_update({"_id": user_id}, update, projection=LIST_FIELDS,
                                        return_document=ReturnDocument.AFTER)


def set_quota(db: Database, user_id: ObjectId, quota_bytes: int | None) -> dict | None:
    update = {"$set": {"quota_bytes": quota_bytes}} if quota_bytes is not None else {"$unset": {"quota_bytes": ""}}
    return db.users.find_one_and_update({"_id": user_id}, update, projection=LIST_FIELDS,
                                        return_document=ReturnDocument.AFTER)


def record_login(db: Database, user_id: ObjectId) -> None:
    db.users.update_one({"_id": user_id}, {"$set": {"last_login_at": utcnow()}})


def end_sessions(db: Database, user_id: ObjectId) -> None:
    db.users.update_one({"_id": user_id}, {"$inc": {"session_version": 1}})


def reserve_storage(db: Database, user_id: ObjectId, size: int, quota: int) -> bool:
    """Add `size` to the account's storage counter (and one to its photo counter) if it
    stays within `quota`: one conditional update, so two parallel uploads cannot both
    pass the last free bytes."""
    if size > quota:
        return False
    query = {"_id": user_id, "$or": [{"storage_used": {"$lte": quota - size}},
                                     {"storage_used": {"$exists": False}}]}
    return db.users.update_one(query, {"$inc": {"storage_used": size, "photo_count": 1}}).matched_count > 0


def release_storage(db: Database, user_id: ObjectId, size: int) -> None:
    """One counted photo of `size` bytes is gone."""
    db.users.update_one({"_id": user_id}, {"$inc": {"storage_used": -size, "photo_count": -1}})


def page(db: Database, *, skip: int, limit: int) -> list[dict]:
    """Accounts, oldest first (the administrator's list)."""
    return list(db.users.find({}, LIST_FIELDS).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
                .skip(skip).limit(limit))


def count(db: Database, query: dict | None = None) -> int:
    return db.users.count_documents(query or {})


def all_ids(db: Database) -> list[ObjectId]:
    return [user["_id"] for user in db.users.find({}, {"_id": 1})]


def set_storage_used(db: Database, user_id: ObjectId, total: int, photos: int) -> None:
    db.users.update_one({"_id": user_id}, {"$set": {"storage_used": total, "photo_count": photos}})


def oldest_id(db: Database) -> ObjectId | None:
    user = db.users.find_one({"deleting_at": None}, {"_id": 1}, sort=[("created_at", ASCENDING), ("_id", ASCENDING)])
    return None if user is None else user["_id"]
