"""Who may see a photo or an album:

    private   the default: only the owner (share links to it do not work)
    unlisted  anyone with one of its share links (services.shares), nobody else
    public    as unlisted, and listed on the owner's profile /u/<handle> and, for
              photos, on /explore (services.discovery)

Photos and albums stored before visibility existed have no field and count as private."""

from __future__ import annotations

from .errors import ValidationError

PRIVATE, UNLISTED, PUBLIC = "private", "unlisted", "public"
VISIBILITIES = (PRIVATE, UNLISTED, PUBLIC)
# Visibilities under which a share link works.
LINKABLE = (UNLISTED, PUBLIC)
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
