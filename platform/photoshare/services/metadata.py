"""Photo metadata: what the owner is told about it, and images that carry none of it.

- `exif_summary(data)`: camera, lens, date taken and whether a GPS position is present,
  read from the original at upload (headers only, no pixel decode) and kept on the
  photo. The owner sees it on the photo page; shared pages may show the camera and the
  date when the owner chooses; the position itself is never read, stored or shown.
- `save_clean(image, ...)`: encodes pixels and nothing else. Pillow copies an image's
  `info` (JPEG comment, and for some formats EXIF, ICC profile, PNG text) into what it
  saves; every image derived for others (display, thumbnail) and every original
  served through a share link goes through here, from a copy whose `info` is empty.
- `stripped_original(data)`: the original re-encoded that way, EXIF orientation
  applied (the download of a share link that allows it).
"""

from __future__ import annotations

import io
import logging
from datetime import datetime

from PIL import ExifTags, Image, ImageOps

log = logging.getLogger(__name__)

_IFD_EXIF, _IFD_GPS = ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo
_MAKE, _MODEL = ExifTags.Base.Make, ExifTags.Base.Model
_LENS_MAKE, _LENS_MODEL = ExifTags.Base.LensMake, ExifTags.Base.LensModel
_TAKEN = (ExifTags.Base.DateTimeOriginal, ExifTags.Base.DateTimeDigitized)
_DATE_TIME = ExifTags.Base.DateTime
MAX_TEXT = 80  # camera and lens names are short; anything longer is noise or abuse

# Formats re-encoded for a download: (Pillow format, MIME type, save options).
_REENCODE = {
    "JPEG": ("JPEG", "image/jpeg", {"quality": 95}),
    "MPO": ("JPEG", "image/jpeg", {"quality": 95}),
    "PNG": ("PNG", "image/png", {}),
    "WEBP": ("WEBP", "image/webp", {"quality": 95}),
    "GIF": ("PNG", "image/png", {}),  # the first frame, losslessly
    # HEIC: browsers other than Safari cannot show it, so a download is a JPEG.
    "HEIF": ("JPEG", "image/jpeg", {"quality": 95}),
}


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = " ".join(value.replace("\x00", " ").split())
    return value[:MAX_TEXT] or None


def _taken_at(value) -> str | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" as ISO 8601 (no time zone: EXIF has none), else None."""
    text = _text(value)
    try:
        return datetime.strptime(text or "", "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def exif_summary(data: bytes) -> dict:
    """{camera, lens, taken_at, has_gps} of an image file; empty values when it has no
    EXIF or an unreadable one (never an error: this is a courtesy to the owner)."""
    summary = {"camera": None, "lens": None, "taken_at": None, "has_gps": False}
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            details = exif.get_ifd(_IFD_EXIF)
            make, model = _text(exif.get(_MAKE)), _text(exif.get(_MODEL))
            # Many models repeat the make ("Canon" + "Canon EOS 5D"): say it once.
            camera = model if make and model and model.lower().startswith(make.lower()) else \
                " ".join(part for part in (make, model) if part)
            lens = " ".join(part for part in (_text(details.get(_LENS_MAKE)), _text(details.get(_LENS_MODEL)))
                            if part)
            taken = next((_taken_at(details.get(tag)) for tag in _TAKEN if details.get(tag)), None)
            summary.update(camera=camera[:MAX_TEXT] or None, lens=lens[:MAX_TEXT] or None,
                           taken_at=taken or _taken_at(exif.get(_DATE_TIME)),
                           has_gps=bool(exif.get_ifd(_IFD_GPS)) or _IFD_GPS in exif)
    except Exception as error:  # Pillow raises many types on odd metadata
        log.info("EXIF not readable: %s: %s", type(error).__name__, error)
    return summary


def without_metadata(image: Image.Image) -> Image.Image:
    """A copy of the pixels with an empty `info` (nothing for Pillow to carry over)."""
    clean = image.copy()
    clean.info = {}
    return clean


def save_clean(image: Image.Image, fmt: str, **options) -> bytes:
    """Encode `image` as `fmt` with no metadata at all (no EXIF, XMP, IPTC, ICC profile,
    comment or text chunk): only the options given here reach the encoder."""
    buffer = io.BytesIO()
    without_metadata(image).save(buffer, fmt, **options)
    return buffer.getvalue()


def stripped_original(data: bytes) -> tuple[bytes, str]:
    """(bytes, MIME type) of the original re-encoded upright and without metadata, in its
    own format (a GIF as a PNG of its first frame). The pixels stay full size."""
    with Image.open(io.BytesIO(data)) as image:
        fmt, mime_type, options = _REENCODE.get(image.format, ("PNG", "image/png", {}))
        image.seek(0)
        upright = ImageOps.exif_transpose(image)
        if upright.mode == "P" and "transparency" in upright.info:
            upright = upright.convert("RGBA")  # transparency lives in `info`, which goes
        if fmt == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        elif fmt == "PNG" and upright.mode == "CMYK":
            upright = upright.convert("RGB")
        return save_clean(upright, fmt, **options), mime_type
