"""Captioning requests from the web side: queueing, "caption again", reconciliation.

The model itself runs in the worker (photoshare.jobs); this module only talks to
MongoDB and Redis, so the web process never loads TensorFlow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.database import Database
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..queueing import CAPTION_FAILURE_CALLBACK, CAPTION_JOB, new_job_id, worker_is_alive
from .errors import Conflict, NotFound, as_object_id

log = logging.getLogger(__name__)

# caption_status values: pending -> processing -> done | failed
PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
IN_PROGRESS = (PENDING, PROCESSING)


@dataclass
class CaptionRequest:
    job_id: str
    queued: bool  # False: Redis refused; the photo stays pending until reconciliation


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue_caption_job(queue: Queue, photo_id: ObjectId, job_id: str, settings) -> bool:
    """Put the captioning job of `photo_id` on the queue; False if Redis is unavailable."""
    intervals = list(settings["CAPTION_RETRY_INTERVALS"])
    try:
        queue.enqueue(
            CAPTION_JOB,  # by import path: the web process never imports the worker code
            str(photo_id),
            job_id=job_id,
            job_timeout=settings["CAPTION_JOB_TIMEOUT"],
            # Retries with growing delays for transient failures (store or Redis hiccup,
            # worker out of memory); an unreadable image is not retried (see jobs.py).
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            on_failure=Callback(CAPTION_FAILURE_CALLBACK),
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"caption photo {photo_id}",
        )
    except RedisError as error:
        log.warning("could not queue captioning of photo %s (%s); reconciliation will retry",
                    photo_id, error)
        return False
    return True


def _claim_and_enqueue(db: Database, queue: Queue, claim: dict, settings, *,
                       requeue: bool = False) -> CaptionRequest | None:
    """Give the photo matching `claim` a new job id and queue that job, or None when
    nothing matched (the photo changed meanwhile: nothing is written or queued).

    Status, job id, request time and error are set in one update, so no reader ever
    sees the photo pending under an old job; and the job id is on the photo before the
    job exists, so a worker always finds it there (a job whose id is no longer the
    photo's is stale and does nothing).
    """
    job_id = new_job_id(settings)
    update: dict = {"$set": {"caption_status": PENDING, "caption_error": None, "job_id": job_id,
                             "caption_requested_at": _now()}}
    if requeue:
        update["$inc"] = {"requeue_count": 1}
    if db.photos.update_one(claim, update).matched_count == 0:
        return None
    return CaptionRequest(job_id, enqueue_caption_job(queue, claim["_id"], job_id, settings))


def request_caption(db: Database, queue: Queue, photo_id: ObjectId, settings) -> CaptionRequest:
    """Mark the photo pending under a new job id, whatever its state, then queue that job."""
    request = _claim_and_enqueue(db, queue, {"_id": photo_id}, settings)
    if request is None:
        raise NotFound("No such photo.")
    return request


def recaption_photo(db: Database, queue: Queue, owner_id: ObjectId, photo_id, settings) -> CaptionRequest:
    """The "caption again" button: queue a new caption for a photo that is done or failed.

    The claim is one conditional update (not while a caption is on its way), so two
    clicks cannot queue two jobs.
    """
    photo_id = as_object_id(photo_id, "photo")
    claim = {"_id": photo_id, "owner_id": owner_id, "caption_status": {"$nin": list(IN_PROGRESS)}}
    request = _claim_and_enqueue(db, queue, claim, settings)
    if request is not None:
        return request
    if db.photos.count_documents({"_id": photo_id, "owner_id": owner_id}, limit=1) == 0:
        raise NotFound("No such photo.")
    raise Conflict("This photo is already being captioned.")


def requeue_stuck_photo(db: Database, queue: Queue, photo: dict, settings) -> CaptionRequest | None:
    """Reconciliation's re-queue of a photo read as stuck: only if it is still in progress
    under the same job, so a photo that got its caption (or a new job) meanwhile is left
    as it is; None then."""
    claim = {"_id": photo["_id"], "job_id": photo.get("job_id"), "caption_status": {"$in": list(IN_PROGRESS)}}
    return _claim_and_enqueue(db, queue, claim, settings, requeue=True)


def job_is_active(queue: Queue, job_id: str | None, prefix: str) -> bool:
    """Whether the job will still run or is running in a live worker."""
    if not job_id:
        return False
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return False  # Redis lost it (restart without persistence, flush...)
    status = job.get_status(refresh=False)
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.STARTED:
        # A started job is only alive if its worker still beats.
        return worker_is_alive(queue.connection, prefix, job.worker_name)
    return False


@dataclass
class ReconcileReport:
    requeued: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    active: int = 0

    def __str__(self) -> str:
        return (f"re-queued {len(self.requeued)}, gave up on {len(self.gave_up)}, "
                f"{self.active} still queued or running")


def reconcile_captions(db: Database, queue: Queue, settings, *, min_age_s: float | None = None) -> ReconcileReport:
    """Re-queue photos left pending or processing without a live job.

    Covers Redis being down at upload time and a worker dying in the middle of a job.
    Photos younger than `min_age_s` are left alone (their upload may still be queueing
    the job). A photo re-queued CAPTION_MAX_REQUEUES times is marked failed, so a photo
    that kills the worker cannot loop forever. Raises RedisError if Redis is down.
    """
    if min_age_s is None:
        min_age_s = settings["RECONCILE_MIN_AGE"]
    prefix = settings["PHOTOSHARE_PREFIX"]
    cutoff = _now() - timedelta(seconds=min_age_s)
    report = ReconcileReport()
    stuck = db.photos.find(
        {"caption_status": {"$in": list(IN_PROGRESS)}, "caption_requested_at": {"$lte": cutoff}},
        {"job_id": 1, "requeue_count": 1},
    )
    for photo in stuck:
        if job_is_active(queue, photo.get("job_id"), prefix):
            report.active += 1
            continue
        if photo.get("requeue_count", 0) >= settings["CAPTION_MAX_REQUEUES"]:
            gave_up = db.photos.update_one(
                {"_id": photo["_id"], "job_id": photo.get("job_id"), "caption_status": {"$in": list(IN_PROGRESS)}},
                {"$set": {"caption_status": FAILED, "caption_finished_at": _now(),
                          "caption_error": "Captioning was interrupted too many times; try again later."}},
            )
            if gave_up.matched_count:
                report.gave_up.append(str(photo["_id"]))
            continue
        if requeue_stuck_photo(db, queue, photo, settings) is not None:
            report.requeued.append(str(photo["_id"]))
    if report.requeued or report.gave_up:
        log.info("caption reconciliation: %s", report)
    return report
