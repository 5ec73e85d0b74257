"""Photos: upload, listing, reading, the user's caption, deletion."""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, Iterable

from bson import ObjectId
from gridfs.errors import NoFile
from pymongo.database import Database
from rq import Queue

from ..queueing import new_job_id
from ..store import files_bucket
from . import accounts, captions
from .albums import get_album
from .captions import DONE, FAILED, PENDING, PROCESSING
from .errors import NotFound, UploadRejected, ValidationError, as_object_id
from .images import ImageLimits, process_image, read_limited
from .visibility import DEFAULT_VISIBILITY, clean_visibility

log = logging.getLogger(__name__)

CAPTION_STATUSES = (PENDING, PROCESSING, DONE, FAILED)

VARIANTS = ("thumbnail", "display", "original")
MAX_USER_CAPTION_LENGTH = 500
MAX_FILENAME_LENGTH = 200

MAX_PER_PAGE = 100
# Far beyond any real library, and small enough that (page - 1) * per_page always fits
# the store's 64-bit skip (a huge ?page= would otherwise overflow it: a 500).
MAX_PAGE = 1_000_000

# The grid never needs the bulky model outputs.
LIST_PROJECTION = {"attention": 0, "alternatives": 0}
# The API shows the alternatives but never the attention maps (the web photo page uses them).
API_PROJECTION = {"attention": 0}


@dataclass
class Upload:
    """One file of an upload request: its client-side name and a readable stream."""
    filename: str
    stream: BinaryIO


@dataclass
class UploadOutcome:
    photos: list[dict] = field(default_factory=list)
    rejected: list[UploadRejected] = field(default_factory=list)
    queued: bool = True  # False when a captioning job could not be queued (Redis down)


@dataclass
class Page:
    items: list[dict]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def clean_filename(raw: str | None) -> str:
    """A display name for an uploaded file: no path, no control characters, bounded."""
    name = os.path.basename((raw or "").replace("\\", "/"))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:MAX_FILENAME_LENGTH] or "photo"


def clamp_page(page) -> int:
    """A page number within 1..MAX_PAGE (anything unreadable is page 1)."""
    try:
        page = int(page)
    except (TypeError, ValueError):
        return 1
    return max(1, min(page, MAX_PAGE))


def clean_caption(text: str | None) -> str | None:
    """The user's caption as stored: one line, no stray whitespace, bounded; None when empty."""
    text = " ".join((text or "").split())
    if len(text) > MAX_USER_CAPTION_LENGTH:
        raise ValidationError(
            f"The caption must be at most {MAX_USER_CAPTION_LENGTH} characters.", field="caption")
    return text or None


def display_caption(photo: dict) -> str:
    """The caption shown to people (and used as alt text): the user's own, else the AI's."""
    return photo.get("user_caption") or photo.get("ai_caption") or ""


def _now() -> datetime:
    return datetime.now(UTC)


# -- Writing -----------------------------------------------------------------------

