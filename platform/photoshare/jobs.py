"""The captioning worker: the RQ job, its failure callback and the worker process.

Runs only in the worker process (`python worker.py`). The Captioner (TensorFlow) is
loaded once per process, before the first job, and jobs run in that same process
(RQ's SimpleWorker): nothing forks after TensorFlow is loaded. The RQ scheduler that
re-queues retried jobs therefore runs as a thread here too, not as RQ's forked
scheduler process.

Path of one job: the web app stores the photo (caption_status "pending", job_id set)
and enqueues `caption_photo(photo_id)` -> this worker claims it ("processing"), reads
the display image from GridFS, captions it, writes caption, alternatives, attention,
model version and timings ("done"), or "failed" with a reason.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId
from bson.errors import InvalidId
from gridfs.errors import NoFile
from pymongo import ReturnDocument
from rq import SimpleWorker, get_current_job
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.timeouts import JobTimeoutException

from . import queueing, store
from .config import load_settings
from .services.captions import DONE, FAILED, IN_PROGRESS, PENDING, PROCESSING
from .services.reconciliation import reconcile

log = logging.getLogger("photoshare.worker")

MAX_REASON_LENGTH = 500


# -- Captioner: loaded once per process, injectable for tests ------------------------

_captioner = None
_captioner_lock = threading.Lock()


MISSING_MODEL_HELP = "train it or set CAPTIONER_MODEL (see README: `python -m captioner train`)"


class ModelMissing(RuntimeError):
    """There is no checkpoint where the worker looks for its model."""


def model_path(settings) -> Path:
    """The checkpoint the worker loads: CAPTIONER_MODEL, else the shipped model."""
    from captioner import DEFAULT_MODEL_DIR  # cheap: no TensorFlow

    return Path(settings.get("CAPTIONER_MODEL") or DEFAULT_MODEL_DIR)


def get_captioner():
    """The process-wide Captioner, loaded on first use from model_path(settings)."""
    global _captioner
    with _captioner_lock:
        if _captioner is None:
            path = model_path(context().settings)
            if not path.exists():
                raise ModelMissing(f"no captioning model checkpoint at {path}: {MISSING_MODEL_HELP}")
            from captioner import Captioner  # TensorFlow: worker only

            started = time.perf_counter()
            _captioner = Captioner.load(path)
            log.info("captioner %s loaded from %s in %.1f s", _captioner.model_version, path,
                     time.perf_counter() - started)
        return _captioner


def set_captioner(captioner) -> None:
    """Use `captioner` in this process (tests inject a tiny or fake one)."""
    global _captioner
    with _captioner_lock:
        _captioner = captioner


# -- Connections of this process ---------------------------------------------------

class WorkerContext:
    def __init__(self, settings: dict):
        self.settings = settings
        self.mongo, self.db = store.connect(settings["MONGO_URI"], settings["MONGO_DBNAME"],
                                            settings["MONGO_TIMEOUT_MS"])
        self.redis = queueing.connect_redis(settings["REDIS_URL"])
        self.queue = queueing.caption_queue(self.redis, settings)

    def close(self) -> None:
        self.mongo.close()
        self.redis.close()


_context: WorkerContext | None = None


def configure(settings: dict | None = None) -> WorkerContext:
    """(Re)create this process's connections; jobs use them."""
    global _context
    if _context is not None:
        _context.close()
    _context = WorkerContext(settings or load_settings())
    return _context


def context() -> WorkerContext:
    return _context or configure()


def _now() -> datetime:
    return datetime.now(UTC)


def clean_reason(text) -> str:
    """A failure reason as stored and shown: one line, bounded."""
    text = " ".join(str(text).split())
    return text[:MAX_REASON_LENGTH] or "unknown error"


def refusal_reason(error: BaseException) -> str:
    """Why the model refused an image (a CaptionError in the results of caption())."""
    return clean_reason(getattr(error, "reason", None) or str(error) or type(error).__name__)


# -- The job -----------------------------------------------------------------------

def result_fields(result) -> dict:
    """The stored form of a CaptionResult (JSON-safe, attention kept for the UI)."""
    return {
        "ai_caption": str(result.caption),
        "alternatives": [{"caption": str(a["caption"]), "score": float(a["score"])}
                         for a in (result.alternatives or [])],
        "attention": [{"word": str(a["word"]), "weights": a["weights"]} for a in (result.attention or [])],
        "model_version": str(result.model_version),
        "model_timings": dict(getattr(result, "timings", None) or {}),
    }


