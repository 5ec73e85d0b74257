"""The embedded store's performance patches (photoshare.embedded_store_patches) change
speed, never results.

1. Through the wire: the same data and operations on two real store processes, one
   with the patches (the default) and one without, give identical answers, including
   the shapes where a patch must decline (an array where an index is expected, an `_id`
   that is not an ObjectId, numeric `_id`s that are equal as BSON).
2. In process, on a patched subclass of mongoeco's engine: the fast paths really answer
   the shapes docs/STORAGE.md recommends (else test 1 would prove nothing).
3. The patches are pinned to the mongoeco version they were written for.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import ASCENDING, MongoClient
from pymongo.errors import DuplicateKeyError

from photoshare.embedded_store import start_process, stop_process

A, B, ALBUM, OTHER_ALBUM = (ObjectId(f"{n:024x}") for n in (0xA, 0xB, 0xA1B, 0xA2B))
START = datetime(2026, 1, 1, tzinfo=UTC)


def photo(n: int, owner, **fields) -> dict:
    # Ids in time order (the first 4 bytes are a timestamp), as the app's are.
    oid = ObjectId(f"{0x65000000 + n * 60:08x}{n:016x}")
    doc = {"_id": oid, "owner_id": owner, "created_at": START + timedelta(minutes=n), "n": n,
           "album_ids": [ALBUM] if n % 3 == 0 else ([OTHER_ALBUM, OTHER_ALBUM] if n % 7 == 0 else []),
           "caption_status": "done" if n % 2 else "pending", "job_id": f"job-{n}",
           "search_words": ["dog", "grass"] if n % 4 == 0 else ["cat"]}
    doc.update(fields)
    return doc


def seed(db) -> None:
    for name in COLLECTIONS:
        collection = db[name]
        collection.create_index([("owner_id", ASCENDING)], name="owner")
        collection.create_index([("album_ids", ASCENDING)], name="album")
        collection.create_index([("search_words", ASCENDING)], name="words")
        collection.insert_many([photo(n, A if n % 5 else B) for n in range(1, 80)])
    # A document whose owner_id is an array holding A: {owner_id: A} matches it
    # (mongoeco then keeps multikey entries for the index, which the patch reads too).
    db.array_owner.insert_one(photo(200, [A, B]))
    # An _id that is not an ObjectId: storage-key order is no longer _id order.
    db.string_id.insert_one(photo(201, A, _id="zzz-not-an-object-id"))
    # A document without owner_id: not every document has its scalar index entry.
    missing = photo(202, A)
    del missing["owner_id"]
    db.missing_owner.insert_one(missing)


COLLECTIONS = ("clean", "array_owner", "string_id", "missing_owner")


def run_operations(db) -> dict:
    out = {}
    for name in COLLECTIONS:
        c = db[name]
        page1 = list(c.find({"owner_id": A}).sort("_id", -1).limit(24))
        out[name, "page1"] = page1
        out[name, "page2"] = list(c.find({"owner_id": A, "_id": {"$lt": page1[-1]["_id"]}}).sort("_id", -1)
                                  .limit(24))
        out[name, "all ascending"] = [doc["_id"] for doc in c.find({"owner_id": A}, {"_id": 1}).sort("_id", 1)]
        out[name, "ascending skip"] = list(c.find({"owner_id": A}, {"n": 1}).sort("_id", 1).skip(5).limit(7))
        out[name, "album"] = list(c.find({"owner_id": A, "album_ids": ALBUM}).sort("_id", -1).limit(10))
        out[name, "album duplicates"] = list(c.find({"album_ids": OTHER_ALBUM}, {"n": 1}).sort("_id", -1))
        out[name, "word"] = list(c.find({"owner_id": A, "search_words": "dog"}).sort("_id", -1).limit(5))
        out[name, "no match"] = list(c.find({"owner_id": A, "search_words": "zebra"}).sort("_id", -1))
        out[name, "unsorted"] = sorted(doc["n"] for doc in c.find({"owner_id": B, "caption_status": "done"}))
        out[name, "unsorted limit"] = len(list(c.find({"owner_id": A}).limit(7)))
        out[name, "album by date"] = list(c.find({"owner_id": A, "album_ids": ALBUM})
                                          .sort([("created_at", -1), ("_id", -1)]).skip(1).limit(5))
        out[name, "status filter"] = list(c.find({"owner_id": B, "caption_status": "pending"}).sort("_id", 1))
        out[name, "count owner"] = c.count_documents({"owner_id": A})
        out[name, "count command"] = db.command("count", name, query={"owner_id": A})["n"]
        out[name, "count album"] = db.command("count", name, query={"album_ids": OTHER_ALBUM})["n"]
        target = page1[3]["_id"]
        out[name, "claim"] = c.find_one_and_update(
            {"_id": target, "caption_status": {"$in": ["pending", "done"]}, "job_id": page1[3]["job_id"]},
            {"$set": {"caption_status": "processing"}}, projection={"caption_status": 1}, return_document=True)
        out[name, "stale claim"] = c.update_one({"_id": target, "job_id": "superseded"},
                                                {"$set": {"caption_status": "done"}}).matched_count
        out[name, "complete"] = c.update_one({"_id": target, "job_id": page1[3]["job_id"]},
                                             {"$set": {"caption_status": "done"}}).modified_count
        out[name, "after"] = c.find_one({"_id": target})
        out[name, "poll"] = c.find_one({"_id": target, "owner_id": A}, {"caption_status": 1})
        out[name, "poll other owner"] = c.find_one({"_id": target, "owner_id": B})
        out[name, "poll missing"] = c.find_one({"_id": ObjectId(), "owner_id": A})
    # A compound unique index, as GridFS's fs.chunks (files_id, n), with the single-field
    # index on its first field that GridFSBlobStore.ensure_indexes creates.
    chunks = db.chunks
    chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    chunks.create_index([("files_id", ASCENDING)], name="files_id")
    chunks.insert_many([{"files_id": file_id, "n": n} for file_id in (A, B) for n in range(3)])
    out["chunk duplicates"] = []
    for duplicate in ({"files_id": A, "n": 1}, {"files_id": B, "n": 2}):
        with pytest.raises(DuplicateKeyError):
            chunks.insert_one(duplicate)
    with pytest.raises(DuplicateKeyError):
        chunks.update_one({"files_id": A, "n": 0}, {"$set": {"n": 2}})
    chunks.insert_one({"files_id": A, "n": 3})
    chunks.update_one({"files_id": B, "n": 0}, {"$set": {"n": 5}})
    out["chunks"] = sorted((doc["files_id"], doc["n"]) for doc in chunks.find({}, {"_id": 0}))
    db.numeric.insert_one({"_id": 1, "v": "int"})
    with pytest.raises(DuplicateKeyError):
        db.numeric.insert_one({"_id": 1.0, "v": "double"})  # equal to 1 as BSON
    out["numeric"] = list(db.numeric.find())
    return out


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    results = {}
    for patched in (True, False):
        process, uri = start_process(tmp_path_factory.mktemp("store") / "store.sqlite", patches=patched)
        try:
            with MongoClient(uri, tz_aware=True) as client:
                seed(client.patchtest)
                results[patched] = run_operations(client.patchtest)
        finally:
            stop_process(process)
    return results


def test_patched_and_released_store_answer_alike(answers):
    patched, released = answers[True], answers[False]
    assert patched.keys() == released.keys()
    for key in patched:
        assert patched[key] == released[key], key
    # The data really has the shapes that matter.
    assert len(patched["clean", "page1"]) == 24 and patched["clean", "album duplicates"]
    assert any(doc["owner_id"] == [A, B] for doc in patched["array_owner", "page1"])
    # BSON order: a string sorts before every ObjectId.
    assert patched["string_id", "all ascending"][0] == "zzz-not-an-object-id"
    assert patched["clean", "claim"]["caption_status"] == "processing" and patched["clean", "stale claim"] == 0


@pytest.fixture
def patched_client(tmp_path):
    """mongoeco in this process, on a patched subclass of its engine."""
    import mongoeco
    from mongoeco.engines.sqlite import SQLiteEngine

    from photoshare.embedded_store_indexed_reads import usage
    from photoshare.embedded_store_patches import apply_patches_to

    class PatchedEngine(SQLiteEngine):
        pass

    apply_patches_to(PatchedEngine)
    usage.clear()
    client = mongoeco.MongoClient(PatchedEngine(str(tmp_path / "inproc.sqlite")))
    yield client, usage
    client.close()


def test_the_fast_paths_answer_the_recommended_shapes(patched_client, monkeypatch):
    from photoshare import embedded_store_indexed_reads as indexed_reads

    client, usage = patched_client
    db = client.patchtest
    seed(db)
    first_id = db.clean.find_one({"owner_id": A})["_id"]
    usage.clear()
    assert len(list(db.clean.find({"owner_id": A}).sort("_id", -1).limit(24))) == 24
    assert list(db.clean.find({"owner_id": A, "album_ids": ALBUM}).sort("_id", -1).limit(5))
    assert usage["indexed_find"] == 2 and usage["indexed_find_declined"] == 0
    # An array among the values: answered from the scalar and the multikey entries.
    assert [A, B] in [doc["owner_id"] for doc in db.array_owner.find({"owner_id": A}).sort("_id", -1)]
    assert usage["indexed_find"] == 3
    # A document without the field cannot match: still answered from the index.
    assert len(list(db.missing_owner.find({"owner_id": A}).sort("_id", -1))) == 64
    assert usage["indexed_find"] == 4
    # Where exactness is not certain, the query goes back to mongoeco's own path.
    list(db.string_id.find({"owner_id": A}).sort("_id", -1).limit(5))
    assert usage["indexed_find"] == 4 and usage["indexed_find_declined"] == 1
    # Unsorted: any order is right. Sorted on another field: only a small set.
    assert len(list(db.clean.find({"owner_id": B}))) == 15
    by_date = [("created_at", -1), ("_id", -1)]
    assert len(list(db.clean.find({"owner_id": A, "album_ids": ALBUM}).sort(by_date).limit(3))) == 3
    assert usage["indexed_find"] == 6
    monkeypatch.setattr(indexed_reads, "SMALL_SET", 10)
    assert len(list(db.clean.find({"owner_id": A}).sort(by_date).limit(3))) == 3
    assert usage["indexed_find"] == 6 and usage["indexed_find_declined"] == 2
    # `_id` and more (the status poll): the one document, read by its storage key.
    assert db.clean.find_one({"_id": first_id, "owner_id": A})["_id"] == first_id
    assert db.clean.find_one({"_id": first_id, "owner_id": B}) is None
    assert usage["find_by_id"] == 2
    assert usage["indexed_find"] == 6 and usage["indexed_find_declined"] == 2
    first = db.clean.find_one({"owner_id": A})
    db.clean.update_one({"_id": first["_id"], "job_id": first["job_id"]}, {"$set": {"caption_status": "done"}})
    assert usage["select_by_id"] == 1
    db.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    db.chunks.create_index([("files_id", ASCENDING)], name="files_id")
    db.chunks.insert_one({"files_id": A, "n": 0})
    with pytest.raises(DuplicateKeyError):
        db.chunks.insert_one({"files_id": A, "n": 0})
    assert usage["compound_unique_check"] == 2


def test_the_count_command_is_counted_in_the_index(tmp_path):
    # The count command is what the wire sends for db.command("count", ...): check it
    # is answered by the index, through a real store process, by its speed relative
    # to pymongo's count_documents (an aggregation that decodes every document).
    process, uri = start_process(tmp_path / "store.sqlite")
    try:
        with MongoClient(uri) as client:
            c = client.patchtest.photos
            c.create_index([("owner_id", ASCENDING)], name="owner")
            c.insert_many([{"owner_id": A, "pad": "x" * 2000} for _ in range(1500)])
            import time

            def timed(fn):
                fn()
                started = time.perf_counter()
                for _ in range(3):
                    result = fn()
                return result, time.perf_counter() - started

            by_command, command_s = timed(lambda: client.patchtest.command("count", "photos",
                                                                          query={"owner_id": A})["n"])
            by_aggregate, aggregate_s = timed(lambda: c.count_documents({"owner_id": A}))
            assert by_command == by_aggregate == 1500
            assert command_s * 4 < aggregate_s, (command_s, aggregate_s)
    finally:
        stop_process(process)


def test_patches_are_applied_in_the_store_process_only_for_the_pinned_version(monkeypatch, caplog):
    import mongoeco

    from photoshare import embedded_store_patches

    applied = subprocess.run([sys.executable, "-c", "from photoshare.embedded_store_patches import apply_patches;"
                              "print(','.join(apply_patches()))"], capture_output=True, text=True, timeout=60)
    assert applied.stdout.strip().split(",") == list(embedded_store_patches.PATCHES)
    assert mongoeco.__version__ == embedded_store_patches.PATCHED_VERSION, (
        "mongoeco was upgraded: re-measure (bench/bench_store_queries.py), re-check each patch, then re-pin")
    monkeypatch.setattr(mongoeco, "__version__", "4.12.0")
    with caplog.at_level(logging.WARNING):
        assert embedded_store_patches.apply_patches() == []
    assert "without photoshare's performance patches" in caplog.text
    assert embedded_store_patches.applied_patches() == []


def test_the_store_process_indexes_multikey_entries_by_document(tmp_path):
    import sqlite3

    def index_names(patched: bool) -> set[str]:
        path = tmp_path / f"{patched}.sqlite"
        process, _uri = start_process(path, patches=patched)
        stop_process(process)
        with sqlite3.connect(path) as connection:
            return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}

    assert "photoshare_multikey_entries_storage" in index_names(True)
    assert "photoshare_multikey_entries_storage" not in index_names(False)
