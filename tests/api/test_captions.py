"""POST /api/v1/captions: one image captioned through the worker queue and not stored;
504 with a job id after the timeout (then GET /api/v1/captions/<job_id>); refusals;
its own rate limit; another user's job is 404."""

from __future__ import annotations

import pytest
from captioner.testing import TINY_WORDS
from rq.job import Job

from photoshare import create_app
from tests.support.api_clients import ApiClient, make_account, make_key, run_with_worker
from photoshare.services.images import ImageLimits, process_image
from tests.support.fakes import FailingCaptioner
from tests.images import make_image
from tests.support.storage import stored_keys


def _error(response) -> dict:
    assert response.is_json, response.get_data(as_text=True)[:300]
    return response.get_json()["error"]


def test_caption_an_image_without_storing_it(read_api, db, worker, app, tiny_captioner):
    image = make_image(size=(2000, 1500), color=(20, 20, 220))  # larger than DISPLAY_SIZE
    # The read scope suffices: nothing is written.
    response = run_with_worker(worker, lambda: read_api.upload(image, "q.jpg", url="/api/v1/captions"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    # The worker captioned the display-size derivative, like photo jobs.
    display = process_image(image, ImageLimits.from_settings(app.config)).display.data
    expected = tiny_captioner.caption([display])[0]
    assert body["caption"] == expected.caption and body["status"] == "done"
    assert set(body["caption"].split()) <= set(TINY_WORDS)
    best = body["alternatives"][0]
    assert best == {"caption": expected.caption, "score": pytest.approx(expected.alternatives[0]["score"])}
    assert body["model_version"] == tiny_captioner.model_version and body["job_id"]
    assert db.photos.count_documents({}) == 0 and len(stored_keys(db)) == 0
    job = Job.fetch(body["job_id"], connection=worker.queue.connection)
    assert job.meta["kind"] == "quick_caption" and job.func_name == "photoshare.worker.jobs.caption_image"


def test_timeout_answers_504_with_the_job_id_then_the_result_can_be_fetched(settings, db, queue, worker):
    app = create_app({**settings, "TESTING": True, "API_CAPTION_TIMEOUT_S": 0.3})
    try:
        user = make_account(db, "ada.api@example.com")
        client = ApiClient(app.test_client(), make_key(db, user, scopes=("read",)), user)
        response = client.upload(make_image(color=(220, 20, 20)), url="/api/v1/captions")  # no worker running
        assert response.status_code == 504
        body = response.get_json()
        assert body["error"]["code"] == "caption_timeout" and body["job_id"]
        url = f"/api/v1/captions/{body['job_id']}"
        pending = client.get(url)
        assert pending.status_code == 202 and pending.get_json() == {"job_id": body["job_id"], "status": "pending"}
        worker.work()
        done = client.get(url)
        assert done.status_code == 200 and set(done.get_json()["caption"].split()) <= set(TINY_WORDS)
    finally:
        app.extensions["photoshare.backends"].close()


def test_image_the_model_cannot_read_is_422(read_api, worker):
    from photoshare.worker import model

    model.set_captioner(FailingCaptioner(refuses="the image is blank"))  # a refusal, injected
    response = run_with_worker(worker, lambda: read_api.upload(make_image(), url="/api/v1/captions"))
    assert response.status_code == 422
    assert _error(response) == {"code": "caption_failed", "message": "The captioning model could not read this image."}


def test_a_crashing_worker_is_503(read_api, worker):
    from photoshare.worker import model

    model.set_captioner(FailingCaptioner(raises=MemoryError("out of memory")))  # a crash, injected
    response = run_with_worker(worker, lambda: read_api.upload(make_image(), url="/api/v1/captions"))
    assert response.status_code == 503 and _error(response)["code"] == "captioning_unavailable"


@pytest.mark.parametrize("content, status, code", [
    (b"not an image", 400, "not_an_image"),
    (make_image("BMP"), 415, "unsupported_format"),
    (b"", 400, "empty"),
])
def test_refused_images_are_never_queued(read_api, queue, content, status, code):
    response = read_api.upload(content, url="/api/v1/captions")
    assert response.status_code == status and _error(response)["code"] == code
    assert queue.count == 0


def test_another_users_job_is_404(settings, db, worker):
    app = create_app({**settings, "TESTING": True, "API_CAPTION_TIMEOUT_S": 0})
    try:
        ada_user, bob_user = make_account(db, "ada.api@example.com"), make_account(db, "bob.api@example.com")
        ada_client = ApiClient(app.test_client(), make_key(db, ada_user), ada_user)
        bob_client = ApiClient(app.test_client(), make_key(db, bob_user), bob_user)
        job_id = ada_client.upload(make_image(), url="/api/v1/captions").get_json()["job_id"]
        assert bob_client.get(f"/api/v1/captions/{job_id}").status_code == 404
        assert ada_client.get(f"/api/v1/captions/{job_id}").status_code == 202
        # Photo jobs are not caption jobs either.
        photo = ada_client.upload(make_image()).get_json()
        photo_job = db.photos.find_one()["job_id"]
        assert photo["id"] and ada_client.get(f"/api/v1/captions/{photo_job}").status_code == 404
        assert ada_client.get("/api/v1/captions/no-such-job").status_code == 404
    finally:
        app.extensions["photoshare.backends"].close()


def test_caption_requests_have_their_own_rate_limit(settings, db, queue):
    app = create_app({**settings, "TESTING": True, "API_CAPTION_TIMEOUT_S": 0,
                      "API_CAPTION_RATE_LIMIT": "2 per minute"})
    try:
        user = make_account(db, "ada.api@example.com")
        client = ApiClient(app.test_client(), make_key(db, user), user)
        for _ in range(2):
            assert client.upload(make_image(), url="/api/v1/captions").status_code == 504
        response = client.upload(make_image(), url="/api/v1/captions")
        assert response.status_code == 429
        assert _error(response)["code"] == "rate_limited" and int(response.headers["Retry-After"]) > 0
        # Other endpoints are not affected; another key of the same account is (the limit
        # is per account), another account is not.
        assert client.get("/api/v1/photos").status_code == 200
        second_key = client.as_key(make_key(db, user, name="second"))
        assert second_key.upload(make_image(), url="/api/v1/captions").status_code == 429
        bob = make_account(db, "bob.api@example.com")
        assert client.as_key(make_key(db, bob)).upload(make_image(), url="/api/v1/captions").status_code == 504
    finally:
        app.extensions["photoshare.backends"].close()


def test_waiting_requests_are_capped_per_process(settings, db, queue):
    app = create_app({**settings, "TESTING": True, "API_CAPTION_TIMEOUT_S": 0, "API_CAPTION_MAX_WAITERS": 1})
    try:
        user = make_account(db, "ada.api@example.com")
        client = ApiClient(app.test_client(), make_key(db, user, scopes=("read",)), user)
        with app.extensions["photoshare.caption_waiters"].slot():  # one request is waiting already
            response = client.upload(make_image(), url="/api/v1/captions")
            assert response.status_code == 503
            assert _error(response)["code"] == "captioning_busy"
            assert int(response.headers["Retry-After"]) > 0
            assert queue.count == 0  # refused before anything was queued
        # The slot is free again.
        assert client.upload(make_image(), url="/api/v1/captions").status_code == 504
        assert queue.count == 1
    finally:
        app.extensions["photoshare.backends"].close()


def test_caption_jobs_queue_behind_photo_jobs(read_api, api, queue):
    # No jumping the queue: photo jobs are never starved by caption requests.
    photo = api.upload(make_image()).get_json()
    app = read_api.client.application
    app.config["API_CAPTION_TIMEOUT_S"] = 0
    body = read_api.upload(make_image(), url="/api/v1/captions").get_json()
    assert queue.job_ids[0] != body["job_id"] and queue.job_ids[-1] == body["job_id"] and photo["id"]
