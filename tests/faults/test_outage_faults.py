"""Outages with real processes: Redis stopped and restarted during uploads, the store
process frozen (SIGSTOP/SIGCONT) during requests. Uploads never give a 500 nor lose a
photo; each test ends with every photo captioned and nothing orphaned."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.faults.conftest import poll


def _assert_captioned_and_nothing_orphaned(stack, expected: int, before) -> None:
    stack.wait_all_captioned(expected, timeout_s=90)
    results = stack.model_results() - before
    assert [photo_id for photo_id, count in results.items() if count > 1] == []
    assert stack.orphans() == ([], [])


def test_uploads_while_redis_is_down_are_stored_and_captioned_after_it_returns(stack):
    before, pids = stack.model_results(), stack.worker_pids()
    assert stack.upload(0).status_code == 202
    stack.stop_redis()
    try:
        answers = [stack.upload(index) for index in range(1, 5)]
        assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
        assert {a.json()["caption_status"] for a in answers} == {"pending"}
        pending = stack.db.photos.count_documents({"caption_status": "pending"})
        assert pending >= 4
    finally:
        stack.start_redis()
    restarted_at = time.monotonic()
    _assert_captioned_and_nothing_orphaned(stack, 5, before)
    # Queued by the workers' reconciliation as soon as Redis answered (periodic
    # reconciliation is 5 minutes away here), not by a restart of the workers.
    assert stack.worker_pids() == pids
    assert any("Redis answers again: reconciling now" in path.read_text(errors="replace")
               for path in stack.log_dir.glob("*.log"))
    print(f"\nRedis restart: 4 photos uploaded meanwhile captioned {time.monotonic() - restarted_at:.1f} s after")


def test_requests_while_the_store_is_frozen_get_503s_and_nothing_is_lost(stack):
    before = stack.model_results()
    for index in range(3):
        assert stack.upload(index).status_code == 202
    headers = {"Authorization": f"Bearer {stack.key}"}
    requests_during_freeze = [
        lambda: requests.get(f"{stack.base}/api/v1/photos", headers=headers, timeout=30),
        lambda: requests.get(f"{stack.base}/healthz", timeout=30),
        lambda: stack.upload(50),
        lambda: requests.get(f"{stack.base}/api/v1/photos?q=fault", headers=headers, timeout=30),
    ]
    stack.freeze_store()
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(len(requests_during_freeze)) as pool:
            answers = list(pool.map(lambda request: request(), requests_during_freeze))
        waited = time.monotonic() - started
    finally:
        stack.thaw_store()
    assert [a.status_code for a in answers] == [503] * len(answers), [a.text[:200] for a in answers]
    assert waited < 20  # the store's answer timeout (2.5 s here), not a hung request
    # The refused upload left nothing; the three before it are captioned once the store is back.
    expected = poll(lambda: stack.db.photos.count_documents({}) or None, 10, "the store answering again")
    assert expected == 3
    _assert_captioned_and_nothing_orphaned(stack, 3, before)
