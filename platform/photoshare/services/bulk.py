"""Bulk actions on the owner's photos (the dashboard's select mode): add to an album,
change the visibility, delete. Each is the single-photo service applied to every
selected photo, so the rules (ownership, valid values, quota release on delete) stay in
one place; the values are checked once before anything changes."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId
from pymongo.database import Database

from . import albums as album_service
from . import photos as photo_service
from .errors import NotFound, ValidationError, as_object_id
from .visibility import VISIBILITIES

ACTIONS = ("album", "visibility", "delete")
MAX_SELECTED = 100  # one dashboard page at most; bigger batches go through the API


@dataclass
class BulkResult:
    action: str
    changed: int
    skipped: int  # deleted meanwhile, not the owner's, or in too many albums: the rest still change


def _clean_ids(photo_ids) -> list[ObjectId]:
    ids = list(dict.fromkeys(photo_ids or []))  # each once, in order
    if not ids:
        raise ValidationError("Select at least one photo.", code="nothing_selected", field="photo_ids")
    if len(ids) > MAX_SELECTED:
        raise ValidationError(f"Select at most {MAX_SELECTED} photos at a time.", code="too_many_selected",
                              field="photo_ids")
    try:
        return [as_object_id(photo_id, "photo") for photo_id in ids]
    except NotFound:
        raise ValidationError("A selected photo id is not valid; reload the page and select again.",
                              code="invalid_photo_id", field="photo_ids") from None


def apply(db: Database, owner_id: ObjectId, action: str, photo_ids, *, album_id=None,
          visibility: str | None = None) -> BulkResult:
    if action not in ACTIONS:
        raise ValidationError("Choose what to do with the selected photos.", code="unknown_action", field="action")
    ids = _clean_ids(photo_ids)
    if action == "album":
        album_service.get_album(db, owner_id, album_id)  # a missing or foreign album: 404 before any change
    if action == "visibility" and visibility not in VISIBILITIES:
        raise ValidationError("Choose private, unlisted or public.", code="invalid_visibility", field="visibility")
    changed = skipped = 0
    for photo_id in ids:
        try:
            if action == "album":
                album_service.add_photo_to_album(db, owner_id, photo_id, album_id)
            elif action == "visibility":
                photo_service.update_photo(db, owner_id, photo_id, visibility=visibility, projection={"_id": 1})
            else:
                photo_service.delete_photo(db, owner_id, photo_id)
            changed += 1
        except (NotFound, ValidationError):
            skipped += 1
    return BulkResult(action=action, changed=changed, skipped=skipped)
