"""Metadata privacy: nothing but pixels reaches anyone but the owner.

Uploads carry EXIF (camera, date, GPS), XMP, an ICC profile, a JPEG comment or PNG text
chunks; every image served to someone else (share link display and thumbnail, public
pages, the allow_download original) is read back with Pillow and must have none of it.
The owner's photo page tells what the original holds (camera, lens, date, whether GPS).
"""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from tests.images import gradient_image
from tests.support.sharing import make_link, set_visibility, text, upload_captioned

SECRETS = (b"secret comment", b"secret-xmp", b"secret text chunk", b"Secret Camera", b"Secret Lens")


def jpeg_with_everything(orientation: int = 1) -> bytes:
    """A JPEG with EXIF (camera, lens, date taken, GPS position, orientation), XMP, an ICC
    profile and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Secret Camera"
    exif[ExifTags.Base.Model] = "Model 7"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif).update({ExifTags.Base.DateTimeOriginal: "2024:07:14 18:30:05",
                                            ExifTags.Base.LensModel: "Secret Lens 35mm"})
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (48.0, 51.0, 29.9), 3: "E", 4: (2.0, 17.0, 40.2)}
    buffer = io.BytesIO()
    gradient_image(80, 40).save(buffer, "JPEG", exif=exif.tobytes(), comment=b"secret comment",
                                xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>", icc_profile=b"secret icc" * 20)
    return buffer.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret text chunk")
    info.add_itxt("Description", "secret text chunk", lang="en")
    buffer = io.BytesIO()
    gradient_image(60, 30).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def assert_only_pixels(data: bytes) -> None:
    """Read back with Pillow: no EXIF, XMP, ICC profile, comment or text, and none of the
    secret strings anywhere in the bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert dict(image.getexif()) == {}
        leaked = {key for key in image.info if key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile",
                                                        "comment", "Comment", "Description", "photoshop")}
        assert leaked == set(), image.info
        assert getattr(image, "text", {}) == {}
    for secret in SECRETS:
        assert secret not in data, secret


def test_the_fixture_images_do_carry_the_metadata():
    # Otherwise the tests below would pass without proving anything.
    with Image.open(io.BytesIO(jpeg_with_everything())) as image:
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) and image.info["comment"] == b"secret comment"
        assert "icc_profile" in image.info
    with pytest.raises(AssertionError):
        assert_only_pixels(jpeg_with_everything())
    with pytest.raises(AssertionError):
        assert_only_pixels(png_with_text())


@pytest.mark.parametrize("name, content", [("gps.jpg", jpeg_with_everything()), ("text.png", png_with_text())])
def test_images_served_to_others_carry_no_metadata(user, app, db, name, content):
    photo = upload_captioned(user, db, "a dog on the grass", name=name, content=content)
    _, token = make_link(user, photo_id=photo["_id"], allow_download="y")
    visitor = app.test_client()
    served = [visitor.get(f"/s/{token}/image/display"), visitor.get(f"/s/{token}/image/thumbnail"),
              visitor.get(f"/s/{token}/original")]
    assert set_visibility(user, photo["_id"], "public").status_code == 303
    served += [visitor.get(f"/p/{photo['_id']}/image/display"), visitor.get(f"/p/{photo['_id']}/image/thumbnail")]
    for response in served:
        assert response.status_code == 200, response.request.path
        assert_only_pixels(response.data)
    download = served[2]
    assert download.headers["Content-Disposition"] == f'attachment; filename="photo.{name.rsplit(".")[1]}"'
    with Image.open(io.BytesIO(download.data)) as image:
        assert image.size == ((80, 40) if name.endswith(".jpg") else (60, 30))  # full size


def test_the_downloaded_original_is_upright(user, app, db):
    photo = upload_captioned(user, db, "a dog", name="turned.jpg", content=jpeg_with_everything(orientation=6))
    _, token = make_link(user, photo_id=photo["_id"], allow_download="y")
    data = app.test_client().get(f"/s/{token}/original").data
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (40, 80)  # turned by the orientation tag, which is gone
    assert_only_pixels(data)


def test_no_original_without_allow_download(user, app, db):
    photo = upload_captioned(user, db, "a dog", name="gps.jpg", content=jpeg_with_everything())
    _, token = make_link(user, photo_id=photo["_id"])
    visitor = app.test_client()
    assert visitor.get(f"/s/{token}/original").status_code == 404
    assert "/original" not in text(visitor.get(f"/s/{token}"))
    for variant in ("original", "ORIGINAL", "files"):
        assert visitor.get(f"/s/{token}/image/{variant}").status_code == 404
    # The owner keeps the file exactly as uploaded.
    assert user.client.get(f"/photos/{photo['_id']}/image/original").data == jpeg_with_everything()


def test_the_owner_sees_an_exif_summary_and_chooses_what_shared_pages_show(user, app, db):
    photo = upload_captioned(user, db, "a dog", name="gps.jpg", content=jpeg_with_everything())
    assert photo["exif"] == {"camera": "Secret Camera Model 7", "lens": "Secret Lens 35mm",
                             "taken_at": "2024-07-14T18:30:05", "has_gps": True}
    page = text(user.client.get(f"/photos/{photo['_id']}"))
    assert 'data-role="exif-camera">Secret Camera Model 7<' in page
    assert 'data-role="exif-lens">Secret Lens 35mm<' in page and "2024-07-14 18:30:05" in page
    assert "The original file holds a GPS position" in page
    assert "48" not in page.split('data-role="exif-gps"')[1][:120]  # the position itself is never shown

    _, token = make_link(user, photo_id=photo["_id"])
    visitor = app.test_client()
    shared = text(visitor.get(f"/s/{token}"))
    assert "Secret Camera" not in shared and "2024-07-14" not in shared
    response = user.post(f"/photos/{photo['_id']}/shared-details", {"show_camera": "y", "show_date_taken": "y"},
                         page=f"/photos/{photo['_id']}")
    assert response.status_code == 303
    shared = text(visitor.get(f"/s/{token}"))
    assert '<span data-role="camera">Secret Camera Model 7</span>' in shared
    assert 'datetime="2024-07-14T18:30:05"' in shared
    assert "GPS" not in shared and "29.9" not in shared and "Secret Lens" not in shared


def test_a_photo_without_exif_has_an_empty_summary(user, db):
    photo = upload_captioned(user, db, "a dog", name="plain.png", content=png_with_text())
    assert photo["exif"] == {"camera": None, "lens": None, "taken_at": None, "has_gps": False}
    assert "No GPS position in the file." in text(user.client.get(f"/photos/{photo['_id']}"))
