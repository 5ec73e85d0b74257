"""The one mapper from a stored photo document to what people and clients see.

- `owner_view`: everything the owner may see (JSON-ready: ids as strings, ISO dates),
  used by the API and the dashboard's status poll (`status_view` is its subset).
- `public_view`: what anyone else may see of a shared photo. It is built from an
  allow-list, never by removing keys from the owner's view, so a field added to photo
  documents later can never leak through it (immich's mapAsset with stripMetadata).

Attention maps are not part of either view: the photo page reads them itself.
"""

from __future__ import annotations

from ..repositories.photos import IN_PROGRESS
from .visibility import visibility_of

# Keys of owner_view that the dashboard's live status poll needs.
STATUS_KEYS = ("id", "caption_status", "caption", "ai_caption", "user_caption", "caption_error", "model_version")


def display_caption(photo: dict) -> str:
    """The caption shown to people (and used as alt text): the user's own, else the AI's."""
    return photo.get("user_caption") or photo.get("ai_caption") or ""


def captioning(photo: dict) -> bool:
    """Whether a caption is still on its way."""
    return photo.get("caption_status") in IN_PROGRESS


def upright_size(photo: dict) -> tuple[int | None, int | None]:
    """(width, height) of the photo as displayed, i.e. after EXIF orientation.

    The stored width/height are the original's pixel grid; the derived display image is
    upright, so its aspect ratio tells whether the original was turned by 90°.
    """
    width, height = photo.get("width"), photo.get("height")
    display = photo.get("display_size") or []
    if not (width and height) or len(display) != 2 or not all(display):
        return width, height
    dw, dh = display
    same = abs(dw * height - dh * width)
    turned = abs(dw * width - dh * height)
    return (height, width) if turned < same else (width, height)


def _iso(value):
    return value.isoformat() if value else None


def owner_view(photo: dict) -> dict:
    """The owner's view of a photo (what the API returns, before its links)."""
    width, height = upright_size(photo)
    return {
        "id": str(photo["_id"]),
        "filename": photo.get("filename"),
        "format": photo.get("format"),
        "width": width,
        "height": height,
        "size_bytes": photo.get("size_bytes"),
        "created_at": _iso(photo.get("created_at")),
        "album_ids": [str(album_id) for album_id in photo.get("album_ids") or []],
        "visibility": visibility_of(photo),
        "caption": display_caption(photo) or None,
        "ai_caption": photo.get("ai_caption"),
        "user_caption": photo.get("user_caption"),
        "caption_status": photo.get("caption_status"),
        "caption_error": photo.get("caption_error"),
        "model_version": photo.get("model_version"),
        "alternatives": photo.get("alternatives") or [],
        "exif": exif_of(photo),
        "show_camera": bool(photo.get("show_camera")),
        "show_date_taken": bool(photo.get("show_date_taken")),
    }


EXIF_KEYS = ("camera", "lens", "taken_at", "has_gps")


def exif_of(photo: dict) -> dict:
    """The owner's EXIF summary (services.metadata): camera, lens, date taken, has_gps."""
    exif = photo.get("exif") or {}
    return {key: exif.get(key) if key != "has_gps" else bool(exif.get(key)) for key in EXIF_KEYS}


def status_view(photo: dict) -> dict:
    """What the dashboard polls while a caption is on its way."""
    view = owner_view(photo)
    return {key: view[key] for key in STATUS_KEYS}


# Shown when the owner gave no name; the e-mail address is never a fallback.
ANONYMOUS_OWNER = "a Photoshare member"


def public_view(photo: dict, owner_name: str | None) -> dict:
    """What anyone else sees: caption, owner's name, date and display size, and the camera
    and date taken only if the owner chose to show them. Never the file name, the
    original's size, the e-mail, the albums, the GPS position or any other metadata."""
    display_size = photo.get("display_size") or []
    exif = photo.get("exif") or {}
    return {
        "id": str(photo["_id"]),
        "caption": display_caption(photo),
        "owner_name": owner_name or ANONYMOUS_OWNER,
        "created_at": photo.get("created_at"),
        "display_size": tuple(display_size) if len(display_size) == 2 else None,
        "camera": exif.get("camera") if photo.get("show_camera") else None,
        "taken_at": exif.get("taken_at") if photo.get("show_date_taken") else None,
    }
