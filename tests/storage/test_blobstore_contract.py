"""The blob store contract (photoshare.blobs.base), run against both backends.

Each test runs on the filesystem store and on the GridFS store (tests/storage/conftest.py),
on real storage: a temp folder, and the embedded MongoDB wire-protocol store.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from photoshare.blobs import (BlobNotFound, FileSystemBlobStore, GridFSBlobStore, InvalidBlobKey,
                              blob_settings_from_env, blob_store_from_settings)
from photoshare.blobs.base import CHUNK_BYTES

KEY = "65a1b2c3d4e5f60718293a4b/display"
# Larger than a GridFS chunk (255 KiB) and than a streamed read (256 KiB): several of each.
BIG = os.urandom(700_000)


def test_put_then_read_returns_the_same_bytes_with_size_and_checksum(blob_store):
    info = blob_store.put(KEY, b"hello image")
    assert (info.key, info.size, info.sha256) == (KEY, 11, hashlib.sha256(b"hello image").hexdigest())
    assert blob_store.read(KEY) == b"hello image"
    assert blob_store.exists(KEY)
    assert blob_store.size(KEY) == 11
    assert blob_store.sha256(KEY) == info.sha256


def test_put_reads_a_stream_to_its_end_and_open_streams_it_back_in_chunks(blob_store):
    info = blob_store.put(KEY, io.BytesIO(BIG))
    assert info.size == len(BIG) and info.sha256 == hashlib.sha256(BIG).hexdigest()
    with blob_store.open(KEY) as reader:
        assert reader.length == len(BIG)
        assert reader.modified_at.tzinfo is not None
        chunks = list(reader)
    assert len(chunks) >= 3 and all(len(chunk) <= CHUNK_BYTES for chunk in chunks)
    assert b"".join(chunks) == BIG
    with blob_store.open(KEY) as reader:  # file-like reads too
        assert reader.read(10) + reader.read() == BIG


def test_empty_blob(blob_store):
    assert blob_store.put(KEY, b"").size == 0
    assert blob_store.read(KEY) == b"" and blob_store.size(KEY) == 0


def test_put_replaces_the_blob_and_changes_its_version(blob_store):
    blob_store.put(KEY, b"first")
    with blob_store.open(KEY) as reader:
        first_version = reader.version
    blob_store.put(KEY, b"second version")
    with blob_store.open(KEY) as reader:
        assert reader.read() == b"second version"
        assert reader.version != first_version
    assert [entry.key for entry in blob_store.iter_blobs()] == [KEY]


def test_missing_blob_is_a_clear_error(blob_store):
    for call in (blob_store.open, blob_store.read, blob_store.size):
        with pytest.raises(BlobNotFound) as raised:
            call("65a1b2c3d4e5f60718293a4b/original")
        assert raised.value.key == "65a1b2c3d4e5f60718293a4b/original"
    assert not blob_store.exists("65a1b2c3d4e5f60718293a4b/original")


def test_delete_is_idempotent(blob_store):
    blob_store.put(KEY, b"bytes")
    assert blob_store.delete(KEY) is True
    assert blob_store.delete(KEY) is False
    assert not blob_store.exists(KEY)
    with pytest.raises(BlobNotFound):
        blob_store.read(KEY)


@pytest.mark.parametrize("key", ["", "../etc/passwd", "/etc/passwd", "a//b", "a/./b", "a/../b", "..", "a\\b",
                                 "a\x00b", "a b", "a~b", "x" * 201, "a/b/c/d/e", "é/x", None, 42, b"abc"])
def test_invalid_keys_are_refused_before_anything_is_touched(blob_store, key):
    for call in (lambda: blob_store.put(key, b"x"), lambda: blob_store.open(key), lambda: blob_store.delete(key),
                 lambda: blob_store.exists(key)):
        with pytest.raises(InvalidBlobKey):
            call()
    assert list(blob_store.iter_blobs()) == []


def test_put_refuses_what_is_not_bytes_or_a_binary_stream(blob_store):
    with pytest.raises(TypeError):
        blob_store.put(KEY, "text")
    with pytest.raises(TypeError):
        blob_store.put(KEY, io.StringIO("text"))
    assert not blob_store.exists(KEY)


def test_iter_blobs_lists_keys_with_size_and_age(blob_store):
    before = datetime.now(UTC) - timedelta(seconds=5)
    blob_store.put("p1/thumbnail", b"a" * 10)
    blob_store.put("p1/display", b"b" * 20)
    after = datetime.now(UTC) + timedelta(seconds=5)
    entries = {entry.key: entry for entry in blob_store.iter_blobs()}
    assert {key: entry.size for key, entry in entries.items()} == {"p1/thumbnail": 10, "p1/display": 20}
    assert all(before <= entry.modified_at <= after for entry in entries.values())
    assert {entry.key for entry in blob_store.iter_blobs(older_than=after)} == {"p1/thumbnail", "p1/display"}
    assert list(blob_store.iter_blobs(older_than=before)) == []


class FailingStream:
    """Gives at least `good` bytes in full reads (a short read means the end), then
    fails like a dropped upload."""

    def __init__(self, good: int):
        self.left = good

    def read(self, size=-1):
        if self.left <= 0 or size is None or size < 0:
            raise OSError("connection reset by peer")
        self.left -= size
        return b"z" * size


def test_a_failed_put_leaves_nothing_visible_or_behind(blob_store):
    with pytest.raises(OSError):
        blob_store.put(KEY, FailingStream(600_000))
    assert not blob_store.exists(KEY)
    assert list(blob_store.iter_blobs()) == []
    assert blob_store.remove_incomplete(datetime.now(UTC) + timedelta(minutes=1)) == 0
    if isinstance(blob_store, GridFSBlobStore):
        assert blob_store.chunks.count_documents({}) == 0
    else:
        assert list(blob_store.incoming.iterdir()) == []


def test_a_failed_replacement_keeps_the_old_blob(blob_store):
    blob_store.put(KEY, b"old and whole")
    with pytest.raises(OSError):
        blob_store.put(KEY, FailingStream(300_000))
    assert blob_store.read(KEY) == b"old and whole"


CRASHING_WRITER = """
import io, os, signal, sys
from pymongo import MongoClient
from pymongo.collection import Collection
from photoshare.blobs import FileSystemBlobStore, GridFSBlobStore
kind, where, name, key = sys.argv[1:5]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

