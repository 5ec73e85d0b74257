"""Images for tests, made in memory (no fixture files), plus a few real Flickr8k photos."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

FLICKR8K = Path(__file__).resolve().parents[2] / "shared" / "flickr8k"


def gradient_image(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    """A picture whose orientation can be told apart: red grows left->right, green top->bottom."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    rgb = np.stack([x, y, np.full_like(x, 60)], -1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    return image if mode == "RGB" else image.convert(mode)


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def photo_bytes() -> bytes:
    """A real photo when the shared data set is beside the repo, else a synthetic one."""
    names = sorted(FLICKR8K.glob("Images/*.jpg"))[:1] if FLICKR8K.exists() else []
    return names[0].read_bytes() if names else encode(gradient_image(224, 224))


def with_exif_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)
