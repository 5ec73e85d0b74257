"""Share links: /s/<token> for one photo or one album, made by its owner.

- The token is `secrets.token_urlsafe(24)` (192 random bits), never derived from an id;
  only its SHA-256 is stored (repositories.share_links), so a copy of the database does
  not open any link, and the token is shown once, when the link is made.
- Optional expiry, optional password (bcrypt, services.accounts), `allow_download` (the
  original, re-encoded without metadata: services.metadata), revocation, a view counter.
- A link works only while its photo or album is unlisted or public
  (services.visibility.LINKABLE): making it private again turns all its links off.
  Making a link for a private photo or album makes it unlisted.
- Unknown, wrong, expired and revoked tokens, a target gone private or deleted, an
  account closed or disabled: all are one and the same NotFound (`not_shared`), so an
  answer never tells which.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from ..clock import utcnow
from ..repositories import albums as album_repo
from ..repositories import photo_files
from ..repositories import photos as photo_repo
from ..repositories import share_links as link_repo
from ..repositories import users as user_repo
from . import accounts
from .albums import get_album, set_album_visibility
from .errors import NotFound, ValidationError, as_object_id
from .metadata import stripped_original
from .pagination import OffsetPage, clamp_page
from .photo_mapper import public_view
from .photos import StoredImage, get_photo, open_stored_image, update_photo
from .visibility import LINKABLE, PRIVATE, UNLISTED, visibility_of

TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 64  # a longer "token" is not one of ours: no hashing, no lookup
MAX_EXPIRY_DAYS = 365
MIN_LINK_PASSWORD, MAX_LINK_PASSWORD = 4, 200
PHOTO, ALBUM = "photo", "album"
SHARED_VARIANTS = ("thumbnail", "display")
ALBUM_PAGE_SIZE = 48
NOT_SHARED_MESSAGE = "This link does not exist, has expired or was withdrawn."


def not_shared() -> NotFound:
    return NotFound(NOT_SHARED_MESSAGE, code="not_found")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class NewShare:
    link: dict
    token: str  # shown once: only its hash is stored


def _clean_expiry(days) -> int | None:
    if days is None or days == "":
        return None
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"The expiry is 1 to {MAX_EXPIRY_DAYS} days (or none).", field="expires_in_days")
    return days


def _clean_password(password) -> str | None:
    if not password:
        return None
    if not MIN_LINK_PASSWORD <= len(password) <= MAX_LINK_PASSWORD:
        raise ValidationError(f"A link password is {MIN_LINK_PASSWORD} to {MAX_LINK_PASSWORD} characters.",
                              field="password")
    return password


def create_share(db: Database, owner_id: ObjectId, *, photo_id=None, album_id=None, expires_in_days=None,
                 password: str | None = None, allow_download: bool = False, rounds: int = 12) -> NewShare:
    """Make a link to one of the owner's photos or albums (exactly one of the two)."""
    if (photo_id is None) == (album_id is None):
        raise ValidationError("Share either a photo or an album.", field="photo_id")
    days, password = _clean_expiry(expires_in_days), _clean_password(password)
    if photo_id is not None:
        target = get_photo(db, owner_id, photo_id, projection={"visibility": 1})
        if visibility_of(target) == PRIVATE:
            update_photo(db, owner_id, target["_id"], visibility=UNLISTED)
    else:
        target = get_album(db, owner_id, album_id)
        if visibility_of(target) == PRIVATE:
            set_album_visibility(db, owner_id, target["_id"], UNLISTED)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = link_repo.insert(db, {
        "owner_id": owner_id,
        "target": PHOTO if photo_id is not None else ALBUM,
        "target_id": target["_id"],
        "token_hash": hash_token(token),
        "token_hint": token[:4],
        "expires_at": utcnow() + timedelta(days=days) if days else None,
        "password_hash": accounts.hash_password(password, rounds) if password else None,
        "allow_download": bool(allow_download),
    })
    return NewShare(link, token)


def state_of(link: dict) -> str:
    if link.get("revoked_at"):
        return "revoked"
    if link.get("expires_at") and link["expires_at"] <= utcnow():
        return "expired"
    return "active"


def list_shares(db: Database, owner_id: ObjectId, target_id=None) -> list[dict]:
    """The owner's links, newest first (of one photo or album when `target_id` is given)."""
    target_id = as_object_id(target_id, "photo") if target_id is not None else None
    return link_repo.of_owner(db, owner_id, target_id)


def revoke_share(db: Database, owner_id: ObjectId, share_id) -> None:
    if not link_repo.revoke(db, owner_id, as_object_id(share_id, "share link")):
        raise NotFound("No such share link.")


def share_view(link: dict) -> dict:
    """The owner's JSON-ready view of a link (never the token, which is not stored)."""
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": str(link["_id"]),
        "target": link["target"],
        "photo_id": str(link["target_id"]) if link["target"] == PHOTO else None,
        "album_id": str(link["target_id"]) if link["target"] == ALBUM else None,
        "token_hint": link.get("token_hint"),
        "created_at": iso(link.get("created_at")),
        "expires_at": iso(link.get("expires_at")),
        "revoked_at": iso(link.get("revoked_at")),
        "has_password": bool(link.get("password_hash")),
        "allow_download": bool(link.get("allow_download")),
        "views": link.get("views", 0),
        "last_viewed_at": iso(link.get("last_viewed_at")),
        "state": state_of(link),
    }


