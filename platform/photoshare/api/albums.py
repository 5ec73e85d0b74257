"""/api/v1/albums: create, list, get, rename, delete (photos stay in the library)."""

from __future__ import annotations

from ..extensions import get_db
from ..services import albums as album_service
from ..services.albums import album_view
from .auth import current_owner_id, require_key
from .blueprint import Blueprint
from .schemas import (AlbumListArgsSchema, AlbumNameSchema, AlbumPageSchema, AlbumPatchSchema, AlbumSchema,
                      list_envelope)

bp = Blueprint("albums", __name__, url_prefix="/api/v1/albums",
               description="Your albums. A photo's albums are set on the photo (PATCH album_ids).")


@bp.route("", methods=["POST"])
@bp.keyed(400, 403, 409, 422)
@require_key("write")
@bp.arguments(AlbumNameSchema)
@bp.response(201, AlbumSchema)
def create_album(args):
    """Create an album

    Names are unique per user, ignoring case (409 otherwise).
    """
    return album_view(album_service.create_album(get_db(), current_owner_id(), args["name"]))


@bp.route("", methods=["GET"])
@bp.keyed(400, 403, 422)
@require_key("read")
@bp.arguments(AlbumListArgsSchema, location="query")
@bp.response(200, AlbumPageSchema)
def list_albums(args):
    """List your albums, newest first (cursor pagination, like photos)"""
    page = album_service.feed(get_db(), current_owner_id(), limit=args["limit"], cursor=args.get("cursor"))
    return list_envelope(page.items, album_view, page.next_cursor)


@bp.route("/<oid:album_id>", methods=["GET"])
@bp.keyed(403, 404)
@require_key("read")
@bp.response(200, AlbumSchema)
def album(album_id):
    """Get an album

    Its photos: `GET /api/v1/photos?album_id=...`.
    """
    db, owner_id = get_db(), current_owner_id()
    return album_view(album_service.with_photo_count(db, owner_id, album_service.get_album(db, owner_id, album_id)))


@bp.route("/<oid:album_id>", methods=["PATCH"])
@bp.keyed(400, 403, 404, 409, 422)
@require_key("write")
@bp.arguments(AlbumPatchSchema)
@bp.response(200, AlbumSchema)
def rename_album(args, album_id):
    """Rename an album, or change who sees it

    Send only what changes: `name`, `visibility` (private, unlisted: its share links
    work, public: also listed on your profile).
    """
    db, owner_id = get_db(), current_owner_id()
    album = album_service.get_album(db, owner_id, album_id)
    if "name" in args:
        album = album_service.rename_album(db, owner_id, album_id, args["name"])
    if "visibility" in args:
        album = album_service.set_album_visibility(db, owner_id, album_id, args["visibility"])
    return album_view(album_service.with_photo_count(db, owner_id, album))


@bp.route("/<oid:album_id>", methods=["DELETE"])
@bp.keyed(403, 404)
@require_key("write")
@bp.response(204, description="Deleted; its photos are still in your library.")
def delete_album(album_id):
    """Delete an album (not its photos)"""
    album_service.delete_album(get_db(), current_owner_id(), album_id)
    return ""
