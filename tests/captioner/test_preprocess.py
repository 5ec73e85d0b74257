"""Training and serving share one preprocessing path; odd modes and EXIF orientations."""
import io

import numpy as np
import pytest
from PIL import Image

from captioner import preprocess
from tests.images import encode, gradient_image, with_exif_orientation


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "1", "I;16", "I", "F", "PA"])
def test_any_mode_becomes_rgb_224(mode):
    if mode == "PA":
        image = gradient_image().convert("P").convert("PA")
    else:
        image = gradient_image().convert(mode)
    array = preprocess.resize_for_encoder(preprocess.upright_rgb(image))
    assert array.shape == (224, 224, 3)
    assert array.dtype == np.float32
    assert 0 <= array.min() and array.max() <= 255
    assert array.std() > 1  # not flattened to a constant by the conversion


def test_sixteen_bit_grayscale_keeps_its_range():
    ramp = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    image = Image.new("I;16", (64, 32))
    image.frombytes(ramp.astype("<u2").tobytes())
    rgb = np.asarray(preprocess.upright_rgb(image))
    assert rgb[..., 0].min() <= 1 and rgb[..., 0].max() >= 254  # not clipped to white


def test_transparent_pixels_become_white_not_black():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert np.asarray(preprocess.upright_rgb(image)).min() == 255
    palette = Image.new("P", (10, 10), 0)
    palette.info["transparency"] = 0
    assert np.asarray(preprocess.upright_rgb(palette)).min() == 255


def test_png_with_alpha_from_bytes():
    data = encode(gradient_image().convert("RGBA"), "PNG")
    assert preprocess.upright_rgb(data).mode == "RGB"


# Orientation -> the transform that shows the stored pixels upright (EXIF 2.3 table).
ORIENTATIONS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(orientation):
    upright = gradient_image(64, 48)
    # Store the pixels as a camera would: the inverse of the transform, tagged with the orientation.
    inverse = {Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
               Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270}
    transform = ORIENTATIONS[orientation]
    stored = upright if transform is None else upright.transpose(inverse.get(transform, transform))
    result = preprocess.upright_rgb(with_exif_orientation(stored, orientation))
    assert result.size == (64, 48)
    got = np.asarray(result, dtype=np.float32)
    want = np.asarray(upright, dtype=np.float32)
    assert np.abs(got - want).mean() < 8  # JPEG noise only


def test_animated_gif_uses_first_frame():
    red = Image.new("RGB", (20, 20), (255, 0, 0))
    blue = Image.new("RGB", (20, 20), (0, 0, 255))
    buffer = io.BytesIO()
    red.save(buffer, "GIF", save_all=True, append_images=[blue])
    rgb = np.asarray(preprocess.upright_rgb(buffer.getvalue()))
    assert rgb[..., 0].mean() > 200 and rgb[..., 2].mean() < 50


@pytest.mark.parametrize("data", [b"", b"not an image", encode(gradient_image())[:200]])
def test_undecodable_input_raises_image_decode_error(data):
    with pytest.raises(preprocess.ImageDecodeError):
        preprocess.encoder_input(data)


def test_decompression_bomb_is_refused():
    # A tiny PNG that declares a huge canvas: refused from the header, before decoding.
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    with pytest.raises(preprocess.ImageDecodeError):
        preprocess.upright_rgb(png)


def test_serving_matches_training_on_a_dataset_sized_image():
    """A 224x224 photo (the stored Flickr8k size) is not resampled: bytes in, same pixels out."""
    image = gradient_image(224, 224)
    from keras.applications import vgg16

    expected = vgg16.preprocess_input(np.asarray(image, dtype=np.float32))
    np.testing.assert_array_equal(preprocess.encoder_input(image), expected)
