"""Captioning one image without storing it: the image goes through the same checks as
an upload (services.images), its display-size version is sent to the worker queue,
and the caller waits for the result up to a timeout.

The job (photoshare.worker.jobs.caption_image) runs in the captioning worker, with the
same Captioner as photo jobs; this module only talks to Redis, so the web process never
loads TensorFlow. Nothing about the image is written to the store; the job and its
result expire from Redis after QUICK_CAPTION_RESULT_TTL seconds.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from bson import ObjectId
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from ..queueing import QUICK_CAPTION_JOB, new_job_id
from .errors import NotFound, ServiceError
from .images import ImageLimits, accept_upload

JOB_KIND = "quick_caption"
QUICK_CAPTION_RESULT_TTL = 600  # seconds the result (or the failure) stays fetchable
QUICK_CAPTION_QUEUED_TTL = 600  # a job nobody ran within this is dropped


class CaptionTimeout(ServiceError):
    code = "caption_timeout"
    http_status = 504

    def __init__(self, message: str, job_id: str):
        super().__init__(message)
        self.job_id = job_id

    def to_dict(self) -> dict:
        return {**super().to_dict(), "job_id": self.job_id}


class CaptionFailed(ServiceError):
    """The model could not caption this image (or the job crashed)."""
    code = "caption_failed"
    http_status = 422


class CaptioningUnavailable(ServiceError):
    code = "captioning_unavailable"
    http_status = 503


class CaptioningBusy(ServiceError):
    """This process already has as many requests waiting for a caption as it allows."""
    code = "captioning_busy"
    http_status = 503
    retry_after = 5  # seconds (the Retry-After header)


class WaiterLimit:
    """At most `limit` requests of this process wait for a caption at the same time.

    A waiting request holds a web thread for up to API_CAPTION_TIMEOUT_S; without a cap a
    few clients could hold them all, and the website would stop answering.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._slots = threading.BoundedSemaphore(max(limit, 1))

    @contextmanager
    def slot(self):
        """Hold one waiting slot; CaptioningBusy (503, Retry-After) when none is free."""
        if self.limit < 1 or not self._slots.acquire(blocking=False):
            raise CaptioningBusy("Too many captions are being waited for right now; "
                                 f"try again in {CaptioningBusy.retry_after} seconds.")
        try:
            yield
        finally:
            self._slots.release()


@dataclass
class QuickCaption:
    job_id: str
    status: str                 # "pending" or "done"
    result: dict | None = None  # caption, alternatives, model_version when done


def enqueue(queue: Queue, owner_id: ObjectId, filename: str, stream: BinaryIO, settings) -> str:
    """Check the image like an upload (UploadRejected if refused) and queue its captioning."""
    processed = accept_upload(stream, ImageLimits.from_settings(settings), filename)
    job_id = new_job_id(settings, kind="quick")
    queue.enqueue(
        QUICK_CAPTION_JOB,
        processed.display.data,  # upright, at most DISPLAY_SIZE: what photo jobs caption too
        job_id=job_id,
        job_timeout=settings["CAPTION_JOB_TIMEOUT"],
        ttl=QUICK_CAPTION_QUEUED_TTL,
        result_ttl=QUICK_CAPTION_RESULT_TTL,
        failure_ttl=QUICK_CAPTION_RESULT_TTL,
        # Not at the front of the queue: photo jobs are never starved by these. A queue
        # too long to wait for gives 504 with the job id, which is fetched later.
        meta={"kind": JOB_KIND, "owner_id": str(owner_id)},
        description="caption an image for the API (not stored)",
    )
    return job_id


def _fetch(queue: Queue, owner_id: ObjectId, job_id: str) -> Job:
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except (NoSuchJobError, ValueError):
        raise NotFound("No such caption job (results are kept for 10 minutes).") from None
    meta = job.get_meta(refresh=False) or {}
    if meta.get("kind") != JOB_KIND or meta.get("owner_id") != str(owner_id):
        raise NotFound("No such caption job (results are kept for 10 minutes).")
    return job


def _outcome(job: Job) -> QuickCaption | None:
    try:
        status = job.get_status(refresh=True)
    except InvalidJobOperation:  # the job's hash is gone (expired)
        status = None
    if status == JobStatus.FINISHED:
        result = job.return_value() or {}
        if result.get("outcome") != "done":
            raise CaptionFailed(result.get("reason") or "The image could not be captioned.")
        return QuickCaption(job.id, "done", {
            "caption": result["caption"],
            "alternatives": result.get("alternatives") or [],
            "model_version": result.get("model_version"),
        })
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        raise CaptioningUnavailable("Captioning failed on the worker; try again later.")
    if status is None:  # expired from Redis before anyone ran it
        raise CaptioningUnavailable("The captioning job expired before a worker ran it; try again later.")
    return None


def wait_for(queue: Queue, owner_id: ObjectId, job_id: str, timeout_s: float) -> QuickCaption:
    """Wait for the job's result; CaptionTimeout (504, with the job id) after `timeout_s`."""
    job = _fetch(queue, owner_id, job_id)
    deadline = time.monotonic() + max(0.0, timeout_s)
    delay = 0.05
    while True:
        outcome = _outcome(job)
        if outcome is not None:
            return outcome
        if time.monotonic() >= deadline:
            raise CaptionTimeout(
                f"No caption within {timeout_s:g} s; the job goes on: fetch its result later "
                f"with GET /api/v1/captions/{job_id}.", job_id)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.5)


def get(queue: Queue, owner_id: ObjectId, job_id: str) -> QuickCaption:
    """The job's result if it is done, else status "pending"."""
    job = _fetch(queue, owner_id, job_id)
    return _outcome(job) or QuickCaption(job.id, "pending")
