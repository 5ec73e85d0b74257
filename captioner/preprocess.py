"""Image preprocessing shared by feature extraction (training) and serving.

Both paths go through `encoder_input`, so a photo uploaded to the product reaches VGG16
exactly as a Flickr8k training photo did: EXIF orientation applied, converted to RGB,
resized to 224x224 (aspect not kept, as in the stored Flickr8k copies), then
`keras.applications.vgg16.preprocess_input` (RGB->BGR, ImageNet mean subtracted).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

INPUT_SIZE = (224, 224)
# Decompression-bomb guard for the captioner's own inputs (the web layer has its own limit).
MAX_PIXELS = 60_000_000

ImageSource = Union[bytes, bytearray, str, Path, Image.Image]


class ImageDecodeError(ValueError):
    """The input could not be decoded as an image."""


def open_image(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    try:
        if isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(bytes(source)))
        else:
            image = Image.open(source)
        if image.width * image.height > MAX_PIXELS:
            raise ImageDecodeError(f"image has {image.width * image.height} pixels, limit {MAX_PIXELS}")
        image.seek(0)  # animated GIF/WebP: the first frame
        image.load()
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"cannot decode image: {exc}") from exc
    return image


def _sixteen_bit_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if values.max() > 255 else 255.0
    gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent pixels are composited onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _sixteen_bit_to_rgb(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def upright_rgb(source: ImageSource) -> Image.Image:
    """Decode, apply EXIF orientation, convert to RGB."""
    image = open_image(source)
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        pass  # a broken EXIF block should not lose the photo: keep the stored orientation
    return to_rgb(image)


def resize_for_encoder(image: Image.Image) -> np.ndarray:
    if image.size != INPUT_SIZE:
        image = image.resize(INPUT_SIZE, Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def encoder_input(source: ImageSource) -> np.ndarray:
    """One image as a (224, 224, 3) float32 array ready for VGG16."""
    from keras.applications import vgg16

    return vgg16.preprocess_input(resize_for_encoder(upright_rgb(source)))