class DiesMidWrite:
    sent = 0
    def read(self, size=-1):
        if self.sent >= 600_000:
            die()  # the filesystem store is killed while writing its temp file
        self.sent += size  # full reads: a short one would mean the end
        return b"y" * size

if kind == "fs":
    FileSystemBlobStore(where).put(key, DiesMidWrite())
else:
    # GridFS writes the chunks, then the files document: killed in between.
    insert_one = Collection.insert_one
    def dying_insert_one(self, document, *args, **kwargs):
        if self.name.endswith(".files"):
            die()
        return insert_one(self, document, *args, **kwargs)
    Collection.insert_one = dying_insert_one
    GridFSBlobStore(MongoClient(where)[name]).put(key, io.BytesIO(b"y" * 600_000))
"""


def test_a_writer_killed_mid_put_leaves_nothing_visible_and_remove_incomplete_cleans_up(blob_store, mongo_uri):
    if isinstance(blob_store, FileSystemBlobStore):
        where, name = str(blob_store.root), "-"
    else:
        where, name = mongo_uri, blob_store.db.name
    child = subprocess.run([sys.executable, "-c", CRASHING_WRITER, blob_store.kind, where, name, KEY],
                           capture_output=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    # Something was written (a temp file, or GridFS chunks), yet nothing is visible.
    if isinstance(blob_store, GridFSBlobStore):
        assert blob_store.chunks.count_documents({}) >= 2
    else:
        assert len(list(blob_store.incoming.iterdir())) == 1
    assert not blob_store.exists(KEY)
    assert list(blob_store.iter_blobs()) == []
    # Not yet old enough: kept (it could be a write in progress).
    assert blob_store.remove_incomplete(datetime.now(UTC) - timedelta(minutes=5)) == 0
    assert blob_store.remove_incomplete(datetime.now(UTC) + timedelta(minutes=1)) == 1
    if isinstance(blob_store, GridFSBlobStore):
        assert blob_store.chunks.count_documents({}) == 0
    else:
        assert list(blob_store.incoming.iterdir()) == []


def test_concurrent_puts_of_one_key_leave_exactly_one_whole_blob(blob_store):
    contents = [bytes([n]) * 300_000 for n in range(4)]
    errors = []

    def writer(content):
        try:
            for _ in range(3):
                blob_store.put(KEY, content)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(content,)) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert blob_store.read(KEY) in contents
    assert [entry.key for entry in blob_store.iter_blobs()] == [KEY]


def test_filesystem_files_stay_inside_the_media_root(tmp_path):
    store = FileSystemBlobStore(tmp_path / "media")
    store.put(KEY, b"x")
    (written,) = [path for path in (tmp_path / "media").rglob("*") if path.is_file()]
    assert written == store.path_of(KEY)
    assert written.parent.parent == (tmp_path / "media").resolve()
    assert list(tmp_path.iterdir()) == [tmp_path / "media"]


def test_files_the_app_stored_in_gridfs_before_are_read_under_their_name(mongo_db):
    import gridfs

    legacy_id = gridfs.GridFSBucket(mongo_db).upload_from_stream(
        KEY, io.BytesIO(BIG), metadata={"variant": "display", "content_type": "image/jpeg"})
    store = GridFSBlobStore(mongo_db)
    assert store.read(KEY) == BIG
    with store.open(KEY) as reader:
        assert reader.version == str(legacy_id)
    assert store.delete(KEY) and mongo_db.fs.chunks.count_documents({}) == 0


def test_settings_choose_the_backend(tmp_path, mongo_db):
    from photoshare.config import PROJECT_ROOT

    assert blob_settings_from_env({}) == {"BLOB_STORE": "fs", "MEDIA_ROOT": str(PROJECT_ROOT / "var" / "media")}
    assert blob_settings_from_env({"PHOTOSHARE_VAR": str(tmp_path), "BLOB_STORE": ""})["MEDIA_ROOT"] == str(
        tmp_path / "media")
    assert blob_settings_from_env({"MEDIA_ROOT": "data/media"})["MEDIA_ROOT"] == str(PROJECT_ROOT / "data/media")
    with pytest.raises(ValueError, match="BLOB_STORE must be one of fs, gridfs"):
        blob_settings_from_env({"BLOB_STORE": "s3"})
    store = blob_store_from_settings({"BLOB_STORE": "fs", "MEDIA_ROOT": str(tmp_path / "m")})
    assert isinstance(store, FileSystemBlobStore) and store.root == (tmp_path / "m").resolve()
    assert isinstance(blob_store_from_settings({"BLOB_STORE": "gridfs"}, mongo_db), GridFSBlobStore)
    with pytest.raises(ValueError, match="needs the MongoDB database"):
        blob_store_from_settings({"BLOB_STORE": "gridfs"})
