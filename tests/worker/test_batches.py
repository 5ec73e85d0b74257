"""The worker captions waiting photo jobs in batches (photoshare.worker.batching), with the
real job code, real RQ and the real Captioner on the tiny checkpoint: one pass of the model
for the batch, yet every photo and every RQ job ends on its own (status, result, failure
callback, retries), a bad image fails only itself, and a lone upload never waits."""

from __future__ import annotations

import time
import uuid

import pytest
from captioner.encoder_runtime import DEFAULT_RUNTIME
from rq.job import Job, JobStatus

from photoshare.config import load_settings
from photoshare.queueing import QUICK_CAPTION_JOB
from photoshare.repositories import photo_files
from photoshare.worker import model, process
from photoshare.worker.batching import BatchingWorker
from photoshare.worker.jobs import model_image
from tests.images import make_image

COLORS = [(220, 30, 30), (30, 200, 40), (20, 40, 220), (240, 220, 20), (120, 20, 160), (10, 10, 10)]


class RecordingCaptioner:
    """The real captioner, recording the images of each call; `poison` (bytes) is an image
    on which it crashes (`crash`) or which it replaces by bytes no decoder reads (the real
    captioner then refuses it, as it refuses any unreadable image)."""

    def __init__(self, inner, poison: bytes | None = None, crash: bool = False, hang_s: float = 0):
        self.inner, self.poison, self.crash, self.hang_s = inner, poison, crash, hang_s
        self.calls: list[list[bytes]] = []

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    def caption(self, images):
        self.calls.append(list(images))
        if self.hang_s and len(self.calls) == 1 and len(images) > 1:
            time.sleep(self.hang_s)  # the first batch hangs
        if self.poison is not None and self.poison in images:
            if self.crash:
                raise RuntimeError("the encoder crashed")
            images = [b"these bytes are no image" if image == self.poison else image for image in images]
        return self.inner.caption(images)

    @property
    def sizes(self) -> list[int]:
        return [len(images) for images in self.calls]


def _upload(user, db, count: int) -> list[dict]:
    files = [(f"photo-{i}.png", make_image("PNG", size=(64 + 8 * i, 48), color=COLORS[i % len(COLORS)]))
             for i in range(count)]
    assert user.upload(*files).status_code == 303
    return sorted(db.photos.find(), key=lambda photo: photo["filename"])


def _model_bytes(db, photo) -> bytes:
    return photo_files.read(db, model_image(photo["files"]))


def _use(captioner):
    model.set_captioner(captioner)
    return captioner


def _work(queue, batch_size: int = 8) -> bool:
    name = f"{queue.name}-batching-{uuid.uuid4().hex[:6]}"
    return BatchingWorker([queue], connection=queue.connection, name=name, batch_size=batch_size).work(burst=True)


def _job(queue, photo) -> Job:
    return Job.fetch(photo["job_id"], connection=queue.connection)


@pytest.fixture
def real(worker, tiny_captioner):
    """The session's tiny captioner; the `worker` fixture wires the job code to this test's
    store and Redis, and unsets the captioner afterwards."""
    return tiny_captioner


def test_waiting_photo_jobs_are_captioned_in_one_pass_each_ending_on_its_own(user, db, queue, real):
    photos = _upload(user, db, 5)
    recorder = _use(RecordingCaptioner(real))
    assert _work(queue) is True

    assert recorder.sizes == [5]
    assert sorted(recorder.calls[0]) == sorted(_model_bytes(db, photo) for photo in photos)
    for photo in photos:
        done = db.photos.find_one({"_id": photo["_id"]})
        # The photo's own result, not a neighbour's: the same as captioning it alone.
        alone = real.caption([_model_bytes(db, photo)])[0]
        assert done["caption_status"] == "done" and done["ai_caption"] == alone.caption
        assert [a["caption"] for a in done["alternatives"]] == [a["caption"] for a in alone.alternatives]
        for got, expected in zip(done["alternatives"], alone.alternatives):
            assert got["score"] == pytest.approx(expected["score"], abs=2e-3)
        job = _job(queue, photo)
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == {"photo_id": str(photo["_id"]), "outcome": "done", "caption": done["ai_caption"]}
    assert queue.count == 0 and queue.started_job_registry.count == 0
    assert queue.intermediate_queue.get_job_ids() == []


