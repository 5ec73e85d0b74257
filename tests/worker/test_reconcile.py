"""Reconciliation: photos left pending or processing without a live job are re-queued
(Redis down at upload, job lost from Redis, worker died mid-job); live jobs are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job, JobStatus

from photoshare import create_app, queueing
from photoshare.worker import model, process
from photoshare.embedded_store import free_port
from photoshare.services.captions import reconcile_captions
from tests.support.sessions import Browser
from tests.images import make_image
from tests.support.storage import age_stored_files, keys_of, stored_keys


def _upload(user, db):
    assert user.upload(("photo.png", make_image("PNG"))).status_code == 303
    return db.photos.find_one(sort=[("_id", -1)])


def _lose_job(queue, job_id):
    """What a Redis restart without persistence (or a flush) does to a queued job."""
    queue.remove(job_id)
    Job.fetch(job_id, connection=queue.connection).delete()


def test_a_lost_job_is_requeued_and_then_captioned(user, db, queue, app, worker):
    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    assert worker.work() is False  # nothing left to run: the photo would stay pending forever

    report = reconcile_captions(db, queue, app.config)
    assert report.requeued == [str(photo["_id"])]
    requeued = db.photos.find_one({"_id": photo["_id"]})
    assert requeued["job_id"] != photo["job_id"] and requeued["requeue_count"] == 1
    assert queue.job_ids == [requeued["job_id"]]

    worker.work()
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"


def test_photos_uploaded_while_redis_was_down_are_queued_later(settings, db, queue, app, worker):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    offline_app = create_app({**settings, "REDIS_URL": dead, "RATELIMIT_STORAGE_URI": dead})
    try:
        browser = Browser(offline_app.test_client())
        browser.signup()
        browser.upload(("a.png", make_image("PNG")), ("b.png", make_image("PNG")))
    finally:
        offline_app.extensions["photoshare.backends"].close()
    assert db.photos.count_documents({"caption_status": "pending"}) == 2 and queue.count == 0

    report = reconcile_captions(db, queue, app.config)
    assert len(report.requeued) == 2
    worker.work()
    assert db.photos.count_documents({"caption_status": "done"}) == 2


def _start_job_in(queue, job_id, worker_name):
    """Leave a job as a worker that took it would: started, owned by `worker_name`."""
    queue.remove(job_id)
    job = Job.fetch(job_id, connection=queue.connection)
    job.worker_name = worker_name
    job.set_status(JobStatus.STARTED)
    job.save()


def test_a_job_of_a_dead_worker_is_requeued(user, db, queue, app, worker):
    photo = _upload(user, db)
    prefix = app.config["PHOTOSHARE_PREFIX"]
    _start_job_in(queue, photo["job_id"], f"{prefix}-died")
    db.photos.update_one({"_id": photo["_id"]}, {"$set": {"caption_status": "processing"}})

    report = reconcile_captions(db, queue, app.config)  # no heartbeat from "<prefix>-died"
    assert report.requeued == [str(photo["_id"])]
    worker.work()
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"


def test_live_jobs_are_left_alone(user, db, queue, app, redis_client):
    queued = _upload(user, db)
    running = _upload(user, db)
    prefix = app.config["PHOTOSHARE_PREFIX"]
    _start_job_in(queue, running["job_id"], f"{prefix}-alive")
    queueing.write_heartbeat(redis_client, prefix, f"{prefix}-alive", {"state": "ready"}, ttl=30)
    db.photos.update_one({"_id": running["_id"]}, {"$set": {"caption_status": "processing"}})

    report = reconcile_captions(db, queue, app.config)
    assert report.requeued == [] and report.active == 2
    assert db.photos.find_one({"_id": queued["_id"]})["job_id"] == queued["job_id"]


def test_recent_photos_are_left_alone(user, db, queue, app):
    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    assert reconcile_captions(db, queue, app.config, min_age_s=60).requeued == []
    db.photos.update_one({"_id": photo["_id"]},
                         {"$set": {"caption_requested_at": datetime.now(UTC) - timedelta(minutes=2)}})
    assert reconcile_captions(db, queue, app.config, min_age_s=60).requeued == [str(photo["_id"])]


def test_done_and_failed_photos_are_never_requeued(user, db, queue, app, worker):
    _upload(user, db)
    worker.work()
    failed = _upload(user, db)
    _lose_job(queue, failed["job_id"])
    db.photos.update_one({"_id": failed["_id"]}, {"$set": {"caption_status": "failed"}})
    assert db.photos.count_documents({"caption_status": "done"}) == 1
    assert reconcile_captions(db, queue, app.config).requeued == []


def test_a_photo_requeued_too_often_is_marked_failed(user, db, queue, app):
    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    db.photos.update_one({"_id": photo["_id"]}, {"$set": {"requeue_count": app.config["CAPTION_MAX_REQUEUES"]}})
    report = reconcile_captions(db, queue, app.config)
    assert report.gave_up == [str(photo["_id"])]
    photo = db.photos.find_one({"_id": photo["_id"]})
    assert photo["caption_status"] == "failed" and "interrupted too many times" in photo["caption_error"]


def test_reconcile_cli_command(user, db, queue, runner):
    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    result = runner.invoke(args=["reconcile-captions", "--min-age", "0"])
    assert result.exit_code == 0, result.output
    assert "re-queued 1" in result.output and str(photo["_id"]) in result.output
    assert queue.count == 1


def _run_the_worker(app, captioner, **settings) -> bool:
    """`python worker.py --burst` in this process: start-up reconciliation, then the queue."""
    settings = {**app.config, **settings}
    model.set_captioner(captioner)
    try:
        return process.run_worker(settings, burst=True, name=f"{settings['PHOTOSHARE_PREFIX']}-w")
    finally:
        model.set_captioner(None)


def test_the_worker_reconciles_when_it_starts(user, db, queue, app, tiny_captioner):
    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    _run_the_worker(app, tiny_captioner)
    assert db.photos.find_one({"_id": photo["_id"]})["caption_status"] == "done"


def test_worker_command_line_reconcile_and_healthcheck(user, db, queue, app, redis_client, monkeypatch, capsys):
    import socket

    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    for key in ("MONGO_URI", "MONGO_DBNAME", "REDIS_URL", "PHOTOSHARE_PREFIX"):
        monkeypatch.setenv(key, str(app.config[key]))
    assert process.main(["--reconcile", "--min-age", "0"]) == 0
    assert "re-queued 1" in capsys.readouterr().out
    assert queue.count == 1

    prefix = app.config["PHOTOSHARE_PREFIX"]
    assert process.main(["--healthcheck"]) == 1  # no worker here yet
    queueing.write_heartbeat(redis_client, prefix, f"{prefix}-here",
                             {"host": socket.gethostname(), "state": "ready", "model_version": "v"}, ttl=30)
    assert process.main(["--healthcheck"]) == 0


def test_init_db_cli_command(runner, db):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "Indexes are in place." in result.output


# -- Re-queueing is conditional ------------------------------------------------------------

def _meanwhile_done(db, photo):
    # The worker wrote the caption after reconciliation read the photo as stuck.
    db.photos.update_one({"_id": photo["_id"]}, {"$set": {"caption_status": "done", "ai_caption": "a dog"}})


def _meanwhile_new_job(db, photo):
    # "Caption again" (or another reconciliation) gave the photo a new job meanwhile.
    db.photos.update_one({"_id": photo["_id"]}, {"$set": {"job_id": "newer-job", "caption_status": "pending"}})


@pytest.mark.parametrize("requeues_so_far", [0, 5])
@pytest.mark.parametrize("meanwhile", [_meanwhile_done, _meanwhile_new_job])
def test_a_photo_that_changed_after_the_read_is_left_as_it_is(user, db, queue, app, monkeypatch,
                                                                meanwhile, requeues_so_far):
    from photoshare.services import captions

    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])
    db.photos.update_one({"_id": photo["_id"]}, {"$set": {"requeue_count": requeues_so_far}})  # 5: gives up

    seen = {}

    def job_is_active_then_the_photo_changes(*args):
        meanwhile(db, photo)
        seen["photo"] = db.photos.find_one({"_id": photo["_id"]})
        return False

    monkeypatch.setattr(captions, "job_is_active", job_is_active_then_the_photo_changes)
    report = reconcile_captions(db, queue, app.config)
    assert report.requeued == [] and report.gave_up == []
    assert db.photos.find_one({"_id": photo["_id"]}) == seen["photo"]  # not re-queued, not marked failed
    assert queue.count == 0


def test_the_worker_start_up_reconciliation_leaves_fresh_uploads_alone(user, db, queue, app, tiny_captioner):
    photo = _upload(user, db)
    _lose_job(queue, photo["job_id"])  # as if its job were still being queued by the upload
    _run_the_worker(app, tiny_captioner, RECONCILE_MIN_AGE=60)
    after = db.photos.find_one({"_id": photo["_id"]})
    assert after["caption_status"] == "pending" and after["job_id"] == photo["job_id"]


# -- Orphan sweep ----------------------------------------------------------------------------

def _age_files(db, minutes):
    age_stored_files(db, minutes)


def _orphan_files_of_a_killed_upload(db, owner_id):
    """What a process killed between writing an upload's files and its photo leaves."""
    from bson import ObjectId

    from photoshare.repositories import photo_files

    photo_id = ObjectId()
    for variant in ("original", "display", "thumbnail"):
        photo_files.put(db, photo_id, variant, make_image("PNG"), "image/png")
    return photo_id


