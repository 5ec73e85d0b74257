"""Albums: named sets of a user's photos. A photo can be in several albums; it lists
their ids in `album_ids`, so deleting an album never deletes photos."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from .errors import Conflict, NotFound, ValidationError, as_object_id

MAX_ALBUM_NAME_LENGTH = 100
MAX_ALBUMS_PER_PHOTO = 100


def _clean_name(name: str | None) -> tuple[str, str]:
    """(name as shown, key used for per-user uniqueness: case-insensitive)."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the album a name.", field="name")
    if len(name) > MAX_ALBUM_NAME_LENGTH:
        raise ValidationError(f"The album name must be at most {MAX_ALBUM_NAME_LENGTH} characters.",
                              field="name")
    return name, name.casefold()


def _duplicate(name: str) -> Conflict:
    return Conflict(f"You already have an album called “{name}”.", field="name")


def create_album(db: Database, owner_id: ObjectId, name: str) -> dict:
    name, key = _clean_name(name)
    now = datetime.now(UTC)
    album = {"owner_id": owner_id, "name": name, "name_key": key, "created_at": now, "updated_at": now}
    try:
        album["_id"] = db.albums.insert_one(album).inserted_id
    except DuplicateKeyError:
        raise _duplicate(name) from None
    return album


def get_album(db: Database, owner_id: ObjectId, album_id) -> dict:
    album = db.albums.find_one({"_id": as_object_id(album_id, "album"), "owner_id": owner_id})
    if album is None:
        raise NotFound("No such album.")
    return album


def with_photo_count(db: Database, owner_id: ObjectId, album: dict) -> dict:
    """Set album["photo_count"]: how many of the user's photos are in it."""
    album["photo_count"] = db.photos.count_documents({"owner_id": owner_id, "album_ids": album["_id"]})
    return album


def list_albums(db: Database, owner_id: ObjectId, *, with_counts: bool = True) -> list[dict]:
    """The user's albums, newest first; each with `photo_count` when asked."""
    albums = list(db.albums.find({"owner_id": owner_id}).sort([("created_at", -1), ("_id", -1)]))
    if with_counts:
        for album in albums:
            with_photo_count(db, owner_id, album)
    return albums


def rename_album(db: Database, owner_id: ObjectId, album_id, name: str) -> dict:
    album_id = as_object_id(album_id, "album")
    name, key = _clean_name(name)
    try:
        album = db.albums.find_one_and_update(
            {"_id": album_id, "owner_id": owner_id},
            {"$set": {"name": name, "name_key": key, "updated_at": datetime.now(UTC)}},
            return_document=True,
        )
    except DuplicateKeyError:
        raise _duplicate(name) from None
    if album is None:
        raise NotFound("No such album.")
    return album


def delete_album(db: Database, owner_id: ObjectId, album_id) -> None:
    """Delete the album; its photos stay in the library (and in their other albums)."""
    album_id = as_object_id(album_id, "album")
    if db.albums.delete_one({"_id": album_id, "owner_id": owner_id}).deleted_count == 0:
        raise NotFound("No such album.")
    db.photos.update_many({"owner_id": owner_id, "album_ids": album_id}, {"$pull": {"album_ids": album_id}})


def _too_many_albums() -> ValidationError:
    return ValidationError(f"A photo can be in at most {MAX_ALBUMS_PER_PHOTO} albums.", field="album_ids")


def clean_album_ids(db: Database, owner_id: ObjectId, album_ids) -> list[ObjectId]:
    """The distinct ids of `album_ids`, each one of the user's albums (NotFound otherwise),
    at most MAX_ALBUMS_PER_PHOTO of them."""
    ids: list[ObjectId] = []
    for raw in album_ids or []:
        album_id = as_object_id(raw, "album")
        if album_id not in ids:
            ids.append(album_id)
    if len(ids) > MAX_ALBUMS_PER_PHOTO:
        raise _too_many_albums()
    for album_id in ids:
        get_album(db, owner_id, album_id)  # NotFound unless the user's own
    return ids


def add_photo_to_album(db: Database, owner_id: ObjectId, photo_id, album_id) -> None:
    """Put the photo in one more album (idempotent), within MAX_ALBUMS_PER_PHOTO."""
    album = get_album(db, owner_id, album_id)  # both must belong to the user
    photo_id = as_object_id(photo_id, "photo")
    # The limit is part of the update's condition (no element at the last allowed
    # position yet), so two concurrent additions cannot pass it together.
    result = db.photos.update_one(
        {"_id": photo_id, "owner_id": owner_id, f"album_ids.{MAX_ALBUMS_PER_PHOTO - 1}": {"$exists": False}},
        {"$addToSet": {"album_ids": album["_id"]}},
    )
    if result.matched_count:
        return
    photo = db.photos.find_one({"_id": photo_id, "owner_id": owner_id}, {"album_ids": 1})
    if photo is None:
        raise NotFound("No such photo.")
    if album["_id"] not in (photo.get("album_ids") or []):
        raise _too_many_albums()


def remove_photo_from_album(db: Database, owner_id: ObjectId, photo_id, album_id) -> None:
    album = get_album(db, owner_id, album_id)
    result = db.photos.update_one(
        {"_id": as_object_id(photo_id, "photo"), "owner_id": owner_id},
        {"$pull": {"album_ids": album["_id"]}},
    )
    if result.matched_count == 0:
        raise NotFound("No such photo.")


def albums_of_photo(db: Database, owner_id: ObjectId, photo: dict) -> list[dict]:
    ids = photo.get("album_ids") or []
    if not ids:
        return []
    return list(db.albums.find({"owner_id": owner_id, "_id": {"$in": ids}}).sort("name_key", 1))


def serialize_album(album: dict) -> dict:
    """A JSON-ready view of an album document, for APIs."""
    result = {
        "id": str(album["_id"]),
        "name": album["name"],
        "created_at": album["created_at"].isoformat() if album.get("created_at") else None,
        "updated_at": album["updated_at"].isoformat() if album.get("updated_at") else None,
    }
    if "photo_count" in album:
        result["photo_count"] = album["photo_count"]
    return result
