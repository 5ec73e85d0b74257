"""Worker job of `POST /api/v1/captions`: caption raw image bytes without storing them.

Runs only in the captioning worker (enqueued by import path from
photoshare.services.quick_captions), with the process-wide Captioner of
photoshare.jobs: the same model, loaded once, as photo jobs.
"""

from __future__ import annotations

import logging
import time

from .jobs import get_captioner, refusal_reason, result_fields

log = logging.getLogger("photoshare.worker")


def caption_image(image_bytes: bytes) -> dict:
    """RQ job: caption one image. Returns {"outcome": "done", caption, alternatives,
    model_version} or {"outcome": "failed", reason} when the model cannot read it."""
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
