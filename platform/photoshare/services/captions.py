"""Captioning requests: queueing a photo's job, "caption again", and the caption part of
reconciliation. The state changes themselves are repositories.photos' transitions.

The model runs in the worker (photoshare.worker); this module only talks to MongoDB
and Redis, so the web process never loads TensorFlow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..clock import utcnow
from ..queueing import CAPTION_FAILURE_CALLBACK, CAPTION_JOB, new_job_id, worker_is_alive
from ..repositories import photos as photo_repo
from ..repositories import photo_attention
from .errors import Conflict, NotFound, as_object_id

log = logging.getLogger(__name__)

GAVE_UP_REASON = "Captioning was interrupted too many times; try again later."


@dataclass
class CaptionRequest:
    job_id: str
    queued: bool  # False: Redis refused; the photo stays pending until reconciliation


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
            # worker out of memory); an unreadable image is not retried (worker.jobs).
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


def recaption_photo(db: Database, queue: Queue, owner_id: ObjectId, photo_id, settings) -> CaptionRequest:
    """The "caption again" button: queue a new caption for a photo that is done or failed.

    The claim is one conditional update (not while a caption is on its way), so two
    clicks cannot queue two jobs. The job id is on the photo before the job exists, so a
    worker always finds it there.
    """
    photo_id = as_object_id(photo_id, "photo")
    job_id = new_job_id(settings)
    if photo_repo.request_recaption(db, owner_id, photo_id, job_id):
        return CaptionRequest(job_id, enqueue_caption_job(queue, photo_id, job_id, settings))
    if not photo_repo.exists(db, photo_id, owner_id):
        raise NotFound("No such photo.")
    raise Conflict("This photo is already being captioned.")


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
    that kills the worker cannot loop forever. Each change is conditional on the photo
    still being in progress under the job read here, so a caption that arrived meanwhile
    stands. Raises RedisError if Redis is down.
    """
    if min_age_s is None:
        min_age_s = settings["RECONCILE_MIN_AGE"]
    prefix = settings["PHOTOSHARE_PREFIX"]
    report = ReconcileReport()
    for photo in photo_repo.in_progress_before(db, utcnow() - timedelta(seconds=min_age_s)):
        old_job_id = photo.get("job_id")
        if job_is_active(queue, old_job_id, prefix):
            report.active += 1
        elif photo.get("requeue_count", 0) >= settings["CAPTION_MAX_REQUEUES"]:
            if photo_repo.give_up(db, photo["_id"], old_job_id, GAVE_UP_REASON):
                report.gave_up.append(str(photo["_id"]))
        else:
            job_id = new_job_id(settings)
            if photo_repo.requeue(db, photo["_id"], old_job_id, job_id):
                enqueue_caption_job(queue, photo["_id"], job_id, settings)
                report.requeued.append(str(photo["_id"]))
    if report.requeued or report.gave_up:
        log.info("caption reconciliation: %s", report)
    return report


def attention_maps(db: Database, photo: dict) -> list[dict]:
    """The per-word attention maps of a photo its owner has loaded (services.photos.get_photo),
    for "Why this caption": [{"word", "weights": 7x7 rows}] in caption order ([] before the
    first caption, or for a model without attention)."""
    return photo_attention.of_photo(db, photo["owner_id"], photo["_id"])