def add_photo(db: Database, queue: Queue, owner_id: ObjectId, filename: str, stream: BinaryIO, settings, *,
              caption: str | None = None, album_id=None, visibility: str | None = None) -> dict:
    """Store one upload and queue its captioning; return the photo document. The one
    upload path of the website and the API.

    Everything is checked before anything is stored (the image, and the optional caption,
    album and visibility: "private" unless asked otherwise); a refusal raises
    UploadRejected or another ServiceError and stores nothing. The photo is created at
    once with caption_status "pending"; the caption arrives later from the worker. If the
    job cannot be queued (Redis down) the photo stays pending and the worker's
    reconciliation queues it later; `photo["caption_queued"]` tells which happened.
    """
    filename = clean_filename(filename)
    user_caption = clean_caption(caption)
    visibility = DEFAULT_VISIBILITY if visibility is None else clean_visibility(visibility)
    album_ids = [get_album(db, owner_id, album_id)["_id"]] if album_id is not None else []
    accounts.require_active(db, owner_id)
    limits = ImageLimits.from_settings(settings)
    data = read_limited(stream, limits.max_bytes, filename)
    processed = process_image(data, limits, filename)

    photo_id = ObjectId()
    job_id = new_job_id(settings)
    bucket = files_bucket(db)
    stored = {
        "original": (processed.original, processed.mime_type),
        "display": (processed.display.data, processed.display.mime_type),
        "thumbnail": (processed.thumbnail.data, processed.thumbnail.mime_type),
    }
    file_ids = {}
    try:
        for variant, (content, mime_type) in stored.items():
            file_ids[variant] = bucket.upload_from_stream(
                f"{photo_id}/{variant}",
                content,
                metadata={"owner_id": owner_id, "photo_id": photo_id, "variant": variant,
                          "content_type": mime_type},
            )
        now = _now()
        photo = {
            "_id": photo_id,
            "owner_id": owner_id,
            "filename": filename,
            "format": processed.format,
            "mime_type": processed.mime_type,
            "width": processed.width,
            "height": processed.height,
            "size_bytes": len(processed.original),
            "display_size": [processed.display.width, processed.display.height],
            "thumbnail_size": [processed.thumbnail.width, processed.thumbnail.height],
            "files": file_ids,
            "album_ids": album_ids,
            "visibility": visibility,
            "created_at": now,
            "user_caption": user_caption,
            "ai_caption": None,
            "caption_status": PENDING,
            "caption_error": None,
            "caption_requested_at": now,
            # Written before the job exists so the worker always finds its id here.
            "job_id": job_id,
            "requeue_count": 0,
        }
        if user_caption:
            photo["user_caption_updated_at"] = now
        db.photos.insert_one(photo)
        # The account may have been deleted while this upload was storing: its deletion
        # closes the account before removing content by owner, so checking again here
        # means the photo is either seen and removed by it or removed right now.
        accounts.require_active(db, owner_id)
    except BaseException:
        # Nothing half-stored: drop the document and the files already written. (A
        # process killed right here leaves files behind: the orphan sweep of
        # services.reconciliation removes them later.)
        db.photos.delete_one({"_id": photo_id})
        _delete_files(db, {"_id": photo_id, "files": file_ids})
        raise
    photo["caption_queued"] = captions.enqueue_caption_job(queue, photo_id, job_id, settings)
    return photo


def add_photos(db: Database, queue: Queue, owner_id: ObjectId,
               uploads: Iterable[Upload], settings) -> UploadOutcome:
    """Store several uploads; each is accepted or rejected on its own.

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
            photo = add_photo(db, queue, owner_id, upload.filename, upload.stream, settings)
        except UploadRejected as rejected:
            outcome.rejected.append(rejected)
        else:
            outcome.photos.append(photo)
            outcome.queued = outcome.queued and photo["caption_queued"]
    return outcome


def set_user_caption(db: Database, owner_id: ObjectId, photo_id, text: str | None) -> dict:
    """Set (or, with an empty text, clear) the user's own caption; the AI caption is kept."""
    photo_id = as_object_id(photo_id, "photo")
    result = db.photos.find_one_and_update(
        {"_id": photo_id, "owner_id": owner_id},
        {"$set": {"user_caption": clean_caption(text), "user_caption_updated_at": _now()}},
        return_document=True,
    )
    if result is None:
        raise NotFound("No such photo.")
    return result


def _delete_files(db: Database, photo: dict) -> None:
    """Delete the photo's stored files, once its document is gone. A file that cannot be
    deleted now (store hiccup) is left to the orphan sweep of services.reconciliation."""
    bucket = files_bucket(db)
    for file_id in (photo.get("files") or {}).values():
        try:
            bucket.delete(file_id)
        except NoFile:
            pass
        except Exception as error:
            log.warning("file %s of photo %s not deleted (%s); the orphan sweep will", file_id,
                        photo.get("_id"), error)


def delete_photo(db: Database, owner_id: ObjectId, photo_id) -> None:
    """Delete the photo and its stored files (original, display, thumbnail)."""
    photo_id = as_object_id(photo_id, "photo")
    photo = db.photos.find_one_and_delete({"_id": photo_id, "owner_id": owner_id})
    if photo is None:
        raise NotFound("No such photo.")
    # The document goes first so the photo vanishes at once; a queued captioning job
    # then finds nothing and ends quietly.
    _delete_files(db, photo)


# -- Reading -----------------------------------------------------------------------

