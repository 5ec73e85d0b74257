"""Per-photo settings beyond the upload itself: visibility, the set of albums, and all of
a photo's settings at once (the API's PATCH); a photo's upright size.

Every function filters on the owner, so another user's photo or album is NotFound.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.database import Database

from . import albums as album_service
from . import photos as photo_service
from .errors import NotFound, as_object_id
from .visibility import clean_visibility


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


def _set(db: Database, owner_id: ObjectId, photo_id, fields: dict, projection=None) -> dict:
    """One atomic $set on the user's photo; NotFound if there is no such photo."""
    photo = db.photos.find_one_and_update(
        {"_id": as_object_id(photo_id, "photo"), "owner_id": owner_id},
        {"$set": fields},
        projection=projection,
        return_document=ReturnDocument.AFTER,
    )
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def set_visibility(db: Database, owner_id: ObjectId, photo_id, visibility: str) -> dict:
    visibility = clean_visibility(visibility)
    return _set(db, owner_id, photo_id, {"visibility": visibility, "visibility_updated_at": datetime.now(UTC)})


def set_albums(db: Database, owner_id: ObjectId, photo_id, album_ids) -> dict:
    """Make the photo's albums exactly `album_ids` (each must be one of the user's albums)."""
    return _set(db, owner_id, photo_id, {"album_ids": album_service.clean_album_ids(db, owner_id, album_ids)})


_UNSET = object()


def update_photo(db: Database, owner_id: ObjectId, photo_id, *, caption=_UNSET, visibility=_UNSET,
                 album_ids=_UNSET, projection=None) -> dict:
    """Change any of the user caption, the visibility and the albums of a photo.

    Every value is checked first, then all are written in one update: one bad value
    changes nothing, and a reader never sees half of the change.
    """
    now = datetime.now(UTC)
    fields: dict = {}
    if caption is not _UNSET:
        fields.update(user_caption=photo_service.clean_caption(caption), user_caption_updated_at=now)
    if visibility is not _UNSET:
        fields.update(visibility=clean_visibility(visibility), visibility_updated_at=now)
    if album_ids is not _UNSET:
        fields["album_ids"] = album_service.clean_album_ids(db, owner_id, album_ids)
    if not fields:
        return photo_service.get_photo(db, owner_id, photo_id, projection=projection)
    return _set(db, owner_id, photo_id, fields, projection)
