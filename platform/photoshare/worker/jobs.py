"""The RQ jobs of the captioning worker and the failure callback of photo jobs.

Path of one photo job: the web app stores the photo (caption_status "pending", job_id
set) and enqueues `caption_photo(photo_id)`; this job claims it ("processing"), reads
the display image, captions it and completes it ("done"), or fails it with a reason.
Every state change is a transition of repositories.photos, made for this job only: a
job superseded by "caption again" or by reconciliation changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from .. import metrics
from ..clock import utcnow
from ..repositories import photo_files
from ..repositories import photos as photo_repo
from .context import context
from .model import get_captioner

log = logging.getLogger("photoshare.worker")

MAX_REASON_LENGTH = 500

# What a user may read on a photo whose captioning failed (`caption_error`, the status
# endpoint, the API): a fixed set of sentences, so that no exception text (paths, library
# internals, data) ever reaches a page. The detail goes to the worker's log only.
REASON_UNREADABLE = "The captioning model could not read this image."
REASON_TOO_MANY_PIXELS = "The image has too many pixels for the captioning model."
REASON_MISSING = "The stored image is missing."
REASON_UNAVAILABLE = "The photo store or the job queue was unavailable while captioning."
REASON_INTERNAL = "Captioning failed because of an error on our side."
RETRY_NOTE = "The last attempt failed; retrying."


def clean_reason(text) -> str:
    """A failure reason as stored and shown: one line, bounded."""
    text = " ".join(str(text).split())
    return text[:MAX_REASON_LENGTH] or REASON_INTERNAL


def refusal_reason(error: BaseException) -> str:
    """Why the model refused an image (a CaptionError in the results of caption()), as one
    of the fixed reasons; the model's own words are logged."""
    detail = str(getattr(error, "reason", None) or error or type(error).__name__)
    log.info("image refused by the model: %s", detail)
    return REASON_TOO_MANY_PIXELS if detail.startswith("image has") and "pixels" in detail else REASON_UNREADABLE


def crash_reason(exc_type, job_timeout=None) -> str:
    """The fixed reason of a job that raised (after RQ's last retry)."""
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        return f"Captioning took longer than {job_timeout} seconds."
    if exc_type is not None and issubclass(exc_type, (PyMongoError, RedisError, ConnectionError)):
        return REASON_UNAVAILABLE
    return REASON_INTERNAL


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


@dataclass
class ClaimedPhoto:
    """A photo claimed by its job, with the image the model reads."""
    photo_id: str
    oid: ObjectId
    job_id: str | None
    photo: dict
    image: bytes
    read_s: float


# Results computed for several jobs at once (caption_photos_together), by job id, each
# waiting for its own job's run of caption_photo to record it: (claimed photo, result,
# model seconds) or the summary of a job that ended before the model (deleted, superseded).
_ready: dict[str, tuple[ClaimedPhoto, object, float] | dict] = {}


def model_image(files: dict):
    """The stored file the model reads: the display image (the original for photos stored
    without one). Not the thumbnail, although it is ten times cheaper to read and decode for
    a camera photo: re-encoded at 400 px it changes 18-32% of the captions (bench/results/
    model_input.json), about as much as any JPEG re-encoding does to this model, and no
    test-split BLEU check has shown yet that this costs no quality."""
    return files.get("display") or files.get("original")


def _claim(db, photo_id: str, job_id: str | None, worker_name: str | None) -> ClaimedPhoto | dict:
    """Claim the photo for this job and read its image; or the job's summary when there is
    nothing to caption (bad id, deleted, superseded, image missing: marked failed)."""
    try:
        oid = ObjectId(photo_id)
    except (InvalidId, TypeError):
        return {"photo_id": photo_id, "outcome": "invalid id"}
    photo = photo_repo.claim(db, oid, job_id, worker_name)
    if photo is None:
        outcome = "superseded" if photo_repo.exists(db, oid) else "deleted"
        log.info("photo %s: nothing to do (%s)", photo_id, outcome)
        return {"photo_id": photo_id, "outcome": outcome}
    started = time.perf_counter()
    try:
        image = photo_files.read(db, model_image(photo.get("files") or {}))
    except photo_files.MissingFile:
        return _fail(db, oid, photo_id, job_id, REASON_MISSING)
    return ClaimedPhoto(photo_id, oid, job_id, photo, image, time.perf_counter() - started)


def _count_caption(outcome: str, requested_at=None) -> None:
    """Captions done / failed and their latency, for /metrics (photoshare.metrics, in Redis)."""
    ctx = context()
    metrics.count(ctx.redis, ctx.settings["PHOTOSHARE_PREFIX"], "photoshare_captions_total", outcome=outcome)
    if requested_at is not None:
        metrics.observe(ctx.redis, ctx.settings["PHOTOSHARE_PREFIX"], "photoshare_caption_duration_seconds",
                        (utcnow() - requested_at).total_seconds())


