"""Sharing: what anyone with the link (no account needed) may see of a public photo.

A photo is shared when its visibility is "public" (services.visibility); the owner
turns that on and off on the photo page or through the API. Everything here filters on
visibility, not on an owner: the reader is anonymous.

What is shared is deliberately small: the display image and thumbnail (the original may
carry EXIF data such as GPS position, so it is never shared), the caption, the owner's
name (never the e-mail address) and the upload date. A private, missing or malformed
photo id is one and the same NotFound, so the answer does not tell which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database

from .errors import NotFound
from .photos import LIST_PROJECTION, StoredImage, display_caption, open_stored_image
from .visibility import PUBLIC

# Derived images only: they are re-encoded from pixels, so they carry no EXIF metadata.
PUBLIC_VARIANTS = ("thumbnail", "display")

# Shown when the owner gave no name; the e-mail address is never a fallback.
ANONYMOUS_OWNER = "a Photoshare member"


def _not_shared() -> NotFound:
    return NotFound("This photo does not exist or is not shared.")


@dataclass
class SharedPhoto:
    """The public view of a photo: nothing here may be private."""
    id: ObjectId
    caption: str          # the user's caption, else the AI's; "" while there is none
    owner_name: str
    created_at: datetime | None
    display_size: tuple[int, int] | None


def get_public_photo(db: Database, photo_id) -> dict:
    """The photo document if the photo exists and is public; NotFound otherwise."""
    try:
        photo_id = ObjectId(str(photo_id))
    except (InvalidId, TypeError):
        raise _not_shared() from None
    photo = db.photos.find_one({"_id": photo_id, "visibility": PUBLIC}, LIST_PROJECTION)
    if photo is None:
        raise _not_shared()
    return photo


def shared_photo(db: Database, photo_id) -> SharedPhoto:
    """What the public share page shows of a public photo."""
    photo = get_public_photo(db, photo_id)
    # Only the name is read: the owner's e-mail address never leaves the users collection.
    owner = db.users.find_one({"_id": photo["owner_id"]}, {"name": 1, "_id": 0}) or {}
    display_size = photo.get("display_size") or []
    return SharedPhoto(
        id=photo["_id"],
        caption=display_caption(photo),
        owner_name=owner.get("name") or ANONYMOUS_OWNER,
        created_at=photo.get("created_at"),
        display_size=tuple(display_size) if len(display_size) == 2 else None,
    )


def open_public_image(db: Database, photo_id, variant: str) -> StoredImage:
    """Open the thumbnail or display image of a public photo; anything else is NotFound."""
    if variant not in PUBLIC_VARIANTS:
        raise _not_shared()
    photo = get_public_photo(db, photo_id)
    if variant not in (photo.get("files") or {}):
        raise _not_shared()
    try:
        return open_stored_image(db, photo, variant)
    except NotFound:
        raise _not_shared() from None
