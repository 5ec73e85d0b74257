"""What a user reads when captioning fails: one of a fixed set of readable sentences,
never the exception's text (which may hold paths, library internals or data); the
detail stays in the worker's log. Injected failures (tests/support/fakes.py) with the
real job code; an image the real model cannot read with the real tiny captioner."""

from __future__ import annotations

import logging

import pytest
from pymongo.errors import AutoReconnect
from redis.exceptions import ConnectionError as RedisConnectionError

from photoshare.repositories import photo_files
from photoshare.worker import jobs, model
from tests.images import make_image
from tests.support.fakes import FailingCaptioner

SECRET = "/srv/secret/path.sqlite token=abc123"


def _upload(user, db) -> dict:
    assert user.upload(("photo.png", make_image("PNG", color=(10, 200, 10)))).status_code == 303
    return db.photos.find_one(sort=[("_id", -1)])


def _everything_a_user_sees(user, photo) -> str:
    return (user.client.get(f"/photos/{photo['_id']}").get_data(as_text=True)
            + user.client.get(f"/photos/{photo['_id']}/status").get_data(as_text=True))


@pytest.mark.parametrize("crash, reason", [
    (RuntimeError(f"model exploded at {SECRET}"), jobs.REASON_INTERNAL),
    (MemoryError(SECRET), jobs.REASON_INTERNAL),
    (AutoReconnect(f"connection closed {SECRET}"), jobs.REASON_UNAVAILABLE),
    (RedisConnectionError(SECRET), jobs.REASON_UNAVAILABLE),
    (ConnectionResetError(SECRET), jobs.REASON_UNAVAILABLE),
])
def test_a_crash_is_told_as_a_fixed_reason_and_logged_in_full(user, db, worker, caplog, crash, reason):
    photo = _upload(user, db)
    model.set_captioner(FailingCaptioner(raises=crash))  # a crash, injected
    with caplog.at_level(logging.WARNING, logger="photoshare.worker"):
        worker.work()
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed" and photo["caption_error"] == reason
    seen = _everything_a_user_sees(user, photo)
    assert reason in seen and SECRET not in seen and type(crash).__name__ not in seen
    assert SECRET in caplog.text  # the operator still has the detail


def test_a_refusal_by_the_model_is_told_as_a_fixed_reason(user, db, worker, caplog):
    photo = _upload(user, db)
    model.set_captioner(FailingCaptioner(refuses=f"cannot read image: OSError: {SECRET}"))  # injected
    with caplog.at_level(logging.INFO, logger="photoshare.worker"):
        worker.work()
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_error"] == jobs.REASON_UNREADABLE
    assert SECRET not in _everything_a_user_sees(user, photo) and SECRET in caplog.text


def test_a_stored_image_the_real_model_cannot_decode(user, db, worker):
    # The display image is damaged in the blob store after the upload (a disk fault): the
    # real captioner refuses it, and the user reads a sentence, not Pillow's words.
    photo = _upload(user, db)
    display = photo["files"]["display"]
    path = photo_files.store_of(db).path_of(display["key"])
    path.write_bytes(path.read_bytes()[:40])
    worker.work()
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed" and photo["caption_error"] == jobs.REASON_UNREADABLE


def test_the_retry_note_is_readable_too(user, db, worker):
    photo = _upload(user, db)
    notes = []

    def fails_once(images):  # the first call fails; the real model does the retry
        notes.append(db.photos.find_one({"_id": photo["_id"]})["caption_error"])
        if len(notes) == 1:
            raise RuntimeError(SECRET)

    worker.use(fails_once)
    worker.work()
    assert notes == [None, jobs.RETRY_NOTE]
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"
