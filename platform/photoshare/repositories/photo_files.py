"""The stored image files of photos (original, display, thumbnail): the one module that
reads and writes image bytes.

Bytes live in the blob store configured for the database (photoshare.blobs: files
under MEDIA_ROOT by default, or GridFS), under the key `<photo_id>/<variant>`. A photo
document lists its files as `files: {variant: {"key", "mime_type", "size", "sha256"}}`.

Stores written before the blob store existed hold GridFS file ids there instead
(`files: {variant: ObjectId}`); those are still read from GridFS, so an old store keeps
working, until `flask --app photoshare migrate-media` (services.media_migration) moves
them into the configured store.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import gridfs
from bson import ObjectId
from gridfs.errors import NoFile
from pymongo.database import Database

from ..blobs import BlobNotFound, BlobStore, GridFSBlobStore

log = logging.getLogger(__name__)


class MissingFile(Exception):
    """The file is not in the store (deleted, or never completely written)."""


@dataclass
class StoredImage:
    stream: object       # file-like, iterable by chunks
    mime_type: str
    length: int
    version: str         # changes whenever the bytes behind the name change (an ETag)
    uploaded_at: datetime | None


# -- Which blob store serves which database ----------------------------------------------
# A database and its media store form one storage: the app factory and the worker attach
# the configured store to their database once per process (tests attach one per test
# database). A database with none attached keeps its images in GridFS, as before.

_stores: dict[tuple, BlobStore] = {}
_stores_lock = threading.Lock()


def _db_key(db: Database) -> tuple:
    return (id(db.client), db.name)


def attach_store(db: Database, store: BlobStore) -> None:
    with _stores_lock:
        _stores[_db_key(db)] = store


def store_of(db: Database) -> BlobStore:
    store = _stores.get(_db_key(db))
    return store if store is not None else GridFSBlobStore(db)


def blob_key(photo_id: ObjectId, variant: str) -> str:
    return f"{photo_id}/{variant}"


def photo_id_of_key(key: str) -> ObjectId | None:
    head = key.split("/", 1)[0]
    return ObjectId(head) if ObjectId.is_valid(head) else None


def ensure_indexes(db: Database) -> None:
    # GridFS (the gridfs blob store, and old stores): creating these up front keeps reads
    # indexed even on an empty database; GridFSBlobStore adds the single-field indexes the
    # embedded store serves lookups from (docs/STORAGE.md).
    GridFSBlobStore(db).ensure_indexes()


# -- Writing and deleting -----------------------------------------------------------------

def put(db: Database, photo_id: ObjectId, variant: str, data: bytes, mime_type: str) -> dict:
    """Store one file of a photo (atomically); returns its reference for the document."""
    info = store_of(db).put(blob_key(photo_id, variant), data)
    return {"key": info.key, "mime_type": mime_type, "size": info.size, "sha256": info.sha256}


def delete(db: Database, ref) -> bool:
    """Delete one file; False if it was already gone (deletes are idempotent)."""
    if isinstance(ref, ObjectId):  # a file of a store from before the blob store
        try:
            gridfs.GridFSBucket(db).delete(ref)
        except NoFile:
            return False
        return True
    return store_of(db).delete(ref["key"] if isinstance(ref, dict) else ref)


def delete_quietly(db: Database, refs, context: str = "") -> None:
    """Delete files once their photo document is gone. A file that cannot be deleted now
    (store hiccup) is left to the orphan sweep (services.reconciliation)."""
    for ref in refs:
        try:
            delete(db, ref)
        except Exception as error:
            log.warning("file %s %s not deleted (%s); the orphan sweep will", ref, context, error)


# -- Reading -------------------------------------------------------------------------------

def open_file(db: Database, ref, mime_type: str | None = None) -> StoredImage:
    """Open one file of a photo for streaming (a reference from the photo's `files`)."""
    if isinstance(ref, ObjectId):
        return _open_gridfs_file(db, ref)
    try:
        reader = store_of(db).open(ref["key"])
    except BlobNotFound:
        raise MissingFile(ref["key"]) from None
    return StoredImage(stream=reader, mime_type=ref.get("mime_type") or mime_type or "application/octet-stream",
                       length=reader.length, version=reader.version, uploaded_at=reader.modified_at)


def _open_gridfs_file(db: Database, file_id: ObjectId) -> StoredImage:
    try:
        grid_out = gridfs.GridFSBucket(db).open_download_stream(file_id)
    except NoFile:
        raise MissingFile(str(file_id)) from None
    metadata = grid_out.metadata or {}
    return StoredImage(stream=grid_out, mime_type=metadata.get("content_type") or "application/octet-stream",
                       length=grid_out.length, version=str(grid_out._id), uploaded_at=grid_out.upload_date)


def read(db: Database, ref) -> bytes:
    image = open_file(db, ref)
    try:
        return image.stream.read()
    finally:
        image.stream.close()


# -- The orphan sweep ----------------------------------------------------------------------

# The orphan sweep reads the stored files in bounded pages, phase by phase: the blob
# store's files, then (when the blob store is not GridFS) GridFS files of a store from
# before the blob store.
STORED_PHASES = ("blobs", "legacy")


def stored_page(db: Database, cutoff: datetime, phase: str, after, limit: int) -> tuple[list, object]:
    """One page of the photo files written before `cutoff`: at most `limit` (reference,
    photo id) of one phase after the cursor `after` (None: from the start), and the next
    page's cursor (None: the phase is done). Each page is one bounded read."""
    store = store_of(db)
    if phase == "blobs":
        entries, after = store.scan(cutoff, after, limit)
        return [(entry.key, photo_id) for entry in entries
                if (photo_id := photo_id_of_key(entry.key)) is not None], after
    if store.kind == "gridfs":  # the gridfs store listed them among its blobs
        return [], None
    query = {"uploadDate": {"$lte": cutoff}, "metadata.photo_id": {"$exists": True}}
    if after is not None:
        query["_id"] = {"$gt": after}
    docs = list(db.fs.files.find(query, {"metadata.photo_id": 1}).sort("_id", 1).limit(limit))
    return ([(doc["_id"], doc["metadata"]["photo_id"]) for doc in docs],
            docs[-1]["_id"] if len(docs) == limit else None)


def remove_orphan_chunks_page(db: Database, cutoff: datetime, after, limit: int) -> tuple[int, object]:
    """One bounded page of GridFS chunks without their files document, of files started
    before `cutoff` (a killed write or deletion; the gridfs blob store's, or of a store
    from before the blob store), read in `files_id` order after `after`: (files removed,
    the next page's cursor or None)."""
    return GridFSBlobStore(db).remove_incomplete_page(cutoff, after, limit)


def remove_incomplete_writes(db: Database, cutoff: datetime) -> int:
    """The blob store's own leftovers of killed writes (e.g. temp files of the fs store;
    the gridfs store's are its orphan chunks, see remove_orphan_chunks_page)."""
    store = store_of(db)
    return 0 if store.kind == "gridfs" else store.remove_incomplete(cutoff)


def legacy_file(db: Database, file_id: ObjectId) -> tuple[bytes, str | None] | None:
    """(bytes, content type) of a GridFS file of a store from before the blob store, or
    None if it is gone (the media migration)."""
    try:
        image = _open_gridfs_file(db, file_id)
    except MissingFile:
        return None
    return image.stream.read(), image.mime_type
