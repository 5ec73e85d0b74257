"""The captioning job end to end with a stand-in captioner (no TensorFlow): status
transitions, what is written to the photo, failures, retries, timeouts, stale jobs."""

from __future__ import annotations

import os
import time

import pytest
from rq.job import Job

from photoshare import jobs
from photoshare.services import captions
from tests.platform_fakes import FakeCaptionError, FakeCaptioner
from tests.platform_images import make_image


def _text(response) -> str:
    return response.get_data(as_text=True)


def _upload_one(user, db, content=None):
    assert user.upload(("photo.png", content or make_image("PNG", color=(220, 30, 30)))).status_code == 303
    return db.photos.find_one(sort=[("_id", -1)])


def test_job_end_to_end(user, db, worker):
    photo = _upload_one(user, db)
    status_url = f"/photos/{photo['_id']}/status"
    assert user.client.get(status_url).get_json()["caption_status"] == "pending"

    assert worker.work() is True

    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "done" and photo["caption_error"] is None
    assert photo["ai_caption"] == "a red picture"
    assert photo["alternatives"][0] == {"caption": "a red picture", "score": -0.1}
    assert [a["word"] for a in photo["attention"]] == ["a", "red", "picture"]
    assert photo["attention"][0]["weights"] == [[0.25, 0.25], [0.25, 0.25]]
    assert photo["model_version"] == "fake-1"
    assert set(photo["caption_timings"]) == {"queue_wait_s", "read_ms", "caption_ms"}
    assert photo["caption_started_at"] <= photo["caption_finished_at"]

    state = user.client.get(status_url).get_json()
    assert state["caption_status"] == "done" and state["caption"] == "a red picture"
    job = Job.fetch(photo["job_id"], connection=worker.queue.connection)
    assert job.return_value()["outcome"] == "done"
    # The caption shows on the dashboard, as alt text too.
    assert 'alt="a red picture"' in _text(user.client.get("/"))


def test_status_is_processing_while_the_model_runs(user, db, worker):
    photo = _upload_one(user, db)
    seen = []

    class Watching(FakeCaptioner):
        def caption(self, images):
            seen.append(db.photos.find_one({"_id": photo["_id"]})["caption_status"])
            return super().caption(images)

    jobs.set_captioner(Watching())
    worker.work()
    assert seen == ["processing"]


def test_job_reads_the_display_image_from_gridfs(user, db, worker):
    photo = _upload_one(user, db, make_image("PNG", size=(3000, 1000)))
    sizes = []

    class Measuring(FakeCaptioner):
        def caption(self, images):
            from PIL import Image
            import io
            sizes.extend(Image.open(io.BytesIO(image)).size for image in images)
            return super().caption(images)

    jobs.set_captioner(Measuring())
    worker.work()
    assert sizes == [(1600, 533)]
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"


def test_an_image_the_model_cannot_read_fails_at_once_with_its_reason(user, db, worker):
    photo = _upload_one(user, db)

    class Refusing(FakeCaptioner):
        def caption(self, images):
            self.calls += 1
            return [FakeCaptionError("the image is blank") for _ in images]

    refusing = Refusing()
    jobs.set_captioner(refusing)
    worker.work()
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed" and photo["caption_error"] == "the image is blank"
    assert refusing.calls == 1  # not retried: retrying cannot help
    state = user.client.get(f"/photos/{photo['_id']}/status").get_json()
    assert state == {**state, "caption_status": "failed", "error": "the image is blank", "caption": None}


def test_a_transient_failure_is_retried(user, db, worker):
    photo = _upload_one(user, db)
    statuses = []

    class FlakyOnce(FakeCaptioner):
        def caption(self, images):
            statuses.append(db.photos.find_one({"_id": photo["_id"]}))
            if len(statuses) == 1:
                raise ConnectionError("store went away")
            return super().caption(images)

    jobs.set_captioner(FlakyOnce())
    worker.work()
    assert len(statuses) == 2
    # Between the attempts the failure callback put the photo back to pending, with a note.
    assert "retrying" in (statuses[1]["caption_error"] or "")
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "done" and photo["caption_error"] is None