def caption_photo(photo_id: str) -> dict:
    """RQ job: caption one stored photo. Returns a small summary (kept as the job result).

    Raises only for transient trouble (store unreachable, model crash, timeout): RQ then
    retries with backoff. A photo that cannot be captioned (unreadable image) is marked
    failed at once, and a deleted or superseded photo ends the job quietly.
    """
    ctx = context()
    db = ctx.db
    job = get_current_job()
    try:
        oid = ObjectId(photo_id)
    except (InvalidId, TypeError):
        return {"photo_id": photo_id, "outcome": "invalid id"}

    started_at = _now()
    claim = {"_id": oid, "caption_status": {"$in": list(IN_PROGRESS)}}
    if job is not None:
        # Only the photo's current job may write: a job superseded by "caption again" or
        # by reconciliation does nothing.
        claim["job_id"] = job.id
    photo = db.photos.find_one_and_update(
        claim,
        {"$set": {"caption_status": PROCESSING, "caption_started_at": started_at,
                  "caption_worker": job.worker_name if job else None}},
        projection={"files": 1, "caption_requested_at": 1},
        return_document=ReturnDocument.AFTER,
    )
    if photo is None:
        exists = db.photos.count_documents({"_id": oid}, limit=1)
        outcome = "superseded" if exists else "deleted"
        log.info("photo %s: nothing to do (%s)", photo_id, outcome)
        return {"photo_id": photo_id, "outcome": outcome}
    owner_filter = {"_id": oid, **({"job_id": job.id} if job is not None else {})}

    def fail(reason: str) -> dict:
        db.photos.update_one(owner_filter, {"$set": {
            "caption_status": FAILED, "caption_error": clean_reason(reason), "caption_finished_at": _now()}})
        log.warning("photo %s: captioning failed: %s", photo_id, reason)
        return {"photo_id": photo_id, "outcome": "failed", "reason": reason}

    t0 = time.perf_counter()
    files = photo.get("files") or {}
    file_id = files.get("display") or files.get("original")
    try:
        image_bytes = store.files_bucket(db).open_download_stream(file_id).read()
    except NoFile:
        return fail("The stored image is missing.")
    t1 = time.perf_counter()

    result = get_captioner().caption([image_bytes])[0]
    t2 = time.perf_counter()
    if isinstance(result, BaseException):  # a CaptionError: this image cannot be captioned
        return fail(refusal_reason(result))

    requested_at = photo.get("caption_requested_at")
    fields = result_fields(result)
    fields["caption_timings"] = {
        "queue_wait_s": round((started_at - requested_at).total_seconds(), 3) if requested_at else None,
        "read_ms": round((t1 - t0) * 1000, 1),
        "caption_ms": round((t2 - t1) * 1000, 1),
    }
    db.photos.update_one(owner_filter, {"$set": {
        **fields, "caption_status": DONE, "caption_error": None, "caption_finished_at": _now()}})
    log.info("photo %s: %r (%.0f ms)", photo_id, fields["ai_caption"], (t2 - t1) * 1000)
    return {"photo_id": photo_id, "outcome": "done", "caption": fields["ai_caption"]}


