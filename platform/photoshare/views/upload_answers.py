"""The answers of the web upload (POST /upload, views.gallery.upload).

Two modes of the same service call (services.photos.add_photos):

- the HTML form: a redirect to the dashboard with flash messages, or the dashboard with
  the reasons when nothing was stored;
- JSON, when the request's Accept header prefers it (the dashboard's XHR uploads). The
  shape is agreed with the dashboard's script:

      {"photos":   [{"id", "filename", "url", "status_url", "thumbnail_url"}],
       "rejected": [{"filename", "code", "message"[, "existing_id" when code is "duplicate"]}],
       "queued":   true | false}

  201 when at least one photo was stored, else a 4xx with the same shape: 409 when every
  file was a duplicate, the refusals' common status when they share one, else 400.
  Errors of the whole request are `{"code", "message"}` (photoshare.errors).
"""

from __future__ import annotations

from flask import jsonify, url_for

from ..services.photos import DuplicatePhoto, UploadOutcome

TRUE_VALUES = frozenset({"1", "true", "on", "yes"})


def is_true(value: str | None) -> bool:
    """A checkbox or flag of a form (`keep_both=1`, or a checked box's "on")."""
    return (value or "").strip().lower() in TRUE_VALUES


def photo_entry(photo: dict) -> dict:
    photo_id = str(photo["_id"])
    return {
        "id": photo_id,
        "filename": photo.get("filename"),
        "url": url_for("gallery.photo", photo_id=photo_id),
        "status_url": url_for("gallery.photo_status", photo_id=photo_id),
        "thumbnail_url": url_for("gallery.photo_image", photo_id=photo_id, variant="thumbnail"),
    }


def rejected_entry(rejected) -> dict:
    entry = {"filename": rejected.filename, "code": rejected.code, "message": rejected.message}
    if isinstance(rejected, DuplicatePhoto):
        entry["existing_id"] = rejected.existing_id
    return entry


def refusal_status(outcome: UploadOutcome) -> int:
    """The status of an upload that stored nothing."""
    if outcome.rejected and all(isinstance(r, DuplicatePhoto) for r in outcome.rejected):
        return 409
    statuses = {rejected.http_status for rejected in outcome.rejected}
    return statuses.pop() if len(statuses) == 1 else 400


def json_answer(outcome: UploadOutcome):
    body = {
        "photos": [photo_entry(photo) for photo in outcome.photos],
        "rejected": [rejected_entry(rejected) for rejected in outcome.rejected],
        "queued": bool(outcome.photos) and outcome.queued,
    }
    response = jsonify(body)
    response.status_code = 201 if outcome.photos else refusal_status(outcome)
    response.cache_control.no_store = True
    return response
