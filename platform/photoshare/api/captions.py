"""/api/v1/captions: caption one image without storing it (through the worker queue)."""

from __future__ import annotations

import re

from flask import current_app

from ..extensions import get_queue, limiter
from ..services import quick_captions
from ..services.errors import NotFound
from .auth import current_owner_id, rate_limit_key, require_key
from .blueprint import Blueprint
from .schemas import CaptionPendingSchema, CaptionResultSchema, CaptionUploadSchema

bp = Blueprint("captions", __name__, url_prefix="/api/v1/captions",
               description="Caption an image without storing it.")

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _result_json(outcome: quick_captions.QuickCaption) -> dict:
    return {"job_id": outcome.job_id, "status": outcome.status, **(outcome.result or {})}


def caption_waiters() -> quick_captions.WaiterLimit:
    """This process's cap on requests waiting for a caption (API_CAPTION_MAX_WAITERS)."""
    return current_app.extensions["photoshare.caption_waiters"]


@bp.route("", methods=["POST"])
@limiter.limit(lambda: current_app.config["API_CAPTION_RATE_LIMIT"], key_func=rate_limit_key,
               override_defaults=False,
               error_message="Too many caption requests for this account; wait before sending more.")
@bp.keyed(400, 403, 415, 422, 504)
@require_key("read")
@bp.arguments(CaptionUploadSchema, location="multipart")
@bp.response(200, CaptionResultSchema)
def caption(args):
    """Caption an image (not stored)

    The image is checked like an upload, captioned by the worker and forgotten. The
    answer waits for the caption up to a timeout (API_CAPTION_TIMEOUT_S, 30 s by
    default); after it, 504 with `job_id`: the job goes on, and
    `GET /api/v1/captions/{job_id}` gives its result for 10 minutes. 422 with
    `caption_failed` when the model cannot read the image. 503 with `captioning_busy`
    (and `Retry-After`) when the server already has as many requests waiting as it
    allows. Needs the `read` scope (nothing is written) and has its own, lower rate
    limit per account.
    """
    image = args["image"]
    queue, owner_id = get_queue(), current_owner_id()
    with caption_waiters().slot():  # before queueing: a refused request leaves no job
        job_id = quick_captions.enqueue(queue, owner_id, image.filename or "", image.stream, current_app.config)
        outcome = quick_captions.wait_for(queue, owner_id, job_id, current_app.config["API_CAPTION_TIMEOUT_S"])
    return _result_json(outcome)


@bp.route("/<job_id>", methods=["GET"])
@bp.keyed(403, 404, 422)
@require_key("read")
@bp.response(200, CaptionResultSchema, description="Done")
@bp.alt_response(202, schema=CaptionPendingSchema, description="Not captioned yet: ask again later",
                 success=True)
def caption_job(job_id):
    """Result of a caption job that timed out

    200 with the caption once done, 202 while it waits or runs, 404 for an unknown,
    expired or another user's job.
    """
    if not _JOB_ID.fullmatch(job_id):
        raise NotFound("No such caption job (results are kept for 10 minutes).")
    outcome = quick_captions.get(get_queue(), current_owner_id(), job_id)
    if outcome.status != "done":
        return {"job_id": outcome.job_id, "status": outcome.status}, 202
    return _result_json(outcome)
