"""The captioning job end to end with the real Captioner on the tiny checkpoint (real
VGG16 encoder, tiny decoder): status transitions, what is written to the photo; and,
with injected failures, refusals, retries, timeouts, stale jobs."""

from __future__ import annotations

import io
import os
import sys
import time
import types

import pytest
from captioner.testing import TINY_WORDS
from PIL import Image
from rq.job import Job

from photoshare.queueing import new_job_id
from photoshare.repositories import photos as photo_repo
from photoshare.repositories import photo_attention
from photoshare.services import captions
from photoshare.worker import context, maintenance, model, process
from tests.images import jpeg_with_orientation, make_image
from tests.support.fakes import FailingCaptioner


def _new_job(db, queue, photo, settings) -> str:
    """Give the pending photo a new job, as reconciliation does (the old job is superseded)."""
    job_id = new_job_id(settings)
    assert photo_repo.requeue(db, photo["_id"], photo["job_id"], job_id)
    captions.enqueue_caption_job(queue, photo["_id"], job_id, settings)
    return job_id


def _text(response) -> str:
    return response.get_data(as_text=True)


def _upload_one(user, db, content=None):
    assert user.upload(("photo.png", content or make_image("PNG", color=(220, 30, 30)))).status_code == 303
    return db.photos.find_one(sort=[("_id", -1)])


def test_job_end_to_end(user, db, worker, tiny_captioner):
    response = user.upload(("photo.jpg", make_image("JPEG", size=(640, 480), color=(30, 140, 60))),
                           ("sideways.jpg", jpeg_with_orientation()))
    assert response.status_code == 303
    assert db.photos.count_documents({"caption_status": "pending"}) == 2
    photo = db.photos.find_one({"filename": "photo.jpg"})
    status_url = f"/photos/{photo['_id']}/status"
    assert user.client.get(status_url).get_json()["caption_status"] == "pending"

    assert worker.work() is True

    for photo in db.photos.find():
        assert photo["caption_status"] == "done" and photo["caption_error"] is None
        words = photo["ai_caption"].split()
        assert words and set(words) <= set(TINY_WORDS)
        assert photo["model_version"] == tiny_captioner.model_version
        assert photo["model_version"].startswith("tiny-attention@")
        assert photo["alternatives"][0]["caption"] == photo["ai_caption"]
        assert all(isinstance(a["score"], float) for a in photo["alternatives"])
        # The attention maps live apart from the photo document (repositories.photos).
        attention = photo_attention.of_photo(db, photo["owner_id"], photo["_id"])
        assert "attention" not in photo and [a["word"] for a in attention] == words
        weights = attention[0]["weights"]
        assert len(weights) > 1 and len(weights[0]) > 1  # a 2-D map over the image
        assert set(photo["caption_timings"]) == {"queue_wait_s", "read_ms", "caption_ms"}
        assert photo["caption_timings"]["caption_ms"] > 0
        assert photo["caption_started_at"] <= photo["caption_finished_at"]
        job = Job.fetch(photo["job_id"], connection=worker.queue.connection)
        assert job.return_value() == {"photo_id": str(photo["_id"]), "outcome": "done",
                                      "caption": photo["ai_caption"]}

    photo = db.photos.find_one({"filename": "photo.jpg"})
    state = user.client.get(status_url).get_json()
    assert state["caption_status"] == "done" and state["caption"] == photo["ai_caption"]
    # The caption shows on the dashboard, as alt text too.
    assert f'alt="{photo["ai_caption"]}"' in _text(user.client.get("/"))


def test_status_is_processing_while_the_model_runs(user, db, worker):
    photo = _upload_one(user, db)
    seen = []
    worker.use(lambda images: seen.append(db.photos.find_one({"_id": photo["_id"]})["caption_status"]))
    worker.work()
    assert seen == ["processing"]


def test_job_reads_the_display_image_from_the_blob_store(user, db, worker):
    photo = _upload_one(user, db, make_image("PNG", size=(3000, 1000)))
    sizes = []
    worker.use(lambda images: sizes.extend(Image.open(io.BytesIO(image)).size for image in images))
    worker.work()
    assert sizes == [(1600, 533)]
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"


