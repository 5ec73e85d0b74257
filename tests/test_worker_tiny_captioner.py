"""A captioning job end to end with the real Captioner on a tiny checkpoint (real VGG16
encoder, tiny decoder): upload -> queued job -> SimpleWorker in burst mode -> caption,
alternatives, attention maps, model version and timings on the photo."""

from __future__ import annotations

import pytest

from photoshare import jobs
from tests.platform_images import jpeg_with_orientation, make_image

testing = pytest.importorskip("captioner.testing", reason="captioner.testing (tiny_checkpoint) not available yet")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_captioner(tmp_path_factory):
    from captioner import Captioner
    from captioner.paths import encoder_weights_path

    if not encoder_weights_path().exists():
        pytest.skip("VGG16 encoder weights are not prepared (run `make setup`)")
    return Captioner.load(testing.tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


def test_job_end_to_end_with_the_tiny_captioner(user, db, worker, tiny_captioner):
    jobs.set_captioner(tiny_captioner)
    response = user.upload(("photo.jpg", make_image("JPEG", size=(640, 480), color=(30, 140, 60))),
                           ("sideways.jpg", jpeg_with_orientation()))
    assert response.status_code == 303
    assert db.photos.count_documents({"caption_status": "pending"}) == 2

    assert worker.work() is True

    for photo in db.photos.find():
        assert photo["caption_status"] == "done", photo.get("caption_error")
        words = photo["ai_caption"].split()
        assert words and set(words) <= set(testing.TINY_WORDS)
        assert photo["model_version"] == tiny_captioner.model_version
        assert photo["model_version"].startswith("tiny-attention@")
        assert photo["alternatives"] and photo["alternatives"][0]["caption"] == photo["ai_caption"]
        assert len(photo["attention"]) == len(words)
        weights = photo["attention"][0]["weights"]
        assert len(weights) > 1 and len(weights[0]) > 1  # a 2-D map over the image
        assert photo["caption_timings"]["caption_ms"] > 0
        state = user.client.get(f"/photos/{photo['_id']}/status").get_json()
        assert state["caption_status"] == "done" and state["caption"] == photo["ai_caption"]
