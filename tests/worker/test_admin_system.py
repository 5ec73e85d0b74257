"""The system page: queue depth, photos by caption status, failed photos and "retry
failed", worker heartbeats, the current model version, and the background re-captioning
of photos captioned by another model (throttled; users' own captions untouched)."""

from __future__ import annotations

import re

import pytest

from photoshare import queueing
from tests.images import make_image


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def captioned(user, db, worker, app):
    """Ada (the administrator) with three captioned photos, and a live worker heartbeat
    reporting the model version the tiny captioner has."""
    for n in range(3):
        assert user.upload((f"p{n}.jpg", make_image(color=(60 * n, 100, 20)))).status_code == 303
    worker.work()
    version = worker.captioner.model_version
    assert db.photos.count_documents({"caption_status": "done", "model_version": version}) == 3
    redis = worker.queue.connection
    queueing.write_heartbeat(redis, app.config["PHOTOSHARE_PREFIX"], "w-test",
                             {"pid": 1, "host": "testhost", "state": "ready", "model_version": version}, 30)
    return version


def _photo(db, name):
    return db.photos.find_one({"filename": name})


def test_system_page_shows_the_state_and_retries_failed_photos(user, db, worker, captioned):
    db.photos.update_one({"filename": "p0.jpg"}, {"$set": {"caption_status": "failed",
                                                           "caption_error": "The stored image is missing."}})
    page = _text(user.client.get("/admin/system"))
    assert re.search(r'data-role="queue-depth">0<', page)
    assert re.search(r'data-status="done">2<', page) and re.search(r'data-status="failed">1<', page)
    assert "The stored image is missing." in page and "w-test" in page and "testhost" in page
    assert f'data-role="model-version">{captioned}<' in page and re.search(r'data-role="outdated">0<', page)

    response = user.post("/admin/system/retry-failed", page="/admin/system")
    assert response.status_code == 303
    assert "1 failed photo queued" in _text(user.client.get("/admin/system"))
    assert _photo(db, "p0.jpg")["caption_status"] == "pending"
    worker.work()
    assert _photo(db, "p0.jpg")["caption_status"] == "done"


def test_recaption_outdated_in_the_background_keeps_user_captions(user, db, worker, captioned, app):
    db.photos.update_many({"filename": {"$in": ["p1.jpg", "p2.jpg"]}},
                          {"$set": {"model_version": "attention@old", "ai_caption": "an old caption"}})
    db.photos.update_one({"filename": "p1.jpg"}, {"$set": {"user_caption": "Mine, keep it"}})
    assert re.search(r'data-role="outdated">2<', _text(user.client.get("/admin/system")))

    from photoshare.worker.context import context
    context().settings["RECAPTION_BATCH"] = 1  # throttled: one photo per step (the worker's setting)
    response = user.post("/admin/system/recaption-outdated", page="/admin/system")
    assert response.status_code == 303
    worker.work()  # step 1: one photo re-captioned, the next step scheduled for later
    outdated = db.photos.count_documents({"model_version": "attention@old"})
    assert outdated == 1
    registry = worker.queue.scheduled_job_registry
    assert registry.count == 1
    # The worker's maintenance moves the due step to the queue; here it is moved by hand.
    for job_id in registry.get_job_ids():
        worker.queue.enqueue_job(worker.queue.fetch_job(job_id))
        registry.remove(job_id)
    worker.work()
    assert db.photos.count_documents({"model_version": "attention@old"}) == 0
    assert db.photos.count_documents({"model_version": captioned, "caption_status": "done"}) == 3
    p1 = _photo(db, "p1.jpg")
    assert p1["user_caption"] == "Mine, keep it" and p1["ai_caption"] != "an old caption"
    assert registry.count == 0  # the walk ended


def test_recaption_command_and_its_failure_modes(runner, user, db, worker, app):
    assert user.upload(("p.jpg", make_image())).status_code == 303
    worker.work()
    db.photos.update_one({}, {"$set": {"model_version": "attention@old"}})
    result = runner.invoke(args=["recaption-outdated"])  # no worker reports a version
    assert result.exit_code != 0 and "No worker reports its model version" in result.output
    response = user.post("/admin/system/recaption-outdated", page="/admin/system")
    assert response.status_code == 409 and "No worker reports" in _text(response)

    result = runner.invoke(args=["recaption-outdated", "--model-version", worker.captioner.model_version])
    assert result.exit_code == 0 and "1 photos are captioned by another model" in result.output
    worker.work()
    assert db.photos.find_one({})["model_version"] == worker.captioner.model_version
