"""Fixtures of the storage tests: a blob store of each backend, on real storage.

`blob_store` runs each contract test twice: on the filesystem store (a temp media
root) and on the GridFS store (a database of its own on the session's embedded
MongoDB wire-protocol store, `mongo_uri` from tests/conftest.py, dropped afterwards).
"""

from __future__ import annotations

import uuid

import pytest
from pymongo import MongoClient

from photoshare.blobs import FileSystemBlobStore, GridFSBlobStore


@pytest.fixture
def mongo_db(mongo_uri):
    name = f"blobtest-{uuid.uuid4().hex[:10]}"
    client = MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(params=["fs", "gridfs"])
def blob_store(request, tmp_path):
    if request.param == "fs":
        yield FileSystemBlobStore(tmp_path / "media")
    else:
        store = GridFSBlobStore(request.getfixturevalue("mongo_db"))
        store.ensure_indexes()  # as the app does at start-up
        store.ensure_indexes()  # idempotent
        yield store
