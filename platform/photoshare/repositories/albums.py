"""The album repository: the one module that reads and writes the `albums` collection.
(Which photos are in an album is a list on each photo: repositories.photos.)"""

from __future__ import annotations

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from ..clock import utcnow

# Newest first by `_id` (made at creation) alone: the order the API's album cursor
# (services.pagination, `_id < last`) walks, served from an index by both stores.
NEWEST_FIRST = [("_id", DESCENDING)]


class NameTaken(Exception):
    """The owner already has an album of this name (ignoring case)."""


def ensure_indexes(db: Database) -> None:
    db.albums.create_index([("owner_id", ASCENDING), ("name_key", ASCENDING)], unique=True,
                           name="owner_name_unique")
    db.albums.create_index([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc")
    # A profile's public albums, newest first.
    db.albums.create_index([("owner_id", ASCENDING), ("visibility", ASCENDING), ("_id", DESCENDING)],
                           name="owner_visibility_id_desc")
    # The single-field index the embedded store walks (docs/STORAGE.md).
    db.albums.create_index([("owner_id", ASCENDING)], name="owner")
    for retired in set(db.albums.index_information()) & {"owner_newest", "owner_visibility_newest"}:
        db.albums.drop_index(retired)  # by created_at: replaced by the _id-ordered ones above


def insert(db: Database, owner_id: ObjectId, name: str, name_key: str) -> dict:
    now = utcnow()
    album = {"owner_id": owner_id, "name": name, "name_key": name_key, "created_at": now, "updated_at": now}
    try:
        album["_id"] = db.albums.insert_one(album).inserted_id
    except DuplicateKeyError:
        raise NameTaken(name) from None
    return album


def find_owned(db: Database, owner_id: ObjectId, album_id: ObjectId) -> dict | None:
    return db.albums.find_one({"_id": album_id, "owner_id": owner_id})


def find(db: Database, album_id: ObjectId) -> dict | None:
    """The album whatever its owner: only for a share link, which the caller has checked."""
    return db.albums.find_one({"_id": album_id})


def with_visibility(db: Database, owner_id: ObjectId, visibility: str) -> list[dict]:
    """The owner's albums of one visibility (a profile's public albums), newest first."""
    return list(db.albums.find({"owner_id": owner_id, "visibility": visibility}).sort(NEWEST_FIRST).limit(200))


def set_visibility(db: Database, owner_id: ObjectId, album_id: ObjectId, visibility: str) -> dict | None:
    return db.albums.find_one_and_update(
        {"_id": album_id, "owner_id": owner_id},
        {"$set": {"visibility": visibility, "visibility_updated_at": utcnow()}},
        return_document=ReturnDocument.AFTER)


def list_of_owner(db: Database, owner_id: ObjectId) -> list[dict]:
    return list(db.albums.find({"owner_id": owner_id}).sort(NEWEST_FIRST))


def newest(db: Database, query: dict, *, limit: int) -> list[dict]:
    """The first `limit` albums matching `query` (which must filter on the owner), newest first."""
    return list(db.albums.find(query).sort(NEWEST_FIRST).limit(limit))


def by_ids(db: Database, owner_id: ObjectId, album_ids: list[ObjectId]) -> list[dict]:
    """The owner's albums among `album_ids`, by name."""
    return list(db.albums.find({"owner_id": owner_id, "_id": {"$in": album_ids}}).sort("name_key", 1))


def rename(db: Database, owner_id: ObjectId, album_id: ObjectId, name: str, name_key: str) -> dict | None:
    try:
        return db.albums.find_one_and_update(
            {"_id": album_id, "owner_id": owner_id},
            {"$set": {"name": name, "name_key": name_key, "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        raise NameTaken(name) from None


def delete(db: Database, owner_id: ObjectId, album_id: ObjectId) -> bool:
    return db.albums.delete_one({"_id": album_id, "owner_id": owner_id}).deleted_count > 0


def delete_all_of_owner(db: Database, owner_id: ObjectId) -> int:
    return db.albums.delete_many({"owner_id": owner_id}).deleted_count
