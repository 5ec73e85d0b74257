"""Discovery: what anyone may browse without a link. Public photos only, newest first.

- `/explore`: every public photo of the site, searchable by its shown caption
  (services.search.public_filter: the (visibility, caption_tokens) index).
- `/u/<handle>`: one account's public photos and public albums; `/a/<album id>`: a
  public album's photos (the album is what its owner made public).

Cards carry the public view of a photo (services.photo_mapper.public_view: an
allow-list) and the owner's handle and name, never an e-mail address. Pages are read
with one look-ahead item instead of a count, so a page costs the same at any size.
"""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId
from pymongo.database import Database

from ..repositories import albums as album_repo
from ..repositories import photos as photo_repo
from ..repositories import users as user_repo
from .errors import NotFound, as_object_id
from .pagination import clamp_page
from .photo_mapper import public_view
from .search import combine, public_filter
from .sharing import get_public_photo
from .visibility import PUBLIC, visibility_of

PAGE_SIZE = 24


@dataclass
class PublicPage:
    items: list[dict]   # public views, each with "owner_handle"
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _visible_owner(user: dict | None) -> bool:
    return user is not None and not user.get("deleting_at") and not user.get("disabled_at")


def _cards(db: Database, photos: list[dict], owners: dict | None = None) -> list[dict]:
    owners = owners if owners is not None else user_repo.public_profiles(db, {p["owner_id"] for p in photos})
    cards = []
    for photo in photos:
        owner = owners.get(photo["owner_id"])
        if not _visible_owner(owner):
            continue  # a closed or disabled account shows nothing
        card = public_view(photo, owner.get("name"))
        card["owner_handle"] = owner.get("handle")
        cards.append(card)
    return cards


def _page(db: Database, query: dict, page, owners: dict | None = None) -> PublicPage:
    page = clamp_page(page)
    photos = photo_repo.page(db, query, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    return PublicPage(_cards(db, photos[:PAGE_SIZE], owners), page, len(photos) > PAGE_SIZE)


def explore(db: Database, search: str | None = None, page=1) -> PublicPage:
    """Public photos of every account, newest first; optionally a caption search."""
    return _page(db, combine({"visibility": PUBLIC}, public_filter(search)), page)


@dataclass
class Profile:
    user: dict
    photos: PublicPage
    albums: list[dict]


def profile_user(db: Database, handle: str) -> dict:
    user = user_repo.find_by_handle(db, (handle or "").lower()[:40])
    if not _visible_owner(user):
        raise NotFound("There is no one with this handle.")
    return user


def profile(db: Database, handle: str, page=1) -> Profile:
    user = profile_user(db, handle)
    photos = _page(db, {"owner_id": user["_id"], "visibility": PUBLIC}, page, {user["_id"]: user})
    return Profile(user, photos, album_repo.with_visibility(db, user["_id"], PUBLIC))


def _public_album(db: Database, album_id) -> tuple[dict, dict]:
    try:
        album = album_repo.find(db, as_object_id(album_id, "album"))
    except NotFound:
        album = None
    owner = user_repo.public_profiles(db, [album["owner_id"]]).get(album["owner_id"]) if album else None
    if album is None or visibility_of(album) != PUBLIC or not _visible_owner(owner):
        raise NotFound("This album does not exist or is not public.")
    return album, owner


def public_album(db: Database, album_id, page=1) -> tuple[dict, dict, PublicPage]:
    """(album, owner, page of its photos) of a public album; NotFound otherwise."""
    album, owner = _public_album(db, album_id)
    query = {"owner_id": album["owner_id"], "album_ids": album["_id"]}
    return album, owner, _page(db, query, page, {owner["_id"]: owner})


def public_album_photo(db: Database, album_id, photo_id) -> dict:
    """A photo of a public album (to serve its images)."""
    album, _ = _public_album(db, album_id)
    try:
        photo = photo_repo.find_owned(db, album["owner_id"], as_object_id(photo_id, "photo"),
                                      {"files": 1, "album_ids": 1})
    except NotFound:
        photo = None
    if photo is None or album["_id"] not in (photo.get("album_ids") or []):
        raise NotFound("This album does not exist or is not public.")
    return photo


def public_photo(db: Database, photo_id) -> tuple[dict, dict]:
    """(public view, owner's public facts) of a public photo; NotFound otherwise."""
    photo = get_public_photo(db, photo_id)
    owner = owner_of(db, photo["owner_id"])
    if owner is None:
        raise NotFound("This photo does not exist or is not shared.")
    return public_view(photo, owner.get("name")), owner


def owner_of(db: Database, owner_id: ObjectId) -> dict | None:
    """The public facts of a photo's owner (name, handle), if the account is visible."""
    owner = user_repo.public_profiles(db, [owner_id]).get(owner_id)
    return owner if _visible_owner(owner) else None
