"""Images for the platform tests, made in memory."""

from __future__ import annotations

import io

from PIL import Image


def make_image(fmt: str = "JPEG", size=(64, 48), color=(200, 40, 40), mode: str = "RGB", **params) -> bytes:
    image = Image.new(mode, size, color if mode == "RGB" else None)
    if mode != "RGB":
        image = Image.new("RGB", size, color).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def jpeg_with_orientation(size=(60, 30), orientation: int = 6) -> bytes:
    """A landscape JPEG tagged "rotate 90° on display" (like a phone held upright)."""
    image = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def animated_gif(frames=((255, 0, 0), (0, 255, 0), (0, 0, 255)), size=(32, 32)) -> bytes:
    images = [Image.new("RGB", size, color) for color in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def png_with_alpha(size=(40, 40)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_declaring_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * min(height, 16))  # far fewer rows than declared
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