def test_the_last_failure_marks_the_photo_failed(user, db, worker):
    photo = _upload_one(user, db)
    exploding = FakeCaptioner(fail_with=RuntimeError("model exploded"))
    jobs.set_captioner(exploding)
    worker.work()
    assert exploding.calls == 2  # one try + one retry (CAPTION_RETRY_INTERVALS="0" in tests)
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed"
    assert photo["caption_error"] == "RuntimeError: model exploded"
    assert photo["job_id"] in worker.queue.failed_job_registry.get_job_ids()
    page = _text(user.client.get(f"/photos/{photo['_id']}"))
    assert "RuntimeError: model exploded" in page and "Caption again" in page


def test_a_job_that_takes_too_long_times_out_and_fails(user, db, worker, app):
    photo = _upload_one(user, db)
    worker.queue.empty()
    settings = {**app.config, "CAPTION_JOB_TIMEOUT": 1, "CAPTION_RETRY_INTERVALS": []}
    captions.request_caption(db, worker.queue, photo["_id"], settings)

    class Slow(FakeCaptioner):
        def caption(self, images):
            time.sleep(3)
            return super().caption(images)

    jobs.set_captioner(Slow())
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
    newer = captions.request_caption(db, worker.queue, photo["_id"], app.config)  # e.g. reconciliation
    worker.work()
    old_job = Job.fetch(photo["job_id"], connection=worker.queue.connection)
    assert old_job.return_value()["outcome"] == "superseded"
    assert worker.captioner.calls == 1
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["job_id"] == newer.job_id and photo["caption_status"] == "done"


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
    assert again["ai_caption"] == "a red picture"  # the old one stays until the new one is ready
    jobs.set_captioner(FakeCaptioner())
    worker.work()
    done = db.photos.find_one({"_id": photo["_id"]})
    assert done["caption_status"] == "done" and done["user_caption"] == "My own words"


def test_run_worker_loads_the_captioner_once_and_never_forks(user, db, app, monkeypatch):
    for _ in range(3):
        _upload_one(user, db)
    loads = []

    def fake_load(path):
        loads.append(path)
        return FakeCaptioner()

    import captioner

    class FakeCaptionerClass:
        load = staticmethod(fake_load)

    monkeypatch.setattr(captioner, "Captioner", FakeCaptionerClass, raising=False)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("the worker forked"))
    jobs.set_captioner(None)
    settings = dict(app.config)
    try:
        assert jobs.run_worker(settings, burst=True, name=f"{settings['PHOTOSHARE_PREFIX']}-w") is True
    finally:
        jobs.set_captioner(None)
    assert len(loads) == 1
    assert db.photos.count_documents({"caption_status": "done"}) == 3


def test_retries_with_backoff_go_through_the_maintenance_thread_scheduler(user, db, worker, app):
    # With a backoff, RQ parks the failed job in its scheduled registry; the worker's
    # maintenance thread (RQ's scheduler without a fork) puts it back on the queue.
    photo = _upload_one(user, db)
    worker.queue.empty()
    settings = {**app.config, "CAPTION_RETRY_INTERVALS": [1]}
    request = captions.request_caption(db, worker.queue, photo["_id"], settings)
    attempts = []

    class FlakyOnce(FakeCaptioner):
        def caption(self, images):
            attempts.append(time.monotonic())
            if len(attempts) == 1:
                raise TimeoutError("encoder stalled")
            return super().caption(images)

    jobs.set_captioner(FlakyOnce())
    worker.work()
    assert request.job_id in worker.queue.scheduled_job_registry.get_job_ids()
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "pending"

    ctx = jobs.context()
    maintenance = jobs.Maintenance(ctx, f"{app.config['PHOTOSHARE_PREFIX']}-maint")
    time.sleep(1.1)
    maintenance._tick()
    maintenance.stop()
    assert worker.queue.job_ids == [request.job_id]
    worker.work()
    assert len(attempts) == 2
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"
