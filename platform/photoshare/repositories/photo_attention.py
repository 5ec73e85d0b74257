"""The attention repository: the one module that reads and writes `photo_attention`.

{_id: photo id, owner_id, words: [{"word", "weights": H x W}]}: the per-word attention
maps of a photo's AI caption ("Why this caption"). Part of the photo, kept out of the
photo document because it is ~12 KB of floats per photo that every listing, scan and
count would otherwise decode; read only where it is shown. Written and removed only by
the photo repository's transitions (repositories.photos: complete, delete), so a photo
and its maps change together.
"""

from __future__ import annotations

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.database import Database


def ensure_indexes(db: Database) -> None:
    db.photo_attention.create_index([("owner_id", ASCENDING)], name="owner")


def of_photo(db: Database, owner_id: ObjectId, photo_id: ObjectId) -> list[dict]:
    """The per-word attention maps of the owner's photo ([] when there are none)."""
    doc = db.photo_attention.find_one({"_id": photo_id, "owner_id": owner_id}, {"words": 1})
    return (doc or {}).get("words") or []


def save(db: Database, photo_id: ObjectId, owner_id: ObjectId, words: list[dict]) -> None:
    db.photo_attention.replace_one({"_id": photo_id}, {"_id": photo_id, "owner_id": owner_id, "words": words},
                                   upsert=True)


def delete(db: Database, photo_id: ObjectId) -> None:
    db.photo_attention.delete_one({"_id": photo_id})


def delete_all_of_owner(db: Database, owner_id: ObjectId) -> None:
    db.photo_attention.delete_many({"owner_id": owner_id})
