"""Albums: named sets of a user's photos. A photo can be in several albums; it lists
their ids in `album_ids`, so deleting an album never deletes photos."""

from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from ..repositories import albums as album_repo
from ..repositories import photos as photo_repo
from . import search
from .errors import Conflict, NotFound, ValidationError, as_object_id
from .pagination import CursorPage, cursor_page
from .visibility import clean_visibility, visibility_of

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
    try:
        return album_repo.insert(db, owner_id, name, key)
    except album_repo.NameTaken:
        raise _duplicate(name) from None


def get_album(db: Database, owner_id: ObjectId, album_id) -> dict:
    album = album_repo.find_owned(db, owner_id, as_object_id(album_id, "album"))
    if album is None:
        raise NotFound("No such album.")
    return album


def with_photo_count(db: Database, owner_id: ObjectId, album: dict) -> dict:
    """Set album["photo_count"]: how many of the user's photos are in it."""
    album["photo_count"] = photo_repo.count_in_album(db, album["_id"])
    return album


def list_albums(db: Database, owner_id: ObjectId, *, with_counts: bool = True) -> list[dict]:
    """The user's albums, newest first; each with `photo_count` when asked."""
    albums = album_repo.list_of_owner(db, owner_id)
    if with_counts:
        for album in albums:
            with_photo_count(db, owner_id, album)
    return albums


def feed(db: Database, owner_id: ObjectId, *, limit, cursor: str | None = None) -> CursorPage:
    """One cursor page of the user's albums, newest first, each with its photo_count (the API)."""
    page = cursor_page(lambda query, limit: album_repo.newest(db, query, limit=limit),
                       {"owner_id": owner_id}, limit, cursor)
    for album in page.items:
        with_photo_count(db, owner_id, album)
    return page


def rename_album(db: Database, owner_id: ObjectId, album_id, name: str) -> dict:
    album_id = as_object_id(album_id, "album")
    name, key = _clean_name(name)
    try:
        album = album_repo.rename(db, owner_id, album_id, name, key)
    except album_repo.NameTaken:
        raise _duplicate(name) from None
    if album is None:
        raise NotFound("No such album.")
    search.album_renamed(db, owner_id, album_id)  # its photos are found by its new name
    return album


def set_album_visibility(db: Database, owner_id: ObjectId, album_id, visibility) -> dict:
    """private, unlisted (its share links work) or public (also on the owner's profile)."""
    album = album_repo.set_visibility(db, owner_id, as_object_id(album_id, "album"), clean_visibility(visibility))
    if album is None:
        raise NotFound("No such album.")
    return album


def delete_album(db: Database, owner_id: ObjectId, album_id) -> None:
    """Delete the album; its photos stay in the library (and in their other albums)."""
    album_id = as_object_id(album_id, "album")
    members = [photo["_id"] for photo in photo_repo.album_memberships(db, owner_id, album_id)]
    if not album_repo.delete(db, owner_id, album_id):
        raise NotFound("No such album.")
    photo_repo.remove_album_everywhere(db, owner_id, album_id)
    for photo_id in members:  # its name no longer finds them
        search.refresh_album_tokens(db, owner_id, photo_id)


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
    if photo_repo.add_to_album(db, owner_id, photo_id, album["_id"], MAX_ALBUMS_PER_PHOTO):
        search.refresh_album_tokens(db, owner_id, photo_id)
        return
    photo = photo_repo.find_owned(db, owner_id, photo_id, {"album_ids": 1})
    if photo is None:
        raise NotFound("No such photo.")
    if album["_id"] not in (photo.get("album_ids") or []):
        raise _too_many_albums()


def remove_photo_from_album(db: Database, owner_id: ObjectId, photo_id, album_id) -> None:
    album = get_album(db, owner_id, album_id)
    photo_id = as_object_id(photo_id, "photo")
    if not photo_repo.remove_from_album(db, owner_id, photo_id, album["_id"]):
        raise NotFound("No such photo.")
    search.refresh_album_tokens(db, owner_id, photo_id)


def albums_of_photo(db: Database, owner_id: ObjectId, photo: dict) -> list[dict]:
    ids = photo.get("album_ids") or []
    return album_repo.by_ids(db, owner_id, ids) if ids else []


def album_view(album: dict) -> dict:
    """The owner's JSON-ready view of an album (the API)."""
    return {
        "id": str(album["_id"]),
        "name": album["name"],
        "created_at": album["created_at"].isoformat() if album.get("created_at") else None,
        "updated_at": album["updated_at"].isoformat() if album.get("updated_at") else None,
        "photo_count": album.get("photo_count", 0),
        "visibility": visibility_of(album),
    }