def test_an_image_the_model_cannot_read_fails_at_once_with_its_reason(user, db, worker):
    photo = _upload_one(user, db)
    # A stand-in: the uploads checks let through no image the real model refuses.
    refusing = FailingCaptioner(refuses="the image is blank")
    model.set_captioner(refusing)
    worker.work()
    photo = db.photos.find_one({"_id": photo["_id"]})
    # One of the fixed readable reasons; the model's own words stay in the log.
    assert photo["caption_status"] == "failed" and photo["caption_error"] == "The captioning model could not read this image."
    assert refusing.calls == 1  # not retried: retrying cannot help
    state = user.client.get(f"/photos/{photo['_id']}/status").get_json()
    assert state == {**state, "caption_status": "failed", "caption_error": "The captioning model could not read this image.", "caption": None}


def test_a_transient_failure_is_retried(user, db, worker):
    photo = _upload_one(user, db)
    statuses = []

    def fails_once(images):  # injected failure of the first call; the real model does the retry
        statuses.append(db.photos.find_one({"_id": photo["_id"]}))
        if len(statuses) == 1:
            raise ConnectionError("store went away")

    worker.use(fails_once)
    worker.work()
    assert len(statuses) == 2
    # Between the attempts the failure callback put the photo back to pending, with a note.
    assert "retrying" in (statuses[1]["caption_error"] or "")
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "done" and photo["caption_error"] is None


def test_the_last_failure_marks_the_photo_failed(user, db, worker):
    photo = _upload_one(user, db)
    exploding = FailingCaptioner(raises=RuntimeError("model exploded"))  # a crash, injected
    model.set_captioner(exploding)
    worker.work()
    assert exploding.calls == 2  # one try + one retry (CAPTION_RETRY_INTERVALS="0" in tests)
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed"
    assert photo["caption_error"] == "Captioning failed because of an error on our side."
    assert photo["job_id"] in worker.queue.failed_job_registry.get_job_ids()
    page = _text(user.client.get(f"/photos/{photo['_id']}"))
    assert "an error on our side" in page and "Caption again" in page
    assert "RuntimeError" not in page and "exploded" not in page  # no exception text for users


def test_a_job_that_takes_too_long_times_out_and_fails(user, db, worker, app):
    photo = _upload_one(user, db)
    worker.queue.empty()
    settings = {**app.config, "CAPTION_JOB_TIMEOUT": 1, "CAPTION_RETRY_INTERVALS": []}
    _new_job(db, worker.queue, photo, settings)

    model.set_captioner(FailingCaptioner(delay_s=3))  # a hang, injected
    worker.work()
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed"
    assert photo["caption_error"] == "Captioning took longer than 1 seconds."


def test_a_deleted_photo_ends_its_job_quietly(user, db, worker):
    photo = _upload_one(user, db)
    assert user.post(f"/photos/{photo['_id']}/delete", page="/").status_code == 303
    worker.work()
    job = Job.fetch(photo["job_id"], connection=worker.queue.connection)
    assert job.return_value() == {"photo_id": str(photo["_id"]), "outcome": "deleted"}
    assert worker.captioner.calls == 0


def test_a_superseded_job_does_nothing(user, db, worker, app):
    photo = _upload_one(user, db)
    newer_job_id = _new_job(db, worker.queue, photo, app.config)  # e.g. reconciliation
    worker.work()
    old_job = Job.fetch(photo["job_id"], connection=worker.queue.connection)
    assert old_job.return_value()["outcome"] == "superseded"
    assert worker.captioner.calls == 1
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["job_id"] == newer_job_id and photo["caption_status"] == "done"


def test_caption_again(user, db, worker):
    photo = _upload_one(user, db)
    url = f"/photos/{photo['_id']}/recaption"
    # Not while a caption is on its way.
    response = user.post(url, page="/")
    assert response.status_code == 409 and "already being captioned" in _text(response)
    worker.work()
    user.post(f"/photos/{photo['_id']}/caption", {"caption": "My own words"}, page="/")

    response = user.post(url, page="/")
    assert response.status_code == 303
    again = db.photos.find_one({"_id": photo["_id"]})
    assert again["caption_status"] == "pending" and again["job_id"] != photo["job_id"]
    first = db.photos.find_one({"_id": photo["_id"]})
    assert again["ai_caption"] == first["ai_caption"] and first["ai_caption"]  # kept until the new one is ready
    worker.work()
    done = db.photos.find_one({"_id": photo["_id"]})
    assert done["caption_status"] == "done" and done["user_caption"] == "My own words"


