"""The site settings repository: the one module that reads and writes `site_settings`.

One small document per setting, keyed by a fixed `_id`:

    {"_id": "first_admin", "user_id": ...}   who became the administrator of a fresh
                                             install (inserted once: the unique _id makes
                                             the claim atomic, whatever the concurrency)
    {"_id": "signup_policy", "value": ...}   the administrator's signup policy
"""

from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..clock import utcnow

FIRST_ADMIN = "first_admin"
SIGNUP_POLICY = "signup_policy"


def ensure_indexes(db: Database) -> None:
    pass  # documents are read by _id only


def claim_first_admin(db: Database, user_id: ObjectId) -> bool:
    """True for exactly one caller ever: the insert of the fixed _id succeeds once."""
    try:
        db.site_settings.insert_one({"_id": FIRST_ADMIN, "user_id": user_id, "at": utcnow()})
    except DuplicateKeyError:
        return False
    return True


def adopt_existing_install(db: Database, oldest_user_id) -> bool:
    """An install that had accounts before roles existed: its oldest account becomes the
    administrator at start-up (otherwise the next stranger to sign up would). Same atomic
    claim as a fresh install's first sign-up, so both cannot win. True if it claimed now."""
    if first_admin_claimed(db):
        return False
    user_id = oldest_user_id()
    return user_id is not None and claim_first_admin(db, user_id)


def first_admin_user(db: Database) -> ObjectId | None:
    return (db.site_settings.find_one({"_id": FIRST_ADMIN}) or {}).get("user_id")


def first_admin_claimed(db: Database) -> bool:
    return db.site_settings.count_documents({"_id": FIRST_ADMIN}, limit=1) > 0


def get(db: Database, name: str):
    doc = db.site_settings.find_one({"_id": name})
    return None if doc is None else doc.get("value")


def put(db: Database, name: str, value) -> None:
    db.site_settings.update_one({"_id": name}, {"$set": {"value": value, "updated_at": utcnow()}}, upsert=True)
