"""The GridFS blob store: blobs as GridFS files in MongoDB (`<bucket>.files` and
`<bucket>.chunks`), for deployments whose web and worker machines share only MongoDB.

A key is the GridFS `filename`. That is also how the application has always named its
GridFS files (`<photo_id>/<variant>`), so an existing store keeps working when read
through this backend. Lookups go through the `(filename, uploadDate)` index GridFS
creates; we ask for the documents of one filename without a sort and pick the newest
revision here, because a sorted find is what the embedded store serves slowly (see
docs/STORAGE.md) and a key has one revision except during a `put`.

Atomic writes: GridFS writes the chunks first and the files document last, so a file
becomes visible only once complete; a failed write is aborted here (its chunks
deleted), and a killed writer leaves only chunks without a files document, which
`remove_incomplete` removes. `put` on an existing key adds a newer revision, then
deletes the older ones (only those older than its own, so two concurrent puts of one
key leave the newer one, never none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import BinaryIO, Iterator

import gridfs
from bson import ObjectId
from gridfs.errors import NoFile
from pymongo.database import Database

from .base import BlobEntry, BlobInfo, BlobNotFound, BlobReader, BlobStore, HashingReader, InvalidBlobKey, validate_key

BATCH = 500  # chunks read per query by remove_incomplete


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware=True returns naive datetimes, which are UTC in BSON.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _revision_order(doc: dict) -> tuple:
    return (_aware(doc["uploadDate"]), doc["_id"])


class GridFSBlobStore(BlobStore):
    kind = "gridfs"

    def __init__(self, db: Database, bucket_name: str = "fs"):
        self.db = db
        self.bucket_name = bucket_name
        self.bucket = gridfs.GridFSBucket(db, bucket_name=bucket_name)
        self.files = db[f"{bucket_name}.files"]
        self.chunks = db[f"{bucket_name}.chunks"]

    def __repr__(self) -> str:
        return f"GridFSBlobStore({self.db.name!r}, {self.bucket_name!r})"

    def ensure_indexes(self) -> None:
        """GridFS's own two indexes, and one single-field index on each collection.

        On MongoDB the single-field ones are redundant with the compound prefixes (a
        little write cost). The embedded store needs them: it serves a lookup from an
        index only when the index has one field (docs/STORAGE.md); without them every
        read of a file's chunks parses every chunk of every file."""
        from pymongo import ASCENDING

        self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
        self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
        self.files.create_index([("filename", ASCENDING)], name="filename")
        self.chunks.create_index([("files_id", ASCENDING)], name="files_id")

    def _revisions(self, key: str, projection=None) -> list[dict]:
        return sorted(self.files.find({"filename": validate_key(key)}, projection), key=_revision_order)

    def _newest(self, key: str) -> dict:
        revisions = self._revisions(key)
        if not revisions:
            raise BlobNotFound(key)
        return revisions[-1]

    def _delete_file(self, file_id) -> bool:
        try:
            self.bucket.delete(file_id)
        except NoFile:  # deleted meanwhile
            return False
        return True

    # -- Writing -------------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO) -> BlobInfo:
        validate_key(key)
        source = HashingReader(data)
        grid_in = self.bucket.open_upload_stream(key)
        try:
            grid_in.write(source)
            grid_in.close()
        except BaseException:
            # pymongo leaves the chunks already written when the source fails midway
            # (its context manager only marks the file closed): remove them now.
            grid_in.abort()
            raise
        file_id = grid_in._id
        mine = self.files.find_one({"_id": file_id}, {"uploadDate": 1})
        if mine is None:  # a concurrent, newer put of this key already replaced ours
            return source.info(key)
        for older in self._revisions(key, {"uploadDate": 1}):
            if _revision_order(older) < _revision_order(mine):
                self._delete_file(older["_id"])
        return source.info(key)

    def delete(self, key: str) -> bool:
        deleted = False
        for revision in self._revisions(key, {"_id": 1, "uploadDate": 1}):
            deleted = self._delete_file(revision["_id"]) or deleted
        return deleted

    def remove_incomplete(self, older_than: datetime) -> int:
        """Delete chunks whose files document is missing, of files started before
        `older_than` (their ObjectId tells when): a writer killed mid-file, or a deletion
        killed between the files document and the last of its chunks (so any chunk
        counts, not only the first). Page by page (remove_incomplete_page)."""
        cursor, removed = None, 0
        while True:
            count, cursor = self.remove_incomplete_page(older_than, cursor, BATCH)
            removed += count
            if cursor is None:
                return removed

    def remove_incomplete_page(self, older_than: datetime, after: ObjectId | None,
                               limit: int) -> tuple[int, ObjectId | None]:
        """One page of remove_incomplete, `limit` chunks read in `files_id` order after the
        cursor `after`: (files removed, the next page's cursor or None at the end)."""
        bound = {"$lt": ObjectId.from_datetime(older_than)}
        if after is not None:
            bound["$gt"] = after
        page = list(self.chunks.find({"files_id": bound}, {"files_id": 1}).sort("files_id", 1).limit(limit))
        ids = list(dict.fromkeys(chunk["files_id"] for chunk in page))
        removed = 0
        if ids:
            complete = {doc["_id"] for doc in self.files.find({"_id": {"$in": ids}}, {"_id": 1})}
            missing = [file_id for file_id in ids if file_id not in complete]
            if missing:
                self.chunks.delete_many({"files_id": {"$in": missing}})
            removed = len(missing)
        return removed, (ids[-1] if len(page) == limit else None)

    def scan(self, older_than: datetime, after: str | None = None,
             limit: int = 1000) -> tuple[list[BlobEntry], str | None]:
        """In files-document `_id` order (the cursor is the last `_id`), `limit` at a time.
        Every revision of a key is listed: the sweep deletes them all alike."""
        query = {"uploadDate": {"$lt": older_than}}
        if after is not None:
            query["_id"] = {"$gt": ObjectId(after)}
        docs = list(self.files.find(query, {"filename": 1, "length": 1, "uploadDate": 1})
                    .sort("_id", 1).limit(limit))
        page = []
        for doc in docs:
            try:
                key = validate_key(doc.get("filename"))
            except InvalidBlobKey:
                continue  # a GridFS file this store did not write
            page.append(BlobEntry(key=key, size=doc["length"], modified_at=_aware(doc["uploadDate"])))
        return page, (str(docs[-1]["_id"]) if len(docs) == limit else None)

    # -- Reading -------------------------------------------------------------------

    def open(self, key: str) -> BlobReader:
        document = self._newest(key)
        try:
            # Built from the document already read: no second lookup of the file.
            grid_out = gridfs.GridOut(self.files.database[self.bucket_name], file_document=document)
        except NoFile:
            raise BlobNotFound(key) from None
        return BlobReader(key, grid_out, document["length"], _aware(document["uploadDate"]),
                          str(document["_id"]))

    def exists(self, key: str) -> bool:
        return self.files.find_one({"filename": validate_key(key)}, {"_id": 1}) is not None

    def size(self, key: str) -> int:
        return self._newest(key)["length"]

    def iter_blobs(self, older_than: datetime | None = None) -> Iterator[BlobEntry]:
        query = {} if older_than is None else {"uploadDate": {"$lt": older_than}}
        newest: dict[str, dict] = {}
        for doc in self.files.find(query, {"filename": 1, "length": 1, "uploadDate": 1}):
            try:
                key = validate_key(doc.get("filename"))
            except InvalidBlobKey:
                continue  # a GridFS file this store did not write
            if key not in newest or _revision_order(newest[key]) < _revision_order(doc):
                newest[key] = doc
        for key, doc in newest.items():
            yield BlobEntry(key=key, size=doc["length"], modified_at=_aware(doc["uploadDate"]))
