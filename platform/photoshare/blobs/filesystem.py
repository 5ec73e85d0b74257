"""The filesystem blob store (the default): one file per blob under a media root.

Layout: `<root>/<shard>/<key with "/" as "~">`, where the shard is the first two hex
digits of the key's SHA-256. One level of 256 folders keeps every folder small (a
million photos x 3 variants is about 12,000 files per folder) without a tree of
per-photo folders that would have to be created and removed. "~" cannot occur in a
key segment, so the file name maps back to exactly one key.

Writes go to `<root>/.incoming/` (same filesystem), are fsynced, then renamed into
place with os.replace: atomic on POSIX, so a reader sees the old file or the new one
and a crash leaves at most an unreferenced temp file there, never a partial blob under
a key (`remove_incomplete` deletes old temp files). Keys are validated
(base.validate_key) and the resulting path is checked to lie inside the root.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Iterator

from .base import BlobEntry, BlobInfo, BlobNotFound, BlobReader, BlobStore, HashingReader, InvalidBlobKey, validate_key

INCOMING = ".incoming"
_SEPARATOR = "~"
_HEX = set("0123456789abcdef")


def _mtime(stat: os.stat_result) -> datetime:
    return datetime.fromtimestamp(stat.st_mtime, UTC)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; some filesystems cannot open a folder: skip there.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileSystemBlobStore(BlobStore):
    kind = "fs"

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True):
        self.root = Path(root).resolve()
        self.fsync = fsync
        self.incoming = self.root / INCOMING
        self.incoming.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FileSystemBlobStore({str(self.root)!r})"

    # -- Names ---------------------------------------------------------------------

    @staticmethod
    def _shard(key: str) -> str:
        return hashlib.sha256(key.encode("ascii")).hexdigest()[:2]

    def path_of(self, key: str) -> Path:
        """The file that holds `key` (whether or not it exists)."""
        key = validate_key(key)
        path = self.root / self._shard(key) / key.replace("/", _SEPARATOR)
        # validate_key already excludes anything that could climb out; this is the
        # second lock on the same door.
        if path.parent.parent != self.root:
            raise InvalidBlobKey(f"blob key {key!r} leaves the media root")
        return path

    # -- Writing -------------------------------------------------------------------

    def put(self, key: str, data: bytes | BinaryIO) -> BlobInfo:
        final = self.path_of(key)
        source = HashingReader(data)
        temp = self.incoming / f"{uuid.uuid4().hex}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in source.chunks():
                    handle.write(chunk)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            final.parent.mkdir(exist_ok=True)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if self.fsync:
            _fsync_dir(final.parent)
        return source.info(key)

    def delete(self, key: str) -> bool:
        try:
            self.path_of(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def remove_incomplete(self, older_than: datetime) -> int:
        """Delete temp files of writes that never finished (a killed process) written
        before `older_than`; returns how many. A write in progress is younger."""
        removed = 0
        for entry in os.scandir(self.incoming):
            try:
                if entry.is_file() and _mtime(entry.stat()) < older_than:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    # -- Reading -------------------------------------------------------------------

    def open(self, key: str) -> BlobReader:
        try:
            handle = open(self.path_of(key), "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        # fstat of the open file: its size and date belong to what will be read, even
        # if the key is replaced meanwhile.
        stat = os.fstat(handle.fileno())
        version = f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"
        return BlobReader(key, handle, stat.st_size, _mtime(stat), version)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path_of(key).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def _shards(self) -> list[str]:
        return sorted(shard.name for shard in os.scandir(self.root)
                      if len(shard.name) == 2 and set(shard.name) <= _HEX and shard.is_dir(follow_symlinks=False))

    def iter_blobs(self, older_than: datetime | None = None) -> Iterator[BlobEntry]:
        for shard in self._shards():
            yield from self._shard_blobs(shard, older_than)

    def scan(self, older_than: datetime, after: str | None = None,
             limit: int = 1000) -> tuple[list[BlobEntry], str | None]:
        """In (shard, key) order, reading one shard folder at a time (about 1/256 of
        the files each), from the shard of the cursor on, until `limit` are found."""
        start = (self._shard(after), after) if after is not None else ("", "")
        page: list[BlobEntry] = []
        for shard in self._shards():
            if shard < start[0]:
                continue
            entries = sorted(self._shard_blobs(shard, older_than), key=lambda entry: entry.key)
            for entry in entries:
                if (shard, entry.key) <= start:
                    continue
                if len(page) == limit:
                    return page, page[-1].key
                page.append(entry)
        return page, None

    def _shard_blobs(self, shard_name: str, older_than: datetime | None) -> Iterator[BlobEntry]:
        try:
            entries = list(os.scandir(self.root / shard_name))
        except FileNotFoundError:  # removed meanwhile
            return
        for entry in entries:
            key = entry.name.replace(_SEPARATOR, "/")
            try:
                if validate_key(key) and self._shard(key) != shard_name:
                    continue  # not a file this store wrote
                stat = entry.stat(follow_symlinks=False)
            except (InvalidBlobKey, FileNotFoundError):
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            modified_at = _mtime(stat)
            if older_than is None or modified_at < older_than:
                yield BlobEntry(key=key, size=stat.st_size, modified_at=modified_at)
