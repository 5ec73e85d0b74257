"""The stored image files of photos (original, display, thumbnail): the one module that
reads and writes the GridFS bucket `fs` (collections fs.files and fs.chunks).

Each file carries metadata {owner_id, photo_id, variant, content_type}, which the
account purge and the orphan sweep use to find files whose photo is gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

import gridfs
from bson import ObjectId
from gridfs.errors import NoFile
from pymongo import ASCENDING
from pymongo.database import Database

log = logging.getLogger(__name__)


class MissingFile(Exception):
    """The file is not in the store (deleted, or never completely written)."""


@dataclass
class StoredImage:
    stream: object       # file-like, iterable by chunks
    mime_type: str
    length: int
    file_id: ObjectId
    uploaded_at: datetime | None


def _bucket(db: Database) -> gridfs.GridFSBucket:
    return gridfs.GridFSBucket(db)


def ensure_indexes(db: Database) -> None:
    # GridFS creates these on first write; creating them up front keeps reads indexed
    # even on an empty database. The owner index serves account deletion.
    db.fs.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    db.fs.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
    db.fs.files.create_index([("metadata.owner_id", ASCENDING)], name="owner")


def put(db: Database, owner_id: ObjectId, photo_id: ObjectId, variant: str, data: bytes, mime_type: str) -> ObjectId:
    return _bucket(db).upload_from_stream(
        f"{photo_id}/{variant}", data,
        metadata={"owner_id": owner_id, "photo_id": photo_id, "variant": variant, "content_type": mime_type},
    )


def open_file(db: Database, file_id: ObjectId) -> StoredImage:
    try:
        grid_out = _bucket(db).open_download_stream(file_id)
    except NoFile:
        raise MissingFile(str(file_id)) from None
    metadata = grid_out.metadata or {}
    return StoredImage(stream=grid_out, mime_type=metadata.get("content_type") or "application/octet-stream",
                       length=grid_out.length, file_id=grid_out._id, uploaded_at=grid_out.upload_date)


def read(db: Database, file_id: ObjectId) -> bytes:
    return open_file(db, file_id).stream.read()


def delete(db: Database, file_id: ObjectId) -> bool:
    """Delete one file; False if it was already gone (deletes are idempotent)."""
    try:
        _bucket(db).delete(file_id)
    except NoFile:
        return False
    return True


def delete_quietly(db: Database, file_ids, context: str = "") -> None:
    """Delete files once their photo document is gone. A file that cannot be deleted now
    (store hiccup) is left to the orphan sweep (services.reconciliation)."""
    for file_id in file_ids:
        try:
            delete(db, file_id)
        except Exception as error:
            log.warning("file %s %s not deleted (%s); the orphan sweep will", file_id, context, error)


def ids_of_owner(db: Database, owner_id: ObjectId) -> list[ObjectId]:
    return [f["_id"] for f in db.fs.files.find({"metadata.owner_id": owner_id}, {"_id": 1})]


def written_before(db: Database, cutoff: datetime) -> Iterator[tuple[ObjectId, ObjectId]]:
    """(file id, photo id) of every photo file written before `cutoff`."""
    files = db.fs.files.find({"uploadDate": {"$lte": cutoff}, "metadata.photo_id": {"$exists": True}},
                             {"metadata.photo_id": 1})
    return ((f["_id"], f["metadata"]["photo_id"]) for f in files)
