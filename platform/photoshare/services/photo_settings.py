"""Per-photo settings beyond the caption: visibility and the set of albums; one upload
with its settings; a photo's upright size.

Visibility is "private" (the default: only the owner sees the photo) or "public"
(may be shown to others by sharing features). Photos stored before visibility existed
have no field and count as private.

Every function checks ownership through the existing services (photos.get_photo,
albums.get_album), so another user's photo or album is NotFound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import BinaryIO

from bson import ObjectId
from pymongo.database import Database
from rq import Queue

from . import albums as album_service
from . import photos as photo_service
from .errors import NotFound, ServiceError, ValidationError, as_object_id

PRIVATE, PUBLIC = "private", "public"
VISIBILITIES = (PRIVATE, PUBLIC)
DEFAULT_VISIBILITY = PRIVATE
MAX_ALBUMS_PER_PHOTO = 100


def visibility_of(photo: dict) -> str:
    return photo.get("visibility") or DEFAULT_VISIBILITY


def clean_visibility(value: str | None) -> str:
    if value not in VISIBILITIES:
        raise ValidationError(f"Visibility must be one of: {', '.join(VISIBILITIES)}.", field="visibility")
    return value


def visibility_filter(value: str) -> dict:
    """Query fragment selecting photos of one visibility (missing counts as private)."""
    value = clean_visibility(value)
    if value == DEFAULT_VISIBILITY:
        return {"visibility": {"$in": [None, value]}}
    return {"visibility": value}


def upright_size(photo: dict) -> tuple[int | None, int | None]:
    """(width, height) of the photo as displayed, i.e. after EXIF orientation.

    The stored width/height are the original's pixel grid; the derived display image is
    upright, so its aspect ratio tells whether the original was turned by 90°.
    """
    width, height = photo.get("width"), photo.get("height")
    display = photo.get("display_size") or []
    if not (width and height) or len(display) != 2 or not all(display):
        return width, height
    dw, dh = display
    same = abs(dw * height - dh * width)
    turned = abs(dw * width - dh * height)
    return (height, width) if turned < same else (width, height)


def _clean_album_ids(db: Database, owner_id: ObjectId, album_ids) -> list[ObjectId]:
    ids: list[ObjectId] = []
    for raw in album_ids or []:
        album_id = as_object_id(raw, "album")
        if album_id not in ids:
            ids.append(album_id)
    if len(ids) > MAX_ALBUMS_PER_PHOTO:
        raise ValidationError(f"A photo can be in at most {MAX_ALBUMS_PER_PHOTO} albums.", field="album_ids")
    for album_id in ids:
        album_service.get_album(db, owner_id, album_id)  # NotFound unless the user's own
    return ids


def set_visibility(db: Database, owner_id: ObjectId, photo_id, visibility: str) -> dict:
    visibility = clean_visibility(visibility)
    photo = db.photos.find_one_and_update(
        {"_id": as_object_id(photo_id, "photo"), "owner_id": owner_id},
        {"$set": {"visibility": visibility, "visibility_updated_at": datetime.now(UTC)}},
        return_document=True,
    )
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def set_albums(db: Database, owner_id: ObjectId, photo_id, album_ids) -> dict:
    """Make the photo's albums exactly `album_ids` (each must be one of the user's albums)."""
    ids = _clean_album_ids(db, owner_id, album_ids)
    photo = db.photos.find_one_and_update(
        {"_id": as_object_id(photo_id, "photo"), "owner_id": owner_id},
        {"$set": {"album_ids": ids}},
        return_document=True,
    )
    if photo is None:
        raise NotFound("No such photo.")
    return photo


_UNSET = object()


def update_photo(db: Database, owner_id: ObjectId, photo_id, *, caption=_UNSET, visibility=_UNSET,
                 album_ids=_UNSET) -> dict:
    """Change any of the user caption, the visibility and the albums of a photo.

    Everything is checked before anything is written: one bad value changes nothing.
    """
    photo = photo_service.get_photo(db, owner_id, photo_id)
    if visibility is not _UNSET:
        clean_visibility(visibility)
    if album_ids is not _UNSET:
        _clean_album_ids(db, owner_id, album_ids)
    if caption is not _UNSET:
        photo = photo_service.set_user_caption(db, owner_id, photo["_id"], caption)
    if visibility is not _UNSET:
        photo = set_visibility(db, owner_id, photo["_id"], visibility)
    if album_ids is not _UNSET:
        photo = set_albums(db, owner_id, photo["_id"], album_ids)
    return photo


def upload_photo(db: Database, queue: Queue, owner_id: ObjectId, filename: str, stream: BinaryIO,
                 settings, *, caption: str | None = None, album_id=None,
                 visibility: str | None = None) -> dict:
    """Store one upload (photos.add_photo: same checks, same captioning job) with its
    optional caption, album and visibility. On any refusal nothing stays stored."""
    if visibility is not None:
        clean_visibility(visibility)
    if album_id is not None:
        album_service.get_album(db, owner_id, album_id)
    photo = photo_service.add_photo(db, queue, owner_id, filename, stream, settings)
    queued = photo.get("caption_queued")
    try:
        photo = update_photo(
            db, owner_id, photo["_id"],
            caption=caption if caption is not None else _UNSET,
            visibility=visibility or DEFAULT_VISIBILITY,
            album_ids=[album_id] if album_id is not None else _UNSET,
        )
    except ServiceError:
        # e.g. a caption over the length limit: undo the upload (its queued job then
        # finds no photo and ends quietly).
        photo_service.delete_photo(db, owner_id, photo["_id"])
        raise
    photo["caption_queued"] = queued
    return photo
