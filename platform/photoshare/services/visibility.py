"""Who may see a photo: "private" (the default: only the owner) or "public" (anyone with
its share link, services.sharing). Photos stored before visibility existed have no field
and count as private."""

from __future__ import annotations

from .errors import ValidationError

PRIVATE, PUBLIC = "private", "public"
VISIBILITIES = (PRIVATE, PUBLIC)
DEFAULT_VISIBILITY = PRIVATE


def visibility_of(photo: dict) -> str:
    return photo.get("visibility") or DEFAULT_VISIBILITY


def clean_visibility(value: str | None) -> str:
    if value not in VISIBILITIES:
        raise ValidationError(f"Visibility must be one of: {', '.join(VISIBILITIES)}.", field="visibility")
    return value


def visibility_filter(value: str) -> dict:
    """Query fragment selecting photos of one visibility (missing counts as private)."""
    value = clean_visibility(value)
    if value == DEFAULT_VISIBILITY:
        return {"visibility": {"$in": [None, value]}}
    return {"visibility": value}
