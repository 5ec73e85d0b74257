"""/api/v1/photos: upload, list, read, change, delete, image files, caption again."""

from __future__ import annotations

from flask import current_app, url_for

from ..extensions import get_db, get_queue
from ..image_responses import image_response
from ..repositories.photos import DETAIL_FIELDS
from ..services import albums as album_service
from ..services import captions as caption_service
from ..services import photos as photo_service
from ..services.photo_mapper import owner_view
from .auth import current_owner_id, require_key
from .blueprint import Blueprint
from .schemas import (ImageArgsSchema, PhotoListArgsSchema, PhotoPageSchema, PhotoPatchSchema, PhotoSchema,
                      PhotoUploadSchema, list_envelope)

bp = Blueprint("photos", __name__, url_prefix="/api/v1/photos",
               description="Your photos: upload, list, search, captions, albums, image files.")

# API size names -> stored variants (services.photos.VARIANTS)
SIZES = {"thumb": "thumbnail", "display": "display", "original": "original"}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif")


def photo_json(photo: dict) -> dict:
    """The API's view of a photo: the owner's view (services.photo_mapper) and its links."""
    data = owner_view(photo)
    photo_id = data["id"]

    def image(size):
        return url_for("photos.image", photo_id=photo_id, size=size, _external=True)

    data["urls"] = {
        "self": url_for("photos.photo", photo_id=photo_id, _external=True),
        "web": url_for("gallery.photo", photo_id=photo_id, _external=True),
        "thumb": image("thumb"),
        "display": image("display"),
        "original": image("original"),
    }
    return data


@bp.route("", methods=["POST"])
@bp.keyed(400, 403, 404, 409, 413, 415, 422)
@require_key("write")
@bp.arguments(PhotoUploadSchema, location="multipart")
@bp.response(202, PhotoSchema, description="Stored; the caption follows (poll caption_status).")
def upload(args):
    """Upload a photo

    The image is checked like a website upload (decoded, not trusted by name or type:
    JPEG, PNG, WebP, GIF or HEIC, within the size and pixel limits), stored, and queued
    for captioning. The answer comes at once with `caption_status: "pending"`. The very
    same bytes as one of your photos are a 409 `duplicate` whose `existing_id` is that
    photo (unless `keep_both`).
    ---
    """
    image = args["image"]
    photo = photo_service.add_photo(
        get_db(), get_queue(), current_owner_id(), image.filename or "", image.stream, current_app.config,
        caption=args.get("caption"), album_id=args.get("album_id"), visibility=args.get("visibility"),
        keep_both=args["keep_both"],
    )
    return photo_json(photo)


@bp.route("", methods=["GET"])
@bp.keyed(400, 403, 404, 422)
@require_key("read")
@bp.arguments(PhotoListArgsSchema, location="query")
@bp.response(200, PhotoPageSchema)
def list_photos(args):
    """List your photos, newest first

    Cursor pagination: pass the `next_cursor` of a page as `cursor` to get the next one
    (null on the last page). Photos added meanwhile never make a walk skip or repeat
    an item. Filters: `album_id`, `status` (caption status), `visibility`, `q` (search
    in captions and file names).
    """
    db, owner_id = get_db(), current_owner_id()
    if args.get("album_id"):
        album_service.get_album(db, owner_id, args["album_id"])  # another user's album: 404
    page = photo_service.feed(db, owner_id, limit=args["limit"], cursor=args.get("cursor"),
                              album_id=args.get("album_id"), status=args.get("status"),
                              search=args.get("q"), visibility=args.get("visibility"))
    return list_envelope(page.items, photo_json, page.next_cursor)


@bp.route("/<oid:photo_id>", methods=["GET"])
@bp.keyed(403, 404)
@require_key("read")
@bp.response(200, PhotoSchema)
def photo(photo_id):
    """Get a photo"""
    return photo_json(photo_service.get_photo(get_db(), current_owner_id(), photo_id, projection=DETAIL_FIELDS))


@bp.route("/<oid:photo_id>", methods=["PATCH"])
@bp.keyed(400, 403, 404, 422)
@require_key("write")
@bp.arguments(PhotoPatchSchema)
@bp.response(200, PhotoSchema)
def update_photo(args, photo_id):
    """Change a photo's caption, visibility or albums

    Send only what changes. `caption` is your own caption (empty or null clears it: the
    AI caption shows again); `album_ids` replaces the photo's list of albums.
    """
    photo = photo_service.update_photo(get_db(), current_owner_id(), photo_id, projection=DETAIL_FIELDS, **args)
    return photo_json(photo)


@bp.route("/<oid:photo_id>", methods=["DELETE"])
@bp.keyed(403, 404)
@require_key("write")
@bp.response(204, description="Deleted, with its image files.")
def delete_photo(photo_id):
    """Delete a photo"""
    photo_service.delete_photo(get_db(), current_owner_id(), photo_id)
    return ""


@bp.route("/<oid:photo_id>/image", methods=["GET"])
@bp.keyed(403, 404, 422)
@require_key("read")
@bp.arguments(ImageArgsSchema, location="query")
@bp.doc(responses={
    "200": {"description": "The image file",
            "content": {mime: {"schema": {"type": "string", "format": "binary"}} for mime in IMAGE_TYPES}},
    "304": {"description": "Not modified (If-None-Match matched the ETag)"},
})
def image(args, photo_id):
    """Download an image file of a photo

    `thumb` and `display` are upright JPEGs (at most 400 and 1600 px); `original` is
    the file as uploaded.
    """
    return image_response(photo_service.open_image(get_db(), current_owner_id(), photo_id, SIZES[args["size"]]))


@bp.route("/<oid:photo_id>/recaption", methods=["POST"])
@bp.keyed(403, 404, 409)
@require_key("write")
@bp.response(202, PhotoSchema, description="Queued; caption_status is pending again.")
def recaption(photo_id):
    """Caption a photo again

    For a photo whose captioning is done or failed; 409 while it is still pending or
    processing.
    """
    db, owner_id = get_db(), current_owner_id()
    caption_service.recaption_photo(db, get_queue(), owner_id, photo_id, current_app.config)
    return photo_json(photo_service.get_photo(db, owner_id, photo_id, projection=DETAIL_FIELDS))
