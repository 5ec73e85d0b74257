"""The blob store interface: named byte strings (images) kept out of the photo documents.

Keys are chosen by the application and name a blob for its whole life (id-addressed:
`<photo_id>/<variant>`, the same names the GridFS files have always had, so a store
whose images are already in GridFS keeps working). A key is one to four segments of
`[A-Za-z0-9_.-]` joined by "/", no segment empty, "." or "..", at most 200 characters:
nothing in it can leave the store's folder (filesystem) or mean something else.

Every backend promises the same (tests/storage/test_blobstore_contract.py):
- `put` is atomic: a reader sees the old blob or the new one, never a part; a crash
  mid-write leaves nothing visible under the key.
- `open` streams (a file-like reader; nothing is loaded whole), `read` is the shortcut.
- `delete` is idempotent (False when there was nothing to delete).
- `iter_blobs` lists every blob with its size and when it was written, for the
  orphan sweep (blobs whose photo does not exist and that are older than a cutoff).
"""

from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterator

MAX_KEY_LENGTH = 200
MAX_KEY_SEGMENTS = 4
_SEGMENT = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# Streamed reads and writes move this much at a time.
CHUNK_BYTES = 256 * 1024


class BlobStoreError(Exception):
    """Base of the blob store's own errors."""


class InvalidBlobKey(BlobStoreError, ValueError):
    """A key that is not a valid blob name (see the module)."""


class BlobNotFound(BlobStoreError, LookupError):
    """No blob under this key."""

    def __init__(self, key: str):
        super().__init__(f"no blob {key!r}")
        self.key = key


def validate_key(key) -> str:
    """Return `key` if it is a valid blob name, else raise InvalidBlobKey."""
    if not isinstance(key, str):
        raise InvalidBlobKey(f"a blob key is a string, not {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"a blob key has 1 to {MAX_KEY_LENGTH} characters")
    segments = key.split("/")
    if len(segments) > MAX_KEY_SEGMENTS:
        raise InvalidBlobKey(f"a blob key has at most {MAX_KEY_SEGMENTS} segments: {key!r}")
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            raise InvalidBlobKey(f"invalid blob key {key!r}: segments are [A-Za-z0-9_.-]+, not . or ..")
    return key


@dataclass(frozen=True)
class BlobInfo:
    """What `put` wrote: its size and SHA-256 (hex), for verification (e.g. migration)."""
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobEntry:
    """One stored blob as listed by `iter_blobs`."""
    key: str
    size: int
    modified_at: datetime  # aware UTC: when it was written


class BlobReader:
    """A stored blob opened for streaming: file-like (`read(n)`, `close`, `with`), and
    iterable by chunks (what a WSGI response wants). `version` changes whenever the key
    is written again (an ETag); `modified_at` is when it was written (aware UTC)."""

    def __init__(self, key: str, raw, length: int, modified_at: datetime, version: str):
        self.key = key
        self.length = length
        self.modified_at = modified_at
        self.version = version
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._raw.read(CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return bool(getattr(self._raw, "closed", False))

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HashingReader:
    """Wraps a source (bytes or a readable stream) and counts and hashes what is read
    from it, so a backend learns the size and SHA-256 of a streamed write in one pass."""

    def __init__(self, source: bytes | bytearray | memoryview | BinaryIO):
        if isinstance(source, (bytes, bytearray, memoryview)):
            import io
            source = io.BytesIO(bytes(source))
        elif not hasattr(source, "read"):
            raise TypeError(f"put takes bytes or a readable binary stream, not {type(source).__name__}")
        self._source = source
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        if not isinstance(chunk, (bytes, bytearray)):
            raise TypeError("put needs a binary stream (read() returned text)")
        self._hash.update(chunk)
        self.size += len(chunk)
        return bytes(chunk)

    def chunks(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_BYTES):
            yield chunk

    def info(self, key: str) -> BlobInfo:
        return BlobInfo(key=key, size=self.size, sha256=self._hash.hexdigest())


class BlobStore(abc.ABC):
    """The interface every backend implements (see the module for the promises)."""

    #: "fs" or "gridfs": the BLOB_STORE setting that selects the backend.
    kind: str

    @abc.abstractmethod
    def put(self, key: str, data: bytes | BinaryIO) -> BlobInfo:
        """Store `data` (bytes, or a binary stream read to its end) under `key`,
        atomically replacing any blob there. Returns its size and SHA-256."""

    @abc.abstractmethod
    def open(self, key: str) -> BlobReader:
        """Open the blob for streaming; raises BlobNotFound. Close it (or use `with`)."""

    def read(self, key: str) -> bytes:
        """The whole blob (small blobs; prefer `open` to send one)."""
        with self.open(key) as reader:
            return reader.read()

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the blob; True if there was one. Deleting a missing key is no error."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Its length in bytes; raises BlobNotFound."""

    @abc.abstractmethod
    def iter_blobs(self, older_than: datetime | None = None) -> Iterator[BlobEntry]:
        """Every stored blob (written before `older_than`, an aware datetime, if given),
        in no particular order. Blobs written while iterating may or may not appear."""

    def scan(self, older_than: datetime, after: str | None = None,
             limit: int = 1000) -> tuple[list[BlobEntry], str | None]:
        """One bounded page of the blobs written before `older_than`, for an incremental
        orphan sweep: at most `limit` entries that come after the cursor `after` (None:
        from the start), and the cursor of the next page (None: this was the last one).
        Cursors are opaque strings of the backend. This default lists every blob to make
        one page; the backends override it with reads bounded by `limit`."""
        keys = sorted((entry for entry in self.iter_blobs(older_than=older_than)
                       if after is None or entry.key > after), key=lambda entry: entry.key)
        page = keys[:limit]
        return page, (page[-1].key if len(keys) > limit else None)

    def ensure_indexes(self) -> None:
        """Create what the backend needs to find blobs fast (idempotent; nothing by default)."""

    def remove_incomplete(self, older_than: datetime) -> int:
        """Remove leftovers of writes that never finished (a killed process), written
        before `older_than`; returns how many. Nothing to do by default."""
        return 0

    def sha256(self, key: str) -> str:
        """The SHA-256 (hex) of the stored blob, read back in full (verification)."""
        digest = hashlib.sha256()
        with self.open(key) as reader:
            for chunk in reader:
                digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        """Release what the backend holds (nothing by default)."""
