"""Photos and their image files in the blob store: a killed upload leaves nothing visible
and the sweep removes its files; a store from before the blob store (GridFS file ids in
the documents) keeps working and `migrate-media` moves it, verified and resumable;
attention maps live apart from the photo document."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import gridfs
from bson import ObjectId
from PIL import Image

from photoshare.repositories import photo_files
from photoshare.repositories import photos as photo_repo
from photoshare.repositories import photo_attention
from photoshare.blobs import GridFSBlobStore
from photoshare.services import photos, reconciliation
from tests.images import make_image
from tests.support.common import ROOT
from tests.support.storage import age_stored_files, keys_of, stored_keys


def _upload(user, db, name="a.jpg", content=None) -> dict:
    assert user.upload((name, content or make_image())).status_code == 303
    return db.photos.find_one({"filename": name})


def test_an_upload_killed_between_its_files_and_its_document_leaves_nothing_visible(user, db, app):
    owner = db.users.find_one()["_id"]
    # A real process stores an upload's files, then dies before the document is written.
    script = textwrap.dedent(f"""
        import os
        from bson import ObjectId
        from photoshare import blobs, store
        from photoshare.repositories import photo_files
        client, db = store.connect({app.config["MONGO_URI"]!r}, {app.config["MONGO_DBNAME"]!r})
        photo_files.attach_store(db, blobs.FileSystemBlobStore({app.config["MEDIA_ROOT"]!r}))
        photo_id = ObjectId()
        for variant in ("original", "display", "thumbnail"):
            photo_files.put(db, photo_id, variant, b"pixels of " + variant.encode(), "image/jpeg")
        os._exit(137)  # killed here: no document, no cleanup
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 137, result.stderr
    assert len(stored_keys(db)) == 3
    # Nothing is visible: no photo in the grid, the list or the counts.
    assert photos.list_photos(db, owner).total == 0
    assert "/image/thumbnail" not in user.client.get("/").get_data(as_text=True)
    # The sweep leaves recent files alone (an upload may still be writing them)...
    assert reconciliation.sweep_orphans(db, app.config).orphan_files == 0
    # ...and removes them once they are old enough.
    age_stored_files(db, app.config["ORPHAN_MIN_AGE_MINUTES"] + 1)
    assert reconciliation.sweep_orphans(db, app.config).orphan_files == 3
    assert stored_keys(db) == set()


def test_deleting_a_photo_removes_every_file_and_its_attention(user, db, worker):
    photo = _upload(user, db)
    worker.work()
    assert keys_of(photo) == stored_keys(db) and len(keys_of(photo)) == 3
    assert db.photo_attention.count_documents({"_id": photo["_id"]}) == 1
    assert user.post(f"/photos/{photo['_id']}/delete", page="/").status_code == 303
    assert stored_keys(db) == set()
    assert db.photo_attention.count_documents({}) == 0


def test_attention_maps_are_kept_out_of_the_photo_document(user, db, worker):
    photo = _upload(user, db)
    worker.work()
    stored = db.photos.find_one({"_id": photo["_id"]})
    assert stored["caption_status"] == "done" and "attention" not in stored
    words = photo_attention.of_photo(db, photo["owner_id"], photo["_id"])
    assert [w["word"] for w in words] == stored["ai_caption"].split()
    assert photo_attention.of_photo(db, ObjectId(), photo["_id"]) == []  # another owner: nothing


def _legacy_photo(db, owner_id, name: str, content: bytes) -> dict:
    """A photo as stores from before the blob store kept it: GridFS file ids."""
    bucket = gridfs.GridFSBucket(db)
    photo_id = ObjectId()
    files = {}
    for variant in ("original", "display", "thumbnail"):
        files[variant] = bucket.upload_from_stream(f"{photo_id}/{variant}", content, metadata={
            "owner_id": owner_id, "photo_id": photo_id, "variant": variant, "content_type": "image/jpeg"})
    photo = {"_id": photo_id, "owner_id": owner_id, "filename": name, "format": "JPEG", "mime_type": "image/jpeg",
             "width": 64, "height": 48, "size_bytes": len(content), "display_size": [64, 48],
             "thumbnail_size": [64, 48], "files": files, "album_ids": [], "visibility": "private",
             "user_caption": None}
    return photo_repo.insert_pending(db, photo, "legacy-job")