def on_caption_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: runs after every failed attempt (exception or timeout).

    While RQ still has retries left the photo goes back to "pending" with a note;
    after the last attempt it is marked "failed" with the reason.
    """
    photo_id = job.args[0] if job.args else None
    try:
        oid = ObjectId(photo_id)
    except (InvalidId, TypeError):
        return
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        reason = f"Captioning took longer than {job.timeout} seconds."
    else:
        reason = f"{getattr(exc_type, '__name__', 'Error')}: {exc_value}"
    db = context().db
    will_retry = job.retries_left is not None and job.retries_left > 0
    if will_retry:
        update = {"caption_status": PENDING,
                  "caption_error": clean_reason(f"Attempt failed ({reason}); retrying.")}
    else:
        update = {"caption_status": FAILED, "caption_error": clean_reason(reason), "caption_finished_at": _now()}
    db.photos.update_one({"_id": oid, "job_id": job.id}, {"$set": update})
    log.warning("photo %s: job %s failed (%s)%s", photo_id, job.id, reason,
                "; will retry" if will_retry else "")


# -- The worker process ------------------------------------------------------------

class Maintenance(threading.Thread):
    """Background duties of a worker process, on one thread:

    - the heartbeat read by /healthz and by reconciliation (a TTL'd Redis key, refreshed
      even while a long job runs, so it vanishes soon after the process dies);
    - moving due retries from the scheduled registry back to the queue (what RQ's
      scheduler does, but without forking);
    - periodic reconciliation (e.g. photos uploaded while Redis was down) and orphan sweep.
    """

    TICK_SECONDS = 1.0

    def __init__(self, ctx: WorkerContext, worker_name: str):
        super().__init__(name="photoshare-maintenance", daemon=True)
        self.ctx = ctx
        self.worker_name = worker_name
        self.model_version: str | None = None
        self.state = "loading"
        self._stop_event = threading.Event()
        settings = ctx.settings
        self._ttl = settings["WORKER_HEARTBEAT_TTL"]
        self._scheduler = RQScheduler([settings["CAPTION_QUEUE"]], connection=ctx.redis,
                                      name=f"{worker_name}-scheduler")
        self._last = {"heartbeat": 0.0, "reconcile": time.monotonic()}

    def beat(self) -> None:
        queueing.write_heartbeat(
            self.ctx.redis, self.ctx.settings["PHOTOSHARE_PREFIX"], self.worker_name,
            {"pid": os.getpid(), "host": socket.gethostname(), "queue": self.ctx.settings["CAPTION_QUEUE"],
             "state": self.state, "model_version": self.model_version},
            self._ttl,
        )
        self._last["heartbeat"] = time.monotonic()

    def _tick(self, now: float | None = None) -> None:
        """One round of duties; `now` (Unix time, default: the clock) decides which
        retries are due."""
        tick = time.monotonic()
        if tick - self._last["heartbeat"] >= self._ttl / 3:
            self.beat()
        if self._scheduler.should_reacquire_locks:
            self._scheduler.acquire_locks()
        if self._scheduler.acquired_locks:  # one worker at a time moves retries
            self._scheduler.heartbeat()
            self.enqueue_due_retries(time.time() if now is None else now)
        interval = self.ctx.settings["RECONCILE_INTERVAL"]
        if interval > 0 and tick - self._last["reconcile"] >= interval and self.state == "ready":
            self._last["reconcile"] = tick
            reconcile(self.ctx.db, self.ctx.queue, self.ctx.settings)

    def enqueue_due_retries(self, now: float) -> list[str]:
        """Move the jobs whose retry is due by `now` from the scheduled registry back to
        the queue (what RQScheduler.enqueue_scheduled_jobs does, at a given time)."""
        queue = self.ctx.queue
        registry = queue.scheduled_job_registry
        job_ids = registry.get_jobs_to_schedule(int(now))
        for job in Job.fetch_many(job_ids, connection=queue.connection):
            if job is not None:
                queue.enqueue_job(job)
        for job_id in job_ids:
            registry.remove(job_id)
        return job_ids

    def run(self) -> None:
        while not self._stop_event.wait(self.TICK_SECONDS):
            try:
                self._tick()
            except Exception as error:  # Redis or store hiccup: log, keep beating
                log.warning("worker maintenance: %s", error)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        try:
            self._scheduler.release_locks()
            self._scheduler.register_death()
            queueing.clear_heartbeat(self.ctx.redis, self.ctx.settings["PHOTOSHARE_PREFIX"], self.worker_name)
        except Exception as error:
            log.warning("worker shutdown: %s", error)


def worker_name(settings: dict) -> str:
    return f"{settings['PHOTOSHARE_PREFIX']}-{socket.gethostname()}-{os.getpid()}"


def run_worker(settings: dict | None = None, *, burst: bool = False, name: str | None = None) -> bool:
    """Load the model, reconcile, then process jobs until stopped (or the queue is empty
    with `burst`). Returns whether any job ran."""
    ctx = configure(settings)
    name = name or worker_name(ctx.settings)
    maintenance = Maintenance(ctx, name)
    maintenance.beat()       # visible in /healthz as "loading" while the model loads
    maintenance.start()
    try:
        captioner = get_captioner()  # once per process, before the first job
        maintenance.model_version = captioner.model_version
        maintenance.state = "ready"
        maintenance.beat()
        # RECONCILE_MIN_AGE, as always: a photo uploaded this instant is still queueing
        # its own job and must not get a second one.
        report = reconcile(ctx.db, ctx.queue, ctx.settings)
        log.info("start-up reconciliation: %s", report)
        worker = SimpleWorker([ctx.queue], connection=ctx.redis, name=name)
        log.info("worker %s listening on queue %s", name, ctx.queue.name)
        return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
    finally:
        maintenance.stop()


def healthcheck(settings: dict) -> bool:
    """True if a worker on this host has a fresh heartbeat (for container healthchecks).
    Heartbeats live in Redis: no store connection is opened."""
    redis = queueing.connect_redis(settings["REDIS_URL"])
    try:
        workers = queueing.live_workers(redis, settings["PHOTOSHARE_PREFIX"])
    finally:
        redis.close()
    host = socket.gethostname()
    return any(w.get("host") == host and w.get("state") == "ready" for w in workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description="Photoshare captioning worker.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    action.add_argument("--reconcile", action="store_true",
                        help="re-queue photos left pending or processing, then exit")
    action.add_argument("--healthcheck", action="store_true",
                        help="exit 0 if a worker on this host is alive and ready")
    parser.add_argument("--min-age", type=float, default=None,
                        help="with --reconcile: skip photos younger than this (seconds)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings()
    if args.healthcheck:
        return 0 if healthcheck(settings) else 1
    if args.reconcile:
        ctx = configure(settings)
        report = reconcile(ctx.db, ctx.queue, settings, min_age_s=args.min_age)
        print(f"Caption reconciliation: {report}.")
        return 0
    try:
        run_worker(settings, burst=args.burst)
    except ModelMissing as error:
        log.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