def test_caption_again_claims_the_photo_and_its_new_job_in_one_update(user, db, worker, app):
    # No moment where the photo is pending under its old (finished) job: reconciliation
    # would re-queue it, and a crash would leave it so.
    from pymongo import MongoClient, monitoring

    photo = _upload_one(user, db)
    worker.work()

    class Updates(monitoring.CommandListener):
        def __init__(self):
            self.photos = []

        def started(self, event):
            name = event.command_name
            if name in ("update", "findAndModify") and event.command.get(name) == "photos":
                self.photos.append(event.command)

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    listener = Updates()
    with MongoClient(app.config["MONGO_URI"], event_listeners=[listener], tz_aware=True) as client:
        request = captions.recaption_photo(client[app.config["MONGO_DBNAME"]], worker.queue, photo["owner_id"],
                                           photo["_id"], app.config)
    assert len(listener.photos) == 1
    changes = listener.photos[0]["updates"][0]["u"]["$set"]
    assert changes["caption_status"] == "pending" and changes["job_id"] == request.job_id
    assert changes["caption_error"] is None and "caption_requested_at" in changes
    again = db.photos.find_one({"_id": photo["_id"]})
    assert again["job_id"] == request.job_id and again["caption_requested_at"] > photo["caption_requested_at"]
    assert worker.queue.job_ids == [request.job_id]


def test_run_worker_loads_the_captioner_once_and_never_forks(user, db, app, monkeypatch, tmp_path,
                                                             tiny_captioner):
    for _ in range(3):
        _upload_one(user, db)
    loads = []

    def load(path):
        loads.append(path)
        return tiny_captioner

    # The worker imports `captioner` when it loads the model: give it a module whose
    # Captioner.load records the call (and hands out the session's tiny captioner).
    monkeypatch.setitem(sys.modules, "captioner", types.SimpleNamespace(
        Captioner=types.SimpleNamespace(load=load), DEFAULT_MODEL_DIR=tmp_path / "missing"))
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("the worker forked"))
    model.set_captioner(None)
    settings = {**app.config, "CAPTIONER_MODEL": str(tmp_path)}
    try:
        assert process.run_worker(settings, burst=True, name=f"{settings['PHOTOSHARE_PREFIX']}-w") is True
    finally:
        model.set_captioner(None)
    assert loads == [tmp_path]
    assert db.photos.count_documents({"caption_status": "done"}) == 3


def test_a_missing_model_is_a_clear_error(app, tmp_path, monkeypatch, caplog):
    model.set_captioner(None)
    missing = tmp_path / "no-model-here"
    for key in ("MONGO_URI", "MONGO_DBNAME", "REDIS_URL", "PHOTOSHARE_PREFIX"):
        monkeypatch.setenv(key, str(app.config[key]))
    monkeypatch.setenv("CAPTIONER_MODEL", str(missing))
    try:
        assert process.main([]) == 2
    finally:
        model.set_captioner(None)
    assert f"no captioning model checkpoint at {missing}: train it or set CAPTIONER_MODEL" in caplog.text


def test_retries_with_backoff_go_through_the_maintenance_thread_scheduler(user, db, worker, app):
    # With a backoff, RQ parks the failed job in its scheduled registry; the worker's
    # maintenance thread (RQ's scheduler without a fork) puts it back on the queue.
    photo = _upload_one(user, db)
    worker.queue.empty()
    settings = {**app.config, "CAPTION_RETRY_INTERVALS": [60]}
    job_id = _new_job(db, worker.queue, photo, settings)
    attempts = []

    def fails_once(images):  # injected failure of the first call
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise TimeoutError("encoder stalled")

    worker.use(fails_once)
    worker.work()
    assert job_id in worker.queue.scheduled_job_registry.get_job_ids()
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "pending"

    duties = maintenance.Maintenance(context.context(), f"{app.config['PHOTOSHARE_PREFIX']}-maint")
    try:
        duties._tick()  # the retry is not due yet: it stays scheduled
        assert worker.queue.job_ids == []
        duties._tick(now=time.time() + 61)  # a minute later
    finally:
        duties.stop()
    assert worker.queue.job_ids == [job_id]
    worker.work()
    assert len(attempts) == 2
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"
