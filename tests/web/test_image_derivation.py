"""Cheap derivation of the display image and the thumbnail (services.images.process_image):
a big JPEG is decoded only at the scale the display image needs, the thumbnail comes from
the display image, and the result looks the same as a fair Lanczos resize of the full photo."""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
from PIL import Image, ImageOps, JpegImagePlugin

from photoshare.services.errors import UploadRejected
from photoshare.services.images import ImageLimits, fitted_size, process_image
from tests.images import encode, gradient_image, png_with_alpha, with_exif_orientation

LIMITS = ImageLimits(max_bytes=50 * 2**20, max_pixels=50_000_000, thumbnail_size=400, display_size=1600)


@functools.lru_cache(maxsize=4)
def _camera_jpeg(width: int = 3264, height: int = 2448) -> bytes:
    return encode(_camera_photo(width, height), "JPEG", quality=92)


def _camera_photo(width: int, height: int) -> Image.Image:
    """A photo-like picture: smooth gradients plus fine detail that a bad resize would alias."""
    base = np.asarray(gradient_image(width, height), dtype=np.float32)
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    detail = 40 * np.sin(cols / 7.0) * np.cos(rows / 11.0)
    return Image.fromarray(np.clip(base + detail[..., None], 0, 255).astype(np.uint8), "RGB")


def _fair_resize(data: bytes, max_side: int) -> Image.Image:
    """The reference: the whole photo decoded at full scale, upright, Lanczos-resized."""
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=None)
    return upright


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def _mean_difference(derived: bytes, reference: Image.Image) -> float:
    got = _pixels(derived)
    assert got.shape[:2] == (reference.height, reference.width)
    return float(np.abs(got - np.asarray(reference, dtype=np.float32)).mean())


@pytest.fixture
def decoded_sizes(monkeypatch):
    """The size at which each JPEG is actually decoded (observed, not changed)."""
    sizes = []
    load = JpegImagePlugin.JpegImageFile.load

    def observed_load(self):
        result = load(self)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", observed_load)
    return sizes


def test_a_big_jpeg_is_decoded_at_the_scale_the_display_image_needs(decoded_sizes):
    processed = process_image(_camera_jpeg(), LIMITS)
    # 3264x2448 at 1/2 scale still covers 1600x1200; full scale would be 4x the pixels.
    assert decoded_sizes[0] == (1632, 1224)
    assert (processed.width, processed.height) == (3264, 2448)  # of the original
    assert (processed.display.width, processed.display.height) == (1600, 1200)
    assert (processed.thumbnail.width, processed.thumbnail.height) == (400, 300)


@pytest.mark.parametrize("size", [(3264, 2448), (2448, 3264), (4800, 800)])
def test_derived_images_look_like_a_fair_resize_of_the_full_photo(size):
    data = _camera_jpeg(*size)
    processed = process_image(data, LIMITS)
    # Mean error in levels of 255. Measured: display 1.1-1.3, thumbnail 2.4-3.6, as with the
    # full decode and copies this replaced (the thumbnail's share is JPEG quality 80 and
    # Pillow's integer reduce before Lanczos, both unchanged); a wrong scale, orientation
    # or shape would cost tens.
    assert _mean_difference(processed.display.data, _fair_resize(data, 1600)) < 2.0
    assert _mean_difference(processed.thumbnail.data, _fair_resize(data, 400)) < 5.0


def test_sideways_camera_photos_are_derived_upright():
    data = with_exif_orientation(_camera_photo(2400, 1800), orientation=6)
    processed = process_image(data, LIMITS)
    assert (processed.width, processed.height) == (2400, 1800)  # as stored
    assert (processed.display.width, processed.display.height) == (1200, 1600)
    assert (processed.thumbnail.width, processed.thumbnail.height) == (300, 400)
    assert _mean_difference(processed.thumbnail.data, _fair_resize(data, 400)) < 5.0


def test_small_images_are_never_enlarged():
    processed = process_image(encode(gradient_image(300, 200), "PNG"), LIMITS)
    assert (processed.display.width, processed.display.height) == (300, 200)
    assert (processed.thumbnail.width, processed.thumbnail.height) == (300, 200)


def test_extreme_shapes_keep_at_least_one_pixel():
    processed = process_image(encode(gradient_image(3200, 2), "PNG"), LIMITS)
    assert (processed.display.width, processed.display.height) == (1600, 1)
    assert (processed.thumbnail.width, processed.thumbnail.height) == (400, 1)


def test_transparency_is_flattened_on_white_in_both_images():
    processed = process_image(png_with_alpha((800, 800)), LIMITS)
    for derived in (processed.display, processed.thumbnail):
        assert _pixels(derived.data).min() > 250


def test_a_truncated_big_jpeg_is_refused_not_a_crash():
    data = _camera_jpeg()
    with pytest.raises(UploadRejected, match="not an image we can read"):
        process_image(data[: len(data) // 2], LIMITS)


@pytest.mark.parametrize("size, expected", [((4032, 3024), (1600, 1200)), ((3024, 4032), (1200, 1600)),
                                            ((100, 50), (100, 50)), ((5000, 3), (1600, 1))])
def test_fitted_size(size, expected):
    assert fitted_size(*size, 1600) == expected
