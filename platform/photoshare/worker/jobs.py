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

from bson import ObjectId
from bson.errors import InvalidId
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from ..repositories import photo_files
from ..repositories import photos as photo_repo
from .context import context
from .model import get_captioner

log = logging.getLogger("photoshare.worker")

MAX_REASON_LENGTH = 500


def clean_reason(text) -> str:
    """A failure reason as stored and shown: one line, bounded."""
    text = " ".join(str(text).split())
    return text[:MAX_REASON_LENGTH] or "unknown error"


def refusal_reason(error: BaseException) -> str:
    """Why the model refused an image (a CaptionError in the results of caption())."""
    return clean_reason(getattr(error, "reason", None) or str(error) or type(error).__name__)


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
    db = context().db
    job = get_current_job()
    job_id = job.id if job is not None else None
    try:
        oid = ObjectId(photo_id)
    except (InvalidId, TypeError):
        return {"photo_id": photo_id, "outcome": "invalid id"}

    photo = photo_repo.claim(db, oid, job_id, job.worker_name if job else None)
    if photo is None:
        outcome = "superseded" if photo_repo.exists(db, oid) else "deleted"
        log.info("photo %s: nothing to do (%s)", photo_id, outcome)
        return {"photo_id": photo_id, "outcome": outcome}

    def fail(reason: str) -> dict:
        photo_repo.fail(db, oid, job_id, clean_reason(reason))
        log.warning("photo %s: captioning failed: %s", photo_id, reason)
        return {"photo_id": photo_id, "outcome": "failed", "reason": reason}

    t0 = time.perf_counter()
    files = photo.get("files") or {}
    try:
        image_bytes = photo_files.read(db, files.get("display") or files.get("original"))
    except photo_files.MissingFile:
        return fail("The stored image is missing.")
    t1 = time.perf_counter()

    result = get_captioner().caption([image_bytes])[0]
    t2 = time.perf_counter()
    if isinstance(result, BaseException):  # a CaptionError: this image cannot be captioned
        return fail(refusal_reason(result))

    requested_at, started_at = photo.get("caption_requested_at"), photo.get("caption_started_at")
    fields = result_fields(result)
    fields["caption_timings"] = {
        "queue_wait_s": round((started_at - requested_at).total_seconds(), 3)
        if requested_at and started_at else None,
        "read_ms": round((t1 - t0) * 1000, 1),
        "caption_ms": round((t2 - t1) * 1000, 1),
    }
    photo_repo.complete(db, oid, job_id, fields)
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
        photo_repo.retry_later(db, oid, job.id, clean_reason(f"Attempt failed ({reason}); retrying."))
    else:
        photo_repo.fail(db, oid, job.id, clean_reason(reason))
    log.warning("photo %s: job %s failed (%s)%s", photo_id, job.id, reason, "; will retry" if will_retry else "")


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
