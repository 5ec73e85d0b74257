"""Public photos: what anyone (no account needed) may see of a photo whose visibility is
"public", on its page /p/<id> (views.profiles, services.discovery). Unlisted photos are
reached only through share links (services.shares), never here.

The owner turns visibility on and off on the photo page or through the API. Everything
here filters on visibility, not on an owner: the reader is anonymous.

What is shared is deliberately small (services.photo_mapper.public_view): the display
image and thumbnail (the original may carry EXIF data such as GPS position, so it is
never shared), the caption, the owner's name (never the e-mail address) and the upload
date. A private, missing or malformed photo id is one and the same NotFound, so the
answer does not tell which it was.
"""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database

from ..repositories import photos as photo_repo
from ..repositories import users as user_repo
from .errors import NotFound
from .photo_mapper import public_view
from .photos import StoredImage, open_stored_image
from .visibility import PUBLIC

# Derived images only: they are re-encoded from pixels, so they carry no EXIF metadata.
PUBLIC_VARIANTS = ("thumbnail", "display")


def _not_shared() -> NotFound:
    return NotFound("This photo does not exist or is not shared.")


def get_public_photo(db: Database, photo_id) -> dict:
    """The photo document if the photo exists and is public; NotFound otherwise."""
    try:
        photo_id = ObjectId(str(photo_id))
    except (InvalidId, TypeError):
        raise _not_shared() from None
    photo = photo_repo.find_visible(db, photo_id, PUBLIC, photo_repo.LIST_FIELDS)
    if photo is None or not _owner_can_share(db, photo["owner_id"]):
        raise _not_shared()
    return photo


def _owner_can_share(db: Database, owner_id) -> bool:
    # A disabled (or closing) account's public pages and links go dark, and come back
    # if an administrator enables it again.
    owner = user_repo.find(db, owner_id, {"disabled_at": 1, "deleting_at": 1})
    return owner is not None and not owner.get("disabled_at") and not owner.get("deleting_at")


def shared_photo(db: Database, photo_id) -> dict:
    """What the public share page shows of a public photo (the public view)."""
    photo = get_public_photo(db, photo_id)
    return public_view(photo, user_repo.public_name(db, photo["owner_id"]))


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
