"""Photos: upload, reading, the owner's changes (caption, visibility, albums), deletion.

The one path for each of these, shared by the website and the API. Documents are read
and written only through repositories.photos (the photo document's owner) and the
files through repositories.photo_files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable

from bson import ObjectId
from pymongo.database import Database
from rq import Queue

from ..clock import utcnow
from .. import metrics
from ..queueing import new_job_id
from ..repositories import photo_files
from ..repositories import photos as photo_repo
from . import accounts, captions, quota
from . import metadata
from . import search as search_module
from .albums import clean_album_ids, get_album
from .errors import NotFound, UploadRejected, ValidationError, as_object_id
from .images import ImageLimits, process_image, read_limited
from .pagination import CursorPage, OffsetPage, clamp_page, clamp_per_page, cursor_page
from .visibility import DEFAULT_VISIBILITY, clean_visibility, visibility_filter

log = logging.getLogger(__name__)

VARIANTS = ("thumbnail", "display", "original")
# What open_image returns: a stream with its type, length and identity (image_responses).
StoredImage = photo_files.StoredImage
MAX_USER_CAPTION_LENGTH = 500
MAX_FILENAME_LENGTH = 200


@dataclass
class Upload:
    """One file of an upload request: its client-side name and a readable stream."""
    filename: str
    stream: BinaryIO


class DuplicatePhoto(UploadRejected):
    """The same bytes as a photo the owner already has (409, with that photo's id)."""

    def __init__(self, filename: str, existing: dict):
        existing_name = existing.get("filename") or "a photo"
        super().__init__(f"{filename} is already in your library (as {existing_name}).",
                         code="duplicate", filename=filename, http_status=409)
        self.existing_id = str(existing["_id"])

    def to_dict(self) -> dict:
        return {**super().to_dict(), "existing_id": self.existing_id}


@dataclass
class UploadOutcome:
    photos: list[dict] = field(default_factory=list)
    rejected: list[UploadRejected] = field(default_factory=list)
    queued: bool = True  # False when a captioning job could not be queued (Redis down)


def clean_filename(raw: str | None) -> str:
    """A display name for an uploaded file: no path, no control characters, bounded."""
    name = os.path.basename((raw or "").replace("\\", "/"))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if set(name) <= {"."}:  # "." and ".." name no file
        name = ""
    return name[:MAX_FILENAME_LENGTH] or "photo"


def clean_caption(text: str | None) -> str | None:
    """The user's caption as stored: one line, no stray whitespace, bounded; None when empty."""
    text = " ".join((text or "").split())
    if len(text) > MAX_USER_CAPTION_LENGTH:
        raise ValidationError(
            f"The caption must be at most {MAX_USER_CAPTION_LENGTH} characters.", field="caption")
    return text or None


# -- Upload ------------------------------------------------------------------------

def add_photo(db: Database, queue: Queue, owner_id: ObjectId, filename: str, stream: BinaryIO, settings, *,
              caption: str | None = None, album_id=None, visibility: str | None = None,
              keep_both: bool = False) -> dict:
    """Store one upload and queue its captioning; return the photo document. The one
    upload path of the website and the API.

    Everything is checked before anything is stored (the image, and the optional caption,
    album and visibility: "private" unless asked otherwise); a refusal raises
    UploadRejected or another ServiceError and stores nothing. The photo is created at
    once with caption_status "pending"; the caption arrives later from the worker. If the
    job cannot be queued (Redis down) the photo stays pending and the worker's
    reconciliation queues it later; `photo["caption_queued"]` tells which happened.

    Exact duplicates: the same bytes as a photo the owner already has raise DuplicatePhoto
    (nothing stored) unless `keep_both`. The sha256 of the uploaded bytes is kept on the
    photo for this; photos stored before it was have none and are not found as duplicates
    (no backfill). Two identical uploads racing each other may both be stored.
    """
    filename = clean_filename(filename)
    user_caption = clean_caption(caption)
    visibility = DEFAULT_VISIBILITY if visibility is None else clean_visibility(visibility)
    album = get_album(db, owner_id, album_id) if album_id is not None else None
    album_ids = [album["_id"]] if album else []
    accounts.require_active(db, owner_id)
    limits = ImageLimits.from_settings(settings)
    data = read_limited(stream, limits.max_bytes, filename)
    sha256 = hashlib.sha256(data).hexdigest()
    # Before decoding: a duplicate costs one index lookup, not a decode.
    existing = None if keep_both else photo_repo.find_duplicate(db, owner_id, sha256)
    if existing is not None:
        raise DuplicatePhoto(filename, existing)
    processed = process_image(data, limits, filename)

    photo_id = ObjectId()
    job_id = new_job_id(settings)
    stored = {
        "original": (processed.original, processed.mime_type),
        "display": (processed.display.data, processed.display.mime_type),
        "thumbnail": (processed.thumbnail.data, processed.thumbnail.mime_type),
    }
    # The quota is reserved before anything is stored (services.quota: atomic, so parallel
    # uploads cannot pass it together) and given back if storing fails.
    stored_bytes = sum(len(content) for content, _ in stored.values())
    quota.reserve_upload(db, owner_id, stored_bytes, settings, filename)
    file_ids = {}
    try:
        for variant, (content, mime_type) in stored.items():
            file_ids[variant] = photo_files.put(db, photo_id, variant, content, mime_type)
        photo = photo_repo.insert_pending(db, {
            "_id": photo_id,
            "owner_id": owner_id,
            "filename": filename,
            "format": processed.format,
            "mime_type": processed.mime_type,
            "width": processed.width,
            "height": processed.height,
            "size_bytes": len(processed.original),
            "sha256": sha256,
            "display_size": [processed.display.width, processed.display.height],
            "thumbnail_size": [processed.thumbnail.width, processed.thumbnail.height],
            "files": file_ids,
            "album_ids": album_ids,
            "album_tokens": search_module.album_tokens([album["name"]] if album else []),
            "exif": metadata.exif_summary(processed.original),
            "visibility": visibility,
            "user_caption": user_caption,
            "stored_bytes": stored_bytes,
        }, job_id)
        # The account may have been deleted while this upload was storing: its deletion
        # closes the account before removing content by owner, so checking again here
        # means the photo is either seen and removed by it or removed right now.
        accounts.require_active(db, owner_id)
    except BaseException:
        # Nothing half-stored: drop the document and the files already written. (A
        # process killed right here leaves files behind: the orphan sweep of
        # services.reconciliation removes them later.)
        photo_repo.delete(db, photo_id)
        photo_files.delete_quietly(db, file_ids.values(), f"of photo {photo_id}")
        quota.release(db, owner_id, stored_bytes)
        raise
    photo["caption_queued"] = captions.enqueue_caption_job(queue, photo_id, job_id, settings)
    metrics.count(queue.connection, settings["PHOTOSHARE_PREFIX"], "photoshare_uploads_total")
    return photo


def add_photos(db: Database, queue: Queue, owner_id: ObjectId,
               uploads: Iterable[Upload], settings, *, keep_both: bool = False) -> UploadOutcome:
    """Store several uploads; each is accepted or rejected on its own (a duplicate too,
    see add_photo).

    Raises ValidationError when there is no file at all or too many files.
    """
    uploads = list(uploads)
    if not uploads:
        raise ValidationError("Choose at least one photo to upload.", field="images")
    if len(uploads) > settings["MAX_UPLOAD_FILES"]:
        raise ValidationError(
            f"Upload at most {settings['MAX_UPLOAD_FILES']} photos at a time.", field="images")
    outcome = UploadOutcome()
    for upload in uploads:
        try:
            photo = add_photo(db, queue, owner_id, upload.filename, upload.stream, settings,
                              keep_both=keep_both)
        except UploadRejected as rejected:
            outcome.rejected.append(rejected)
        else:
            outcome.photos.append(photo)
            outcome.queued = outcome.queued and photo["caption_queued"]
    return outcome


# -- The owner's changes -------------------------------------------------------------

_UNSET = object()


def update_photo(db: Database, owner_id: ObjectId, photo_id, *, caption=_UNSET, visibility=_UNSET,
                 album_ids=_UNSET, show_camera=_UNSET, show_date_taken=_UNSET, projection=None) -> dict:
    """Change any of the user caption, the visibility and the albums of a photo: the one
    write path of the photo page's forms and the API's PATCH.

    Every value is checked first, then all are written in one update: one bad value
    changes nothing, and a reader never sees half of the change. An empty caption clears
    the user's caption (the AI caption shows again; it is always kept).
    """
    photo_id = as_object_id(photo_id, "photo")
    now = utcnow()
    fields: dict = {}
    if caption is not _UNSET:
        fields.update(user_caption=clean_caption(caption), user_caption_updated_at=now)
    if visibility is not _UNSET:
        fields.update(visibility=clean_visibility(visibility), visibility_updated_at=now)
    if album_ids is not _UNSET:
        fields["album_ids"] = clean_album_ids(db, owner_id, album_ids)
    # Whether shared pages may show the camera / the date taken (never the GPS position).
    if show_camera is not _UNSET:
        fields["show_camera"] = bool(show_camera)
    if show_date_taken is not _UNSET:
        fields["show_date_taken"] = bool(show_date_taken)
    if not fields:
        return get_photo(db, owner_id, photo_id, projection=projection)
    photo = photo_repo.update_settings(db, owner_id, photo_id, fields, projection)
    if photo is None:
        raise NotFound("No such photo.")
    if "album_ids" in fields:
        search_module.refresh_album_tokens(db, owner_id, photo_id)  # album names are searched too
    return photo


def delete_photo(db: Database, owner_id: ObjectId, photo_id) -> None:
    """Delete the photo and its stored files (original, display, thumbnail)."""
    photo = photo_repo.delete(db, as_object_id(photo_id, "photo"), owner_id)
    if photo is None:
        raise NotFound("No such photo.")
    quota.release(db, owner_id, photo.get("stored_bytes"))  # only the deletion that won gives back
    # The document goes first so the photo vanishes at once; a queued captioning job
    # then finds nothing and ends quietly.
    photo_files.delete_quietly(db, (photo.get("files") or {}).values(), f"of photo {photo['_id']}")


# -- Reading -----------------------------------------------------------------------

def get_photo(db: Database, owner_id: ObjectId, photo_id, *, projection=None) -> dict:
    photo = photo_repo.find_owned(db, owner_id, as_object_id(photo_id, "photo"), projection)
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def photo_filter(owner_id: ObjectId, *, album_id=None, search: str | None = None) -> dict:
    """The query selecting a user's photos: optionally one album's, or a caption search.

    Shared by the paged grid below and the API's cursor listing (services.pagination).
    """
    query: dict = {"owner_id": owner_id}
    if album_id is not None:
        query["album_ids"] = as_object_id(album_id, "album")
    # Captions and album names, by word, whatever their order or form (services.search).
    return search_module.combine(query, search_module.owner_filter(search))


def list_photos(db: Database, owner_id: ObjectId, *, page: int = 1, per_page: int = 24,
                album_id=None, search: str | None = None) -> OffsetPage:
    """A page of the user's photos, newest first; optionally one album's, or a caption search."""
    per_page, page = clamp_per_page(per_page), clamp_page(page)
    query = photo_filter(owner_id, album_id=album_id, search=search)
    if search and search.strip():
        # One look-ahead item instead of a count: the embedded store counts a search's
        # matches by decoding each (minutes for a frequent word at 10,000 photos).
        # `total` is then what is known: the items up to this page, plus one if there are more.
        items = photo_repo.page(db, query, skip=(page - 1) * per_page, limit=per_page + 1)
        return OffsetPage(items=items[:per_page], page=page, per_page=per_page,
                          total=(page - 1) * per_page + len(items))
    # An album's count by its id alone: the one-equality count both stores serve from an index.
    total = (photo_repo.count_in_album(db, query["album_ids"]) if album_id is not None
             else photo_repo.count(db, query))
    items = photo_repo.page(db, query, skip=(page - 1) * per_page, limit=per_page)
    return OffsetPage(items=items, page=page, per_page=per_page, total=total)


def feed(db: Database, owner_id: ObjectId, *, limit, cursor: str | None = None, album_id=None,
         status: str | None = None, search: str | None = None, visibility: str | None = None) -> CursorPage:
    """One cursor page of the user's photos, newest first, with optional filters (the API)."""
    query = photo_filter(owner_id, album_id=album_id, search=search)
    if status:
        if status not in photo_repo.CAPTION_STATUSES:
            raise ValidationError(f"Unknown caption status {status!r}.", field="status")
        query["caption_status"] = status
    if visibility:
        query.update(visibility_filter(visibility))

    def read_newest(query, limit):
        return photo_repo.newest(db, query, limit=limit, projection=photo_repo.DETAIL_FIELDS)

    return cursor_page(read_newest, query, limit, cursor)


def caption_status(db: Database, owner_id: ObjectId, photo_id) -> dict:
    """The fields the dashboard polls (status and captions) of one photo."""
    return get_photo(db, owner_id, photo_id, projection={
        "caption_status": 1, "ai_caption": 1, "user_caption": 1, "caption_error": 1, "model_version": 1})


def open_image(db: Database, owner_id: ObjectId, photo_id, variant: str) -> StoredImage:
    """Open one stored image of a photo (`thumbnail`, `display` or `original`)."""
    if variant not in VARIANTS:
        raise NotFound("No such image.")
    photo = photo_repo.find_owned(db, owner_id, as_object_id(photo_id, "photo"), {"files": 1})
    if photo is None or variant not in (photo.get("files") or {}):
        raise NotFound("No such photo.")
    return open_stored_image(db, photo, variant)


def open_stored_image(db: Database, photo: dict, variant: str) -> StoredImage:
    """Open one stored file of a photo the caller has already found and authorised
    (open_image above for the owner, services.sharing for public photos)."""
    try:
        return photo_files.open_file(db, photo["files"][variant])
    except photo_files.MissingFile:
        raise NotFound("The image file is missing.") from None
