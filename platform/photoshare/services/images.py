"""Decoding and deriving uploaded images with Pillow (no database access here).

The type of an upload is decided by decoding its content, never by its name or the
MIME type the client sent. Pixel count is checked from the header before any pixel is
decoded, which is what stops decompression bombs. HEIC/HEIF (iPhone photos) is read
through pillow-heif's Pillow opener, registered once below; it is recognised by its
`ftyp` box, like Pillow recognises the other formats by their magic bytes.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import BinaryIO

import pillow_heif
from PIL import Image, ImageOps

from .errors import UploadRejected
from .metadata import save_clean

log = logging.getLogger(__name__)

# Once per process, before any image is opened: Image.open then recognises HEIF files by
# content. No embedded thumbnails (never used: we derive our own from the pixels).
pillow_heif.register_heif_opener(thumbnails=False)

# Pillow format name -> MIME type of the formats we accept ("HEIF": see heif_mime_type).
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                    "HEIF": "image/heif"}
ACCEPTED_NAMES = "JPEG, PNG, WebP, GIF and HEIC"
# ISO base media file brands (the `ftyp` box) of HEVC-coded HEIF images ("HEIC") and of
# HEIF images in general. AVIF ("avif") is HEIF too but not accepted here.
HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
HEIF_BRANDS = HEIC_BRANDS | {b"mif1", b"msf1"}
# Many phone cameras write JPEGs with extra preview frames (Multi-Picture Format); Pillow
# reports them as "MPO". They are JPEG files, and the first frame is the photo.
FORMAT_ALIASES = {"MPO": "JPEG"}
DERIVED_MIME_TYPE = "image/jpeg"


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    thumbnail_size: int = 400
    display_size: int = 1600

    @classmethod
    def from_settings(cls, settings) -> "ImageLimits":
        return cls(
            max_bytes=settings["MAX_UPLOAD_MB"] * 1024 * 1024,
            max_pixels=settings["MAX_IMAGE_PIXELS"],
            thumbnail_size=settings["THUMBNAIL_SIZE"],
            display_size=settings["DISPLAY_SIZE"],
        )


@dataclass
class DerivedImage:
    data: bytes
    width: int
    height: int
    mime_type: str = DERIVED_MIME_TYPE


@dataclass
class ProcessedUpload:
    format: str          # "JPEG", "PNG", "WEBP", "GIF" or "HEIF"
    mime_type: str       # of the original
    width: int           # of the original, as stored (before EXIF orientation)
    height: int
    original: bytes
    display: DerivedImage
    thumbnail: DerivedImage


def heif_brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO BMFF file's leading `ftyp` box (empty
    when `data` does not start with one)."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return set()
    box_size = min(int.from_bytes(data[0:4], "big"), len(data), 4096)
    brands = {data[8:12]}
    brands.update(data[offset:offset + 4] for offset in range(16, box_size - 3, 4))
    return brands


def is_heif(data: bytes) -> bool:
    """Whether `data` is a HEIF image by its content (a brand of HEIF_BRANDS)."""
    return bool(heif_brands(data) & HEIF_BRANDS)


def heif_mime_type(data: bytes) -> str:
    """image/heic for HEVC-coded HEIF (what iPhones write), else image/heif."""
    return "image/heic" if heif_brands(data) & HEIC_BRANDS else "image/heif"


def _mb(num_bytes: int) -> str:
    return f"{num_bytes / (1024 * 1024):.0f} MB"


def read_limited(stream: BinaryIO, max_bytes: int, filename: str = "") -> bytes:
    """Read an upload, refusing it as soon as it exceeds `max_bytes`."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRejected(
            f"{filename or 'The file'} is larger than the {_mb(max_bytes)} limit.",
            code="too_large", filename=filename, http_status=413,
        )
    if not data:
        raise UploadRejected(f"{filename or 'The file'} is empty.", code="empty", filename=filename)
    return data


