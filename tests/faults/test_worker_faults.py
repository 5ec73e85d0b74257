"""Worker faults with real processes: two workers at once, a worker killed with SIGKILL in
the middle of a job (restarted by the supervisor `make run` uses). Each test ends with
every photo captioned, each photo's model result recorded once, and nothing orphaned."""

from __future__ import annotations

import os
import signal
import time

from tests.faults.conftest import poll


def _upload_all(stack, count: int, first: int = 0) -> list[str]:
    ids = []
    for index in range(first, first + count):
        response = stack.upload(index)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def _assert_captioned_once_and_nothing_orphaned(stack, ids: list[str], results_before) -> None:
    photos = stack.wait_all_captioned(len(ids))
    assert sorted(str(p["_id"]) for p in photos) == sorted(ids)
    assert all(p["ai_caption"] for p in photos)
    # At most one model result recorded per photo (none only if a worker died between
    # storing a caption and logging it): never a photo captioned twice.
    results = stack.model_results() - results_before
    twice = {photo_id: results[photo_id] for photo_id in ids if results[photo_id] > 1}
    assert twice == {}
    assert sum(results[photo_id] for photo_id in ids) >= len(ids) - 1
    assert stack.orphans() == ([], [])


def test_two_workers_never_caption_a_photo_twice(stack):
    before = stack.model_results()
    ids = _upload_all(stack, 16)
    _assert_captioned_once_and_nothing_orphaned(stack, ids, before)
    workers = {p.get("caption_worker") for p in stack.db.photos.find({}, {"caption_worker": 1})}
    assert len(workers) == 2, f"both workers should have taken jobs: {workers}"


def test_a_worker_killed_mid_job_is_restarted_and_its_photos_captioned(stack):
    before = stack.model_results()
    pids = stack.worker_pids()
    names_before = {w["name"] for w in stack.ready_workers()}
    ids = _upload_all(stack, 8, first=100)

    def a_photo_in_the_model():
        photo = stack.db.photos.find_one({"caption_status": "processing"}, {"caption_worker": 1})
        return photo and photo["caption_worker"]
    worker_name = poll(a_photo_in_the_model, 30, "a photo being captioned", every_s=0.02)
    pid = next(w["pid"] for w in stack.ready_workers() if w["name"] == worker_name)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    label = next(label for label, known in pids.items() if known == pid)

    # The supervisor starts a new process, which loads the model and beats under a new name.
    poll(lambda: stack.worker_pids()[label] != pid, 20, "the killed worker restarted")
    poll(lambda: len(stack.ready_workers()) == 2 and worker_name not in {w["name"] for w in stack.ready_workers()},
         120, "two live workers again")
    assert len({w["name"] for w in stack.ready_workers()} | names_before) == 3  # a new, unique name
    _assert_captioned_once_and_nothing_orphaned(stack, ids, before)
    print(f"\nSIGKILL mid-job: all {len(ids)} photos captioned {time.monotonic() - killed_at:.1f} s after the kill")