# -- Visitors ----------------------------------------------------------------------------

@dataclass
class Shared:
    """What a working token opens: the link, its photo or album, the owner's public facts."""
    link: dict
    owner: dict
    photo: dict | None = None
    album: dict | None = None

    @property
    def id(self) -> ObjectId:
        return self.link["_id"]

    @property
    def needs_password(self) -> bool:
        return bool(self.link.get("password_hash"))

    @property
    def allow_download(self) -> bool:
        return bool(self.link.get("allow_download")) and self.photo is not None


def resolve(db: Database, token) -> Shared:
    """The share behind `token`, or the one NotFound whatever the reason."""
    if not isinstance(token, str) or not 16 <= len(token) <= MAX_TOKEN_LENGTH:
        raise not_shared()
    link = link_repo.find_by_token_hash(db, hash_token(token))
    if link is None or state_of(link) != "active":
        raise not_shared()
    owner = user_repo.find(db, link["owner_id"], user_repo.PUBLIC_FIELDS)
    if owner is None or owner.get("deleting_at") or owner.get("disabled_at"):
        raise not_shared()
    if link["target"] == PHOTO:
        photo = photo_repo.find_owned(db, link["owner_id"], link["target_id"], photo_repo.LIST_FIELDS)
        if photo is None or visibility_of(photo) not in LINKABLE:
            raise not_shared()
        return Shared(link, owner, photo=photo)
    album = album_repo.find_owned(db, link["owner_id"], link["target_id"])
    if album is None or visibility_of(album) not in LINKABLE:
        raise not_shared()
    return Shared(link, owner, album=album)


def check_link_password(shared: Shared, password: str | None) -> bool:
    return bool(password) and accounts.check_password(password, shared.link["password_hash"])


def count_view(db: Database, shared: Shared) -> None:
    link_repo.count_view(db, shared.id)


def owner_name(shared: Shared) -> str | None:
    return shared.owner.get("name")


def photo_view(shared: Shared, photo: dict | None = None) -> dict:
    """The public view of the shared photo (or of one photo of the shared album)."""
    return public_view(photo or shared.photo, owner_name(shared))


def album_page(db: Database, shared: Shared, page: int = 1) -> OffsetPage:
    """A page of the shared album's photos (all of them: the album is what is shared)."""
    page = clamp_page(page)
    query = {"owner_id": shared.link["owner_id"], "album_ids": shared.album["_id"]}
    items = photo_repo.page(db, query, skip=(page - 1) * ALBUM_PAGE_SIZE, limit=ALBUM_PAGE_SIZE)
    total = photo_repo.count_in_album(db, shared.album["_id"])
    return OffsetPage(items=[photo_view(shared, photo) for photo in items], page=page,
                      per_page=ALBUM_PAGE_SIZE, total=total)


def _photo_of(db: Database, shared: Shared, photo_id) -> dict:
    """The shared photo, or one photo of the shared album; NotFound for anything else."""
    if shared.photo is not None:
        if photo_id is not None and str(photo_id) != str(shared.photo["_id"]):
            raise not_shared()
        return shared.photo
    try:
        photo_id = as_object_id(photo_id, "photo")
    except NotFound:
        raise not_shared() from None
    photo = photo_repo.find_owned(db, shared.link["owner_id"], photo_id, {"files": 1, "album_ids": 1,
                                                                          "filename": 1, "format": 1})
    if photo is None or shared.album["_id"] not in (photo.get("album_ids") or []):
        raise not_shared()
    return photo


def open_shared_image(db: Database, shared: Shared, variant: str, photo_id=None) -> StoredImage:
    """The thumbnail or display image of the shared photo (or of a photo of the album)."""
    if variant not in SHARED_VARIANTS:
        raise not_shared()
    photo = _photo_of(db, shared, photo_id)
    if variant not in (photo.get("files") or {}):
        raise not_shared()
    try:
        return open_stored_image(db, photo, variant)
    except NotFound:
        raise not_shared() from None


@dataclass
class Download:
    data: bytes
    mime_type: str
    filename: str


def download_original(db: Database, shared: Shared) -> Download:
    """The shared photo's original, upright and without any metadata, if the link allows it."""
    if not shared.allow_download:
        raise not_shared()
    photo = photo_repo.find_owned(db, shared.link["owner_id"], shared.photo["_id"], {"files": 1, "filename": 1})
    if photo is None or "original" not in (photo.get("files") or {}):
        raise not_shared()
    try:
        data, mime_type = stripped_original(photo_files.read(db, photo["files"]["original"]))
    except photo_files.MissingFile:
        raise not_shared() from None
    extension = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(mime_type, "img")
    return Download(data, mime_type, f"photo.{extension}")
