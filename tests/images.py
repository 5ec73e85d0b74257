"""Images for tests, made in memory (no fixture files), plus a few real Flickr8k photos.
Shared by the captioner and the platform tests."""
from __future__ import annotations

import io
import struct
import zlib
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


def make_image(fmt: str = "JPEG", size=(64, 48), color=(200, 40, 40), mode: str = "RGB", **params) -> bytes:
    """A plain image of one colour, encoded as `fmt` (in `mode`)."""
    image = Image.new("RGB", size, color)
    return encode(image if mode == "RGB" else image.convert(mode), fmt, **params)


def jpeg_with_orientation(size=(60, 30), orientation: int = 6) -> bytes:
    """A landscape JPEG tagged "rotate 90° on display" (like a phone held upright)."""
    return with_exif_orientation(Image.new("RGB", size, (10, 120, 200)), orientation)


def animated_gif(frames=((255, 0, 0), (0, 255, 0), (0, 0, 255)), size=(32, 32)) -> bytes:
    images = [Image.new("RGB", size, color) for color in frames]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def png_with_alpha(size=(40, 40)) -> bytes:
    return encode(Image.new("RGBA", size, (0, 0, 0, 0)), "PNG")


def png_declaring_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * min(height, 16))  # far fewer rows than declared
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