def test_orphan_files_are_swept_once_old_enough(user, db, queue, app, runner, monkeypatch):
    from photoshare.repositories import photo_files

    kept = _upload(user, db)
    _orphan_files_of_a_killed_upload(db, kept["owner_id"])
    # A deletion whose file removal failed: the photo is gone, its files are not (yet).
    deleted = _upload(user, db)
    monkeypatch.setattr(photo_files, "delete", _failing_delete)
    assert user.post(f"/photos/{deleted['_id']}/delete", page="/").status_code == 303
    monkeypatch.undo()
    assert db.photos.count_documents({}) == 1 and len(stored_keys(db)) == 9

    result = runner.invoke(args=["reconcile-captions"])
    assert result.exit_code == 0 and "removed 0 orphan files" in result.output  # too recent: maybe uploading

    _age_files(db, app.config["ORPHAN_MIN_AGE_MINUTES"] + 1)
    result = runner.invoke(args=["reconcile-captions"])
    assert result.exit_code == 0 and "removed 6 orphan files" in result.output, result.output
    assert stored_keys(db) == keys_of(kept)
    assert user.client.get(f"/photos/{kept['_id']}/image/original").status_code == 200


def _failing_delete(db, file_id):
    """A file deletion that fails (store hiccup)."""
    from pymongo.errors import AutoReconnect

    raise AutoReconnect("connection reset")


def test_the_worker_sweeps_orphans_when_it_starts(user, db, queue, app, tiny_captioner):
    owner = db.users.find_one()["_id"]
    _orphan_files_of_a_killed_upload(db, owner)
    _age_files(db, app.config["ORPHAN_MIN_AGE_MINUTES"] + 1)
    _run_the_worker(app, tiny_captioner)
    assert len(stored_keys(db)) == 0