def get_photo(db: Database, owner_id: ObjectId, photo_id, *, projection=None) -> dict:
    photo_id = as_object_id(photo_id, "photo")
    photo = db.photos.find_one({"_id": photo_id, "owner_id": owner_id}, projection)
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def photo_filter(owner_id: ObjectId, *, album_id=None, search: str | None = None) -> dict:
    """The query selecting a user's photos: optionally one album's, or a caption search.

    Shared by the paged grid below and the API's cursor listing (services.photo_feed).
    """
    query: dict = {"owner_id": owner_id}
    if album_id is not None:
        query["album_ids"] = as_object_id(album_id, "album")
    if search and search.strip():
        # The embedded store has no $text index: an escaped, case-insensitive regex.
        pattern = {"$regex": re.escape(search.strip()[:100]), "$options": "i"}
        query["$or"] = [{"ai_caption": pattern}, {"user_caption": pattern}, {"filename": pattern}]
    return query


def list_photos(db: Database, owner_id: ObjectId, *, page: int = 1, per_page: int = 24,
                album_id=None, search: str | None = None) -> Page:
    """A page of the user's photos, newest first; optionally one album's, or a caption search."""
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    page = clamp_page(page)
    query = photo_filter(owner_id, album_id=album_id, search=search)
    total = db.photos.count_documents(query)
    cursor = (db.photos.find(query, LIST_PROJECTION)
              .sort([("created_at", -1), ("_id", -1)])
              .skip((page - 1) * per_page)
              .limit(per_page))
    return Page(items=list(cursor), page=page, per_page=per_page, total=total)


def caption_state(db: Database, owner_id: ObjectId, photo_id) -> dict:
    """What the dashboard polls: status and captions of one photo."""
    photo_id = as_object_id(photo_id, "photo")
    photo = db.photos.find_one(
        {"_id": photo_id, "owner_id": owner_id},
        {"caption_status": 1, "ai_caption": 1, "user_caption": 1, "caption_error": 1, "model_version": 1},
    )
    if photo is None:
        raise NotFound("No such photo.")
    return {
        "id": str(photo["_id"]),
        "caption_status": photo.get("caption_status"),
        "caption": display_caption(photo) or None,
        "ai_caption": photo.get("ai_caption"),
        "user_caption": photo.get("user_caption"),
        "error": photo.get("caption_error"),
        "model_version": photo.get("model_version"),
    }


@dataclass
class StoredImage:
    stream: object       # a gridfs GridOut: file-like, iterable by chunks
    mime_type: str
    length: int
    file_id: ObjectId
    uploaded_at: datetime | None


def open_image(db: Database, owner_id: ObjectId, photo_id, variant: str) -> StoredImage:
    """Open one stored image of a photo (`thumbnail`, `display` or `original`)."""
    if variant not in VARIANTS:
        raise NotFound("No such image.")
    photo = db.photos.find_one({"_id": as_object_id(photo_id, "photo"), "owner_id": owner_id},
                               {"files": 1, "mime_type": 1})
    if photo is None or variant not in (photo.get("files") or {}):
        raise NotFound("No such photo.")
    return open_stored_image(db, photo, variant)


def open_stored_image(db: Database, photo: dict, variant: str) -> StoredImage:
    """Open one stored file of a photo the caller has already found and authorised
    (open_image above for the owner, services.sharing for public photos)."""
    try:
        grid_out = files_bucket(db).open_download_stream(photo["files"][variant])
    except NoFile:
        raise NotFound("The image file is missing.") from None
    metadata = grid_out.metadata or {}
    return StoredImage(
        stream=grid_out,
        mime_type=metadata.get("content_type") or "application/octet-stream",
        length=grid_out.length,
        file_id=grid_out._id,
        uploaded_at=grid_out.upload_date,
    )


def serialize_photo(photo: dict) -> dict:
    """A JSON-ready view of a photo document (ids as strings, dates ISO 8601), for APIs.
    Attention maps are not part of it: read the photo with API_PROJECTION."""
    return {
        "id": str(photo["_id"]),
        "filename": photo.get("filename"),
        "format": photo.get("format"),
        "width": photo.get("width"),
        "height": photo.get("height"),
        "size_bytes": photo.get("size_bytes"),
        "created_at": photo["created_at"].isoformat() if photo.get("created_at") else None,
        "album_ids": [str(album_id) for album_id in photo.get("album_ids") or []],
        "caption": display_caption(photo) or None,
        "ai_caption": photo.get("ai_caption"),
        "user_caption": photo.get("user_caption"),
        "caption_status": photo.get("caption_status"),
        "caption_error": photo.get("caption_error"),
        "model_version": photo.get("model_version"),
        "alternatives": photo.get("alternatives") or [],
    }