def test_the_batch_size_bounds_each_pass(user, db, queue, real):
    _upload(user, db, 5)
    recorder = _use(RecordingCaptioner(real))
    _work(queue, batch_size=2)
    assert recorder.sizes == [2, 2, 1]
    assert db.photos.count_documents({"caption_status": "done"}) == 5


def test_a_lone_upload_is_captioned_at_once_on_its_own(user, db, queue, real):
    [photo] = _upload(user, db, 1)
    recorder = _use(RecordingCaptioner(real))
    _work(queue)
    assert recorder.sizes == [1]
    assert _job(queue, photo).return_value()["outcome"] == "done"


def test_every_job_of_a_batch_is_started_by_the_worker_while_the_model_runs(user, db, queue, real):
    photos = _upload(user, db, 3)
    seen = []

    class Watching(RecordingCaptioner):
        def caption(self, images):
            seen.append([(_job(queue, p).get_status(), _job(queue, p).worker_name,
                          db.photos.find_one({"_id": p["_id"]})["caption_status"]) for p in photos])
            return super().caption(images)

    _use(Watching(real))
    _work(queue)
    [states] = seen
    assert {status for status, _, _ in states} == {JobStatus.STARTED}
    assert len({name for _, name, _ in states}) == 1 and states[0][1]
    assert {status for _, _, status in states} == {"processing"}


def test_an_image_the_model_cannot_read_fails_only_itself(user, db, queue, real):
    photos = _upload(user, db, 4)
    bad = photos[1]
    recorder = _use(RecordingCaptioner(real, poison=_model_bytes(db, bad)))
    _work(queue)
    assert recorder.sizes == [4]  # refused inside the batch: no second pass
    failed = db.photos.find_one({"_id": bad["_id"]})
    assert failed["caption_status"] == "failed" and failed["caption_error"] == "The captioning model could not read this image."
    assert _job(queue, bad).return_value()["outcome"] == "failed"
    for photo in photos[:1] + photos[2:]:
        assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"


def test_a_model_crash_in_a_batch_fails_only_the_photo_that_causes_it(user, db, queue, real):
    photos = _upload(user, db, 4)
    bad = photos[2]
    recorder = _use(RecordingCaptioner(real, poison=_model_bytes(db, bad), crash=True))
    _work(queue)
    # The batch crashed; each job then ran alone, and the bad one used its retry too
    # (CAPTION_RETRY_INTERVALS="0" in tests: one retry).
    assert recorder.sizes == [4, 1, 1, 1, 1, 1]
    failed = db.photos.find_one({"_id": bad["_id"]})
    assert failed["caption_status"] == "failed" and failed["caption_error"] == "Captioning failed because of an error on our side."
    assert bad["job_id"] in queue.failed_job_registry.get_job_ids()
    for photo in photos[:2] + photos[3:]:
        assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"
        assert _job(queue, photo).get_status() == JobStatus.FINISHED


def test_a_batch_that_hangs_is_cut_by_the_job_timeout_then_each_photo_runs_alone(user, db, queue, real):
    photos = _upload(user, db, 3)
    for photo in photos:  # as if CAPTION_JOB_TIMEOUT were 15 s (a lone photo needs far less)
        job = _job(queue, photo)
        job.timeout = 15
        job.save()
    recorder = _use(RecordingCaptioner(real, hang_s=600))
    started = time.monotonic()
    _work(queue)
    assert time.monotonic() - started < 300  # the hang was cut
    assert recorder.sizes[0] == 3 and set(recorder.sizes[1:]) == {1}
    assert db.photos.count_documents({"caption_status": "done"}) == 3


