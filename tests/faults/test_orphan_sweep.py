"""The worker's background duties under faults: the orphan sweep runs in bounded passes
that go on where the last one stopped, sweeps GridFS chunks left without their files
document, and never delays the heartbeat, even with the store frozen; worker names are
unique per start and dead workers of this host stop looking alive at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

from bson import ObjectId

from photoshare.clock import utcnow
from photoshare.repositories import photo_files
from photoshare.services.reconciliation import OrphanSweep, sweep_orphans

from tests.images import make_image
from tests.support.storage import stored_keys


def _orphans(db, count: int) -> set[str]:
    keys = set()
    for _ in range(count):
        photo_id = ObjectId()  # no photo document: what a killed upload leaves
        keys.add(photo_files.put(db, photo_id, "thumbnail", make_image("PNG"), "image/png")["key"])
    return keys


def test_the_sweep_goes_in_bounded_passes_that_resume_where_the_last_stopped(app, db, user):
    orphans = _orphans(db, 7)
    user.upload(("kept.png", make_image("PNG")))
    kept = stored_keys(db) - orphans
    assert len(kept) == 3  # the uploaded photo's original, display and thumbnail
    later = utcnow() + timedelta(minutes=app.config["ORPHAN_MIN_AGE_MINUTES"] + 1)
    sweep = OrphanSweep(db, app.config, pass_files=3)
    removed = []
    for _ in range(10):
        report = sweep.run_pass(now=later)
        assert report.orphan_files <= 3  # never more read (nor removed) than the bound
        removed.append(report.orphan_files)
        if report.cycle_complete:
            break
    assert sum(removed) == 7 and len(removed) >= 4, removed
    assert stored_keys(db) == kept


def test_gridfs_chunks_without_their_files_document_are_swept(app, db):
    old = ObjectId.from_datetime(utcnow() - timedelta(minutes=app.config["ORPHAN_MIN_AGE_MINUTES"] + 5))
    deleted_midway = ObjectId.from_datetime(utcnow() - timedelta(hours=2))
    recent = ObjectId()  # a write still in progress: left alone
    db.fs.chunks.insert_many([
        {"files_id": old, "n": 0, "data": b"a"}, {"files_id": old, "n": 1, "data": b"b"},
        # a deletion killed after removing the first chunk: only later ones remain
        {"files_id": deleted_midway, "n": 3, "data": b"c"},
        {"files_id": recent, "n": 0, "data": b"d"},
    ])
    report = sweep_orphans(db, app.config)
    assert report.incomplete_files == 2
    assert sorted(c["files_id"] for c in db.fs.chunks.find({}, {"files_id": 1})) == [recent]


def test_worker_names_are_unique_per_start(app):
    from photoshare.worker.process import worker_name

    names = {worker_name(app.config) for _ in range(20)}
    assert len(names) == 20
    assert all(f"-{os.getpid()}-" in name for name in names)


def test_dead_workers_of_this_host_stop_looking_alive_at_start(app, redis_client):
    import socket

    from photoshare import queueing
    from photoshare.worker.maintenance import reap_dead_local_workers

    prefix, host = app.config["PHOTOSHARE_PREFIX"], socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    beats = {
        f"{prefix}-killed": {"host": host, "pid": gone.pid},             # killed, then restarted as us
        f"{prefix}-same-pid": {"host": host, "pid": os.getpid()},        # a restarted container: PID 1 again
        f"{prefix}-alive": {"host": host, "pid": os.getppid()},          # another live worker here
        f"{prefix}-elsewhere": {"host": "another-host", "pid": gone.pid},  # not ours to judge
    }
    for name, beat in beats.items():
        queueing.write_heartbeat(redis_client, prefix, name, {**beat, "state": "ready"}, ttl=30)
    reaped = reap_dead_local_workers(redis_client, prefix, f"{prefix}-me")
    assert sorted(reaped) == [f"{prefix}-killed", f"{prefix}-same-pid"]
    assert sorted(w["name"] for w in queueing.live_workers(redis_client, prefix)) == [
        f"{prefix}-alive", f"{prefix}-elsewhere"]


def test_a_sweep_blocked_by_a_frozen_store_never_delays_the_heartbeat(fault_stack):
    """The old sweep read every stored file on the heartbeat's thread: a slow store
    stopped the heartbeats and the worker looked dead. Here the store process is frozen
    while the reconciler works, and the heartbeat keeps its pace."""
    import json

    from photoshare import queueing
    from photoshare.worker.context import WorkerContext
    from photoshare.worker.maintenance import Maintenance, Reconciler

    stack = fault_stack
    ctx = WorkerContext({**stack.settings, "WORKER_HEARTBEAT_TTL": 3})
    reconciler = Reconciler(ctx)
    maintenance = Maintenance(ctx, f"{stack.settings['PHOTOSHARE_PREFIX']}-sweep-probe", reconciler)
    key = queueing.heartbeat_key(stack.settings["PHOTOSHARE_PREFIX"], maintenance.worker_name)
    maintenance.beat()  # as run_worker does before starting the thread
    maintenance.start()
    reconciler.start()
    ages = []
    stack.freeze_store()
    try:
        reconciler.wake()  # a round now: it waits on the frozen store
        until = time.monotonic() + 4
        while time.monotonic() < until:
            beat = stack.redis.get(key)
            ages.append(time.time() - json.loads(beat)["at"] if beat else 99)
            time.sleep(0.2)
        assert reconciler.rounds == 0  # the reconciler is stuck on the store...
    finally:
        stack.thaw_store()
        reconciler.stop()
        maintenance.stop()
        ctx.close()
    assert max(ages) < 2.0, ages  # ...while the heartbeat (every 1 s here) never paused


def test_both_blob_stores_list_old_blobs_in_bounded_pages_that_resume(db, tmp_path):
    from photoshare.blobs import FileSystemBlobStore, GridFSBlobStore

    later = utcnow() + timedelta(minutes=1)
    for store in (FileSystemBlobStore(tmp_path / "media"), GridFSBlobStore(db)):
        keys = {f"{ObjectId()}/thumbnail" for _ in range(7)}
        for key in keys:
            store.put(key, b"pixels")
        assert store.scan(utcnow() - timedelta(minutes=1))[0] == []  # nothing that old
        seen, cursor, pages = [], None, 0
        while True:
            page, cursor = store.scan(later, cursor, limit=3)
            assert len(page) <= 3
            seen += [entry.key for entry in page]
            pages += 1
            if cursor is None:
                break
        assert sorted(seen) == sorted(keys) and pages == 3, (store, pages)
