"""HEIC/HEIF photos (what iPhones write) through the website and the API: recognised by
content, stored as the original plus upright JPEG derivatives, camera metadata read for
the owner, and shared as pixels only (a download is an upright JPEG without metadata)."""

from __future__ import annotations

import io

from PIL import Image

from photoshare.services import images  # registers the HEIF opener (the files below are saved as HEIF)
from tests.support.sharing import make_link, upload_captioned
from tests.web.test_metadata import assert_only_pixels


def iphone_photo(orientation: int = 6) -> bytes:
    """A 80x40 HEIC tagged like a phone held upright, with camera and GPS metadata."""
    image = Image.new("RGB", (80, 40), (20, 60, 220))
    image.paste((240, 20, 20), (0, 0, 20, 20))  # a red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 15 Pro"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0)}  # a GPS position
    buffer = io.BytesIO()
    image.save(buffer, "HEIF", exif=exif.tobytes(), quality=90)
    return buffer.getvalue()


def test_heic_is_recognised_by_its_content_not_its_name():
    data = iphone_photo()
    assert data[4:8] == b"ftyp" and images.is_heif(data) and images.heif_mime_type(data) == "image/heic"
    assert not images.is_heif(b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmiaf")  # AVIF is not HEIC
    assert not images.is_heif(b"ftypheic" + b"\x00" * 20)  # no box size first: not ISO BMFF


def test_an_iphone_photo_is_stored_upright_with_its_camera(user, db):
    photo = upload_captioned(user, db, "a red corner", name="IMG_0042.HEIC", content=iphone_photo())
    assert photo["format"] == "HEIF" and photo["mime_type"] == "image/heic"
    assert photo["display_size"] == [40, 80]  # turned by the orientation: upright
    assert photo["exif"]["camera"] == "Apple iPhone 15 Pro" and photo["exif"]["has_gps"] is True
    display = user.client.get(f"/photos/{photo['_id']}/image/display")
    assert display.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(display.data)) as image:
        # Orientation 6 turns the stored picture a quarter clockwise: its red corner ends top right.
        assert image.size == (40, 80) and image.getpixel((36, 3))[0] > 180 and image.getpixel((3, 3))[0] < 80
    assert_only_pixels(display.data)
    # The owner gets the original as uploaded.
    original = user.client.get(f"/photos/{photo['_id']}/image/original")
    assert original.mimetype == "image/heic" and original.data == iphone_photo()


def test_a_shared_heic_downloads_as_an_upright_jpeg_without_metadata(user, app, db):
    photo = upload_captioned(user, db, "a red corner", name="IMG_0043.HEIC", content=iphone_photo())
    _, token = make_link(user, photo_id=photo["_id"], allow_download="y")
    download = app.test_client().get(f"/s/{token}/original")
    assert download.status_code == 200 and download.mimetype == "image/jpeg"
    assert download.headers["Content-Disposition"] == 'attachment; filename="photo.jpg"'
    with Image.open(io.BytesIO(download.data)) as image:
        assert image.format == "JPEG" and image.size == (40, 80)
    assert_only_pixels(download.data)


def test_the_api_accepts_heic(api, db):
    response = api.upload(iphone_photo(), "IMG_0044.HEIC")
    assert response.status_code == 202
    body = response.get_json()
    assert body["width"] == 40 and body["height"] == 80  # upright
    assert db.photos.find_one()["mime_type"] == "image/heic"