def test_deleted_and_superseded_photos_leave_the_batch_quietly(user, db, queue, real):
    photos = _upload(user, db, 4)
    assert user.post(f"/photos/{photos[0]['_id']}/delete", page="/").status_code == 303
    recorder = _use(RecordingCaptioner(real))
    _work(queue)
    assert recorder.sizes == [3]
    assert _job(queue, photos[0]).return_value() == {"photo_id": str(photos[0]["_id"]), "outcome": "deleted"}


def test_an_api_caption_request_keeps_its_place_in_the_queue(user, db, queue, real):
    first = _upload(user, db, 2)
    queue.enqueue(QUICK_CAPTION_JOB, make_image("JPEG"), job_id=f"{queue.name}-quick-{uuid.uuid4().hex}")
    assert user.upload(("last.png", make_image("PNG", color=(1, 2, 3)))).status_code == 303
    recorder = _use(RecordingCaptioner(real))
    _work(queue)
    # The photo jobs queued after the API request are not taken before it.
    assert recorder.sizes == [2, 1, 1]
    assert recorder.calls[0] == [_model_bytes(db, photo) for photo in first]
    assert db.photos.count_documents({"caption_status": "done"}) == 3


def test_the_worker_process_batches_by_caption_batch_size(user, db, queue, real, app):
    _upload(user, db, 3)
    recorder = _use(RecordingCaptioner(real))
    settings = {**app.config, "CAPTION_BATCH_SIZE": 2}
    assert process.run_worker(settings, burst=True, name=f"{settings['PHOTOSHARE_PREFIX']}-w") is True
    assert recorder.sizes == [2, 1]


def test_caption_batch_size_and_encoder_come_from_the_environment():
    settings = load_settings({"CAPTION_BATCH_SIZE": "16", "CAPTION_ENCODER": " FP32 "})
    assert settings["CAPTION_BATCH_SIZE"] == 16 and settings["CAPTION_ENCODER"] == "fp32"
    defaults = load_settings({})
    assert defaults["CAPTION_BATCH_SIZE"] == 8 and defaults["CAPTION_ENCODER"] is None
    with pytest.raises(ValueError, match="CAPTION_BATCH_SIZE must be at least 1"):
        load_settings({"CAPTION_BATCH_SIZE": "0"})


def test_the_worker_loads_the_configured_encoder_and_refuses_an_unknown_one(app, tiny_model_dir):
    from photoshare.worker import context

    try:
        for runtime, expected in ((None, DEFAULT_RUNTIME), ("fp32", "fp32")):
            context.configure({**app.config, "CAPTIONER_MODEL": str(tiny_model_dir), "CAPTION_ENCODER": runtime})
            model.set_captioner(None)
            assert model.get_captioner().encoder_runtime == expected
        context.configure({**app.config, "CAPTIONER_MODEL": str(tiny_model_dir), "CAPTION_ENCODER": "fp16"})
        model.set_captioner(None)
        with pytest.raises(model.ModelMissing, match="unknown encoder runtime 'fp16'; choose one of fp32, bf16, int8"):
            model.get_captioner()
    finally:
        model.set_captioner(None)


def test_the_worker_outlives_idle_waits_longer_than_the_redis_socket_timeout(user, db, queue, real, app):
    from threading import Timer

    from photoshare.worker import context

    ctx = context.configure(dict(app.config))
    # Pooled connections with the platform's short socket timeout (5 s), as the worker
    # process has made by then (heartbeats, reconciliation) before RQ starts waiting.
    pool = ctx.redis.connection_pool
    connections = [pool.get_connection() for _ in range(4)]
    for connection in connections:
        pool.release(connection)
    worker = process.make_worker(ctx, f"{app.config['PHOTOSHARE_PREFIX']}-idle")
    recorder = _use(RecordingCaptioner(real))
    uploaded = []
    Timer(7, lambda: uploaded.extend(_upload(user, db, 1))).start()  # after 7 idle seconds
    assert worker.work(burst=False, max_jobs=1, max_idle_time=60) is True
    assert recorder.sizes == [1] and uploaded