def test_an_old_gridfs_store_keeps_working_and_migrate_media_moves_it(user, db, runner):
    owner = db.users.find_one()["_id"]
    contents = {f"old-{n}.jpg": make_image(color=(40 * n, 90, 200)) for n in range(3)}
    legacy = [_legacy_photo(db, owner, name, content) for name, content in contents.items()]

    def served(photo, variant="original") -> bytes:
        response = user.client.get(f"/photos/{photo['_id']}/image/{variant}")
        assert response.status_code == 200
        return response.get_data()

    assert [served(p) for p in legacy] == list(contents.values())  # read from GridFS as before
    assert stored_keys(db) == set()

    result = runner.invoke(args=["migrate-media", "--limit", "1"])  # interrupted after one photo...
    assert result.exit_code == 0 and "3 files moved from 1 photos" in result.output, result.output
    result = runner.invoke(args=["migrate-media"])  # ...and resumed
    assert result.exit_code == 0 and "6 files moved from 2 photos" in result.output, result.output
    assert runner.invoke(args=["migrate-media"]).output.strip().endswith("0 files moved from 0 photos, "
                                                                         "0 missing, 0 checksum mismatches.")
    for photo in legacy:
        moved = db.photos.find_one({"_id": photo["_id"]})
        assert all(isinstance(ref, dict) for ref in moved["files"].values())
    assert len(stored_keys(db)) == 9 and db.fs.files.count_documents({}) == 0
    assert [served(p) for p in legacy] == list(contents.values())  # same bytes, from the blob store
    Image.open(io.BytesIO(served(legacy[0], "thumbnail"))).verify()


def test_the_gridfs_blob_store_serves_uploads_too(user, db, app):
    # BLOB_STORE=gridfs (web and workers on machines that share only MongoDB).
    photo_files.attach_store(db, GridFSBlobStore(db))
    photo = _upload(user, db)
    response = user.client.get(f"/photos/{photo['_id']}/image/original")
    assert response.status_code == 200 and response.get_data() == make_image()
    assert db.fs.files.count_documents({}) == 3
    assert user.post(f"/photos/{photo['_id']}/delete", page="/").status_code == 303
    assert db.fs.files.count_documents({}) == 0


def test_attention_maps_are_stored_packed_and_read_back_exactly(db):
    photo_id, owner = ObjectId(), ObjectId()
    maps = [{"word": "dog", "weights": [[round(0.0001 * (r * 7 + c) + 0.01, 4) for c in range(7)] for r in range(7)]},
            {"word": "runs", "weights": [[0.0, 1.0], [0.5, 0.1234]]}]
    photo_attention.save(db, photo_id, owner, maps)
    stored = db.photo_attention.find_one({"_id": photo_id})["words"]
    # One short string per map, not 49 floats (the embedded store's cost follows the values).
    assert all(isinstance(entry["u16"], str) and "weights" not in entry for entry in stored)
    assert photo_attention.of_photo(db, owner, photo_id) == maps
    # A value the packing cannot hold stays a list; maps stored before packing read as they are.
    odd = [{"word": "big", "weights": [[70.0, 0.5]]}]
    photo_attention.save(db, photo_id, owner, odd)
    assert photo_attention.of_photo(db, owner, photo_id) == odd
    db.photo_attention.update_one({"_id": photo_id}, {"$set": {"words": maps}})
    assert photo_attention.of_photo(db, owner, photo_id) == maps


def test_a_caption_written_while_its_job_ran_is_searchable_with_the_result(user, db):
    photo = _upload(user, db, name="beach.jpg")
    claimed = photo_repo.claim(db, photo["_id"], photo["job_id"], "w-test")
    assert claimed is not None
    # The owner writes a caption between the claim and the result: both end up in the tokens.
    photo_repo.update_settings(db, photo["owner_id"], photo["_id"], {"user_caption": "sunset over harbour"})
    result = {"ai_caption": "a dog runs", "alternatives": [], "model_version": "m", "model_timings": {}}
    assert photo_repo.complete(db, photo["_id"], photo["job_id"], result)
    tokens = db.photos.find_one({"_id": photo["_id"]})["search_tokens"]
    assert {"dog", "run", "sunset", "harbour"} <= set(tokens)
    # Without a change meanwhile: the result's write carries the tokens itself.
    other = _upload(user, db, name="park.jpg", content=make_image(color=(10, 200, 10)))
    assert photo_repo.claim(db, other["_id"], other["job_id"], "w-test") is not None
    assert photo_repo.complete(db, other["_id"], other["job_id"], {**result, "ai_caption": "children play"})
    assert {"children", "play", "park"} <= set(db.photos.find_one({"_id": other["_id"]})["search_tokens"])