def _flatten(image: Image.Image) -> Image.Image:
    """RGB version of `image` (itself when it already is); transparency is composed over white."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit greyscale: Pillow's conversion would clip every value above 255 (a
        # white picture); scale to 8 bits instead.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is `max_side` (never enlarged)."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """`image` shrunk in place to fit `max_side` (Pillow's thumbnail: Lanczos after a cheap
    integer reduce while the scale allows it), and returned."""
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # never enlarges
    return image


def _encoded(image: Image.Image, quality: int) -> DerivedImage:
    # Pixels only: Pillow would carry the source's JPEG comment (and more) into the copy,
    # and derived images are what other people see (services.metadata).
    return DerivedImage(save_clean(image, "JPEG", quality=quality), image.width, image.height)


def accept_upload(stream: BinaryIO, limits: ImageLimits, filename: str = "") -> ProcessedUpload:
    """Read an uploaded file within the size limit, then decode, check and derive it: the
    one way an upload is accepted (photo uploads and the API's caption-only requests)."""
    return process_image(read_limited(stream, limits.max_bytes, filename), limits, filename)


def process_image(data: bytes, limits: ImageLimits, filename: str = "") -> ProcessedUpload:
    """Decode `data` (already read within the size limit by read_limited), check it
    against `limits` and derive the display and thumbnail images.

    Raises UploadRejected with a message meant for the user.
    """
    label = filename or "The file"
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            image_format = FORMAT_ALIASES.get(image.format, image.format)
            if image_format not in ACCEPTED_FORMATS:
                raise UploadRejected(
                    f"{label} is a {image.format} image; accepted formats are {ACCEPTED_NAMES}.",
                    code="unsupported_format", filename=filename, http_status=415,
                )
            width, height = image.size
            if width < 1 or height < 1:
                raise UploadRejected(f"{label} has no pixels.", code="not_an_image", filename=filename)
            if width * height > limits.max_pixels:
                raise UploadRejected(
                    f"{label} is {width}×{height} pixels; the limit is "
                    f"{limits.max_pixels / 1e6:.0f} megapixels.",
                    code="too_many_pixels", filename=filename, http_status=413,
                )
            if image_format == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale for free: ask for the smallest
                # that still covers the display size of this photo's own shape (a square
                # box would keep a 4032x3024 photo at full scale: 3024 < 2 x 1600).
                image.draft("RGB", fitted_size(width, height, limits.display_size))
            image.seek(0)  # animated GIF/WebP/PNG: the first frame
            image.load()   # full decode: truncated or corrupt data fails here
            # Camera photos are often stored sideways with an EXIF orientation tag:
            # derived images are turned upright (in place: no copy of an upright photo).
            # (pillow-heif applies a HEIF's own rotation while decoding and resets the
            # EXIF tag it copies, so a HEIC photo is not turned twice.)
            ImageOps.exif_transpose(image, in_place=True)
            # Each step below works on the smallest image it can: the display image from
            # the decoded one, the thumbnail from the display image, without copies.
            display_image = _shrink(_flatten(image), limits.display_size)
            display = _encoded(display_image, quality=85)
            thumbnail = _encoded(_shrink(display_image, limits.thumbnail_size), quality=80)
    except UploadRejected:
        raise
    except Image.DecompressionBombError:
        # Pillow's own guard fired first (far beyond our limit).
        raise UploadRejected(
            f"{label} has too many pixels; the limit is {limits.max_pixels / 1e6:.0f} megapixels.",
            code="too_many_pixels", filename=filename, http_status=413) from None
    except Exception as error:
        # Pillow signals corrupt input through a wide range of exception types
        # (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error,
        # KeyError, MemoryError...): whatever the decoder raised, the file is refused.
        log.info("upload %r refused: %s: %s", filename, type(error).__name__, error)
        if "MAX_TEXT" in str(error) or "text chunks" in str(error):
            # Pillow's limits on PNG text (a zTXt/iTXt chunk inflating to gigabytes).
            raise UploadRejected(f"{label} carries more text metadata than we accept.",
                                 code="metadata_too_large", filename=filename) from None
        if is_heif(data):
            raise UploadRejected(f"{label} is a HEIC/HEIF file that could not be decoded (damaged or an "
                                 "unsupported variant).", code="not_an_image", filename=filename) from None
        raise UploadRejected(
            f"{label} is not an image we can read (accepted: {ACCEPTED_NAMES}).",
            code="not_an_image", filename=filename,
        ) from None

    mime_type = heif_mime_type(data) if image_format == "HEIF" else ACCEPTED_FORMATS[image_format]
    return ProcessedUpload(
        format=image_format, mime_type=mime_type, width=width, height=height,
        original=data, display=display, thumbnail=thumbnail,
    )
