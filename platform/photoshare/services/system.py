"""The state of captioning for the administrator (the system page, /api/v1/admin/stats):
queue depth, photos by caption status, failed photos and "retry failed", worker
heartbeats, the current model version, and re-captioning of photos captioned by an
older model.

Re-captioning runs in the background, throttled: `start_recaption_outdated` queues one
small job (photoshare.worker.admin_jobs.recaption_outdated, by import path) that requests
at most RECAPTION_BATCH captions while the caption queue is shorter than that, then
schedules itself again after RECAPTION_INTERVAL_S, walking the photos in _id order so
the walk ends. Users' own captions are never touched: only the AI caption is redone.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from bson import ObjectId
from pymongo.database import Database
from redis import Redis
from rq import Queue

from ..queueing import live_workers, new_job_id
from ..repositories import photos as photo_repo
from . import captions
from .errors import ServiceError, ValidationError

log = logging.getLogger(__name__)

RECAPTION_JOB = "photoshare.worker.admin_jobs.recaption_outdated"
MAX_RETRY_AT_ONCE = 500


class NoModelVersion(ServiceError):
    code = "model_version_unknown"
    http_status = 409


def status_counts(db: Database) -> dict[str, int]:
    """Photos by caption status. The few in progress or failed are counted on the index;
    "done" (nearly all of them) is the rest of the total, which costs no scan."""
    counts = {status: photo_repo.count(db, {"caption_status": status})
              for status in (photo_repo.PENDING, photo_repo.PROCESSING, photo_repo.FAILED)}
    counts[photo_repo.DONE] = max(0, photo_repo.estimated_total(db) - sum(counts.values()))
    return {status: counts[status] for status in photo_repo.CAPTION_STATUSES}


def failed_photos(db: Database, limit: int = 50) -> list[dict]:
    return photo_repo.newest(db, {"caption_status": photo_repo.FAILED}, limit=limit,
                             projection={"owner_id": 1, "filename": 1, "caption_error": 1, "created_at": 1,
                                         "caption_finished_at": 1})


def queue_depth(queue: Queue) -> int:
    return queue.count


def workers(redis: Redis, settings) -> list[dict]:
    return live_workers(redis, settings["PHOTOSHARE_PREFIX"])


def current_model_version(redis: Redis, settings) -> str | None:
    """The model the live workers run: the version most of them report in their heartbeats."""
    versions = Counter(w["model_version"] for w in workers(redis, settings) if w.get("model_version"))
    return versions.most_common(1)[0][0] if versions else None


def outdated_count(db: Database, model_version: str | None) -> int:
    return photo_repo.count_outdated(db, model_version) if model_version else 0


def retry_failed(db: Database, queue: Queue, settings, limit: int = MAX_RETRY_AT_ONCE) -> int:
    """Queue a new caption for (up to `limit`) failed photos; returns how many."""
    retried = 0
    for photo in photo_repo.newest(db, {"caption_status": photo_repo.FAILED}, limit=limit,
                                   projection={"owner_id": 1}):
        job_id = new_job_id(settings)
        if photo_repo.request_recaption(db, photo["owner_id"], photo["_id"], job_id):
            captions.enqueue_caption_job(queue, photo["_id"], job_id, settings)
            retried += 1
    return retried


@dataclass
class RecaptionBatch:
    queued: int
    last_id: ObjectId | None
    finished: bool


def recaption_batch(db: Database, queue: Queue, settings, model_version: str,
                    after_id: ObjectId | None) -> RecaptionBatch:
    """One step of the re-captioning walk: request captions for up to RECAPTION_BATCH
    outdated photos after `after_id`, fewer when the queue already holds work (uploads
    come first)."""
    room = max(0, settings["RECAPTION_BATCH"] - queue.count)
    if room == 0:
        return RecaptionBatch(0, after_id, False)
    # One more than there is room for: it tells whether the walk goes on after this step.
    photos = photo_repo.outdated_after(db, model_version, after_id, room + 1)
    more, photos = len(photos) > room, photos[:room]
    queued = 0
    for photo in photos:
        job_id = new_job_id(settings)
        # done → pending under a new job; a photo being captioned meanwhile is skipped.
        if photo_repo.request_recaption(db, photo["owner_id"], photo["_id"], job_id):
            captions.enqueue_caption_job(queue, photo["_id"], job_id, settings)
            queued += 1
    last_id = photos[-1]["_id"] if photos else after_id
    return RecaptionBatch(queued, last_id, finished=not more)


def start_recaption_outdated(redis: Redis, queue: Queue, settings, model_version: str | None = None) -> str:
    """Queue the background re-captioning walk; returns the model version it targets."""
    model_version = (model_version or "").strip() or current_model_version(redis, settings)
    if not model_version:
        raise NoModelVersion("No worker reports its model version right now; start a worker first "
                             "(or name the version).")
    if len(model_version) > 200:
        raise ValidationError("That is not a model version.", field="model_version")
    queue.enqueue(RECAPTION_JOB, model_version, None, job_id=new_job_id(settings, "recaption"),
                  job_timeout=600, result_ttl=3600, description=f"re-caption photos older than {model_version}")
    log.info("re-captioning of photos not captioned by %s started", model_version)
    return model_version


def stats(db: Database, queue: Queue, redis: Redis, settings) -> dict:
    live = workers(redis, settings)
    model_version = current_model_version(redis, settings)
    return {
        "queue_depth": queue_depth(queue),
        "photos_by_status": status_counts(db),
        "workers": [{"name": w.get("name"), "state": w.get("state"), "model_version": w.get("model_version"),
                     "host": w.get("host"), "pid": w.get("pid"), "last_heartbeat": w.get("at")} for w in live],
        "model_version": model_version,
        "outdated_photos": outdated_count(db, model_version),
    }