def _fail(db, oid: ObjectId, photo_id: str, job_id: str | None, reason: str) -> dict:
    photo_repo.fail(db, oid, job_id, clean_reason(reason))
    _count_caption("failed")
    log.warning("photo %s: captioning failed: %s", photo_id, reason)
    return {"photo_id": photo_id, "outcome": "failed", "reason": reason}


def _record(db, claimed: ClaimedPhoto, result, model_s: float) -> dict:
    """Write the model's result (or refusal) on the claimed photo: its job's outcome."""
    if isinstance(result, BaseException):  # a CaptionError: this image cannot be captioned
        return _fail(db, claimed.oid, claimed.photo_id, claimed.job_id, refusal_reason(result))
    photo = claimed.photo
    requested_at, started_at = photo.get("caption_requested_at"), photo.get("caption_started_at")
    fields = result_fields(result)
    fields["caption_timings"] = {
        "queue_wait_s": round((started_at - requested_at).total_seconds(), 3)
        if requested_at and started_at else None,
        "read_ms": round(claimed.read_s * 1000, 1),
        "caption_ms": round(model_s * 1000, 1),  # the model's pass this photo was in
    }
    photo_repo.complete(db, claimed.oid, claimed.job_id, fields)
    _count_caption("done", requested_at)
    log.info("photo %s: %r (%.0f ms)", claimed.photo_id, fields["ai_caption"], model_s * 1000)
    return {"photo_id": claimed.photo_id, "outcome": "done", "caption": fields["ai_caption"]}


def caption_photo(photo_id: str) -> dict:
    """RQ job: caption one stored photo. Returns a small summary (kept as the job result).

    Raises only for transient trouble (store unreachable, model crash, timeout): RQ then
    retries with backoff. A photo that cannot be captioned (unreadable image) is marked
    failed at once, and a deleted or superseded photo ends the job quietly. When the
    worker captioned this job's photo together with others (caption_photos_together),
    the job only records that result.
    """
    db = context().db
    job = get_current_job()
    job_id = job.id if job is not None else None
    ready = _ready.pop(job_id, None) if job_id is not None else None
    if isinstance(ready, dict):
        return ready
    if ready is not None:
        return _record(db, *ready)
    claimed = _claim(db, photo_id, job_id, job.worker_name if job else None)
    if isinstance(claimed, dict):
        return claimed
    started = time.perf_counter()
    result = get_captioner().caption([claimed.image])[0]
    return _record(db, claimed, result, time.perf_counter() - started)


def caption_photos_together(jobs: list[tuple[str, str]], worker_name: str) -> None:
    """The model's part of several photo jobs in one pass: claim each photo for its job
    (job id, photo id), read the images, caption them together, and keep each result for
    its own job's run of caption_photo, which records it (and RQ finishes that job).

    Raises if the model crashes (or times out): nothing is kept then for the photos it was
    running on, so each of those jobs claims and captions its photo again on its own, and
    only a photo that breaks the model fails (through RQ's retries, like a lone job)."""
    db = context().db
    claimed = []
    for job_id, photo_id in jobs:
        outcome = _claim(db, photo_id, job_id, worker_name)
        if isinstance(outcome, dict):
            _ready[job_id] = outcome
        else:
            claimed.append(outcome)
    if not claimed:
        return
    started = time.perf_counter()
    results = get_captioner().caption([each.image for each in claimed])
    model_s = time.perf_counter() - started
    for each, result in zip(claimed, results):
        _ready[each.job_id] = (each, result, model_s)


def forget_ready(job_ids) -> None:
    """Drop what is kept for these jobs (a batch's jobs that did not run, e.g. the worker
    stopped): nothing may leak into a later run of the same job id (a retry)."""
    for job_id in job_ids:
        _ready.pop(job_id, None)


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
    reason = crash_reason(exc_type, job.timeout)
    db = context().db
    will_retry = job.retries_left is not None and job.retries_left > 0
    if will_retry:
        photo_repo.retry_later(db, oid, job.id, RETRY_NOTE)
    else:
        photo_repo.fail(db, oid, job.id, reason)
        _count_caption("failed")
    # The exception itself only here, in the log.
    log.warning("photo %s: job %s failed (%s: %s)%s", photo_id, job.id, getattr(exc_type, "__name__", "Error"),
                exc_value, "; will retry" if will_retry else "")


def caption_image(image_bytes: bytes) -> dict:
    """RQ job of `POST /api/v1/captions`: caption raw image bytes without storing them.
    Returns {"outcome": "done", caption, alternatives, model_version} or
    {"outcome": "failed", reason} when the model cannot read the image."""
    started = time.perf_counter()
    result = get_captioner().caption([image_bytes])[0]
    if isinstance(result, BaseException):  # a CaptionError: this image cannot be captioned
        return {"outcome": "failed", "reason": refusal_reason(result)}
    fields = result_fields(result)
    log.info("quick caption: %r (%.0f ms)", fields["ai_caption"], (time.perf_counter() - started) * 1000)
    return {
        "outcome": "done",
        "caption": fields["ai_caption"],
        "alternatives": fields["alternatives"],
        "model_version": fields["model_version"],
    }
