"""Uploads: what is accepted and refused (decided by decoding, not by name or MIME type),
what is stored (original in GridFS, derived display and thumbnail, EXIF orientation
applied), and that the response never waits for the captioning model."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from photoshare import create_app
from photoshare.embedded_store import free_port
from tests.support.sessions import Browser
from tests.images import (animated_gif, jpeg_with_orientation, make_image, png_declaring_size,
                          png_with_alpha)
from tests.support.storage import stored_keys


def _text(response) -> str:
    return response.get_data(as_text=True)


def _stored_image(db, photo, variant) -> Image.Image:
    from photoshare.repositories import photo_files

    data = photo_files.read(db, photo["files"][variant])
    return Image.open(io.BytesIO(data))


def _nothing_stored(db) -> bool:
    return db.photos.count_documents({}) == 0 and len(stored_keys(db)) == 0


# -- Accepted ---------------------------------------------------------------------

@pytest.mark.parametrize("name, content, fmt, mime", [
    ("photo.jpg", make_image("JPEG"), "JPEG", "image/jpeg"),
    ("photo.png", make_image("PNG"), "PNG", "image/png"),
    ("photo.webp", make_image("WEBP"), "WEBP", "image/webp"),
    ("photo.gif", make_image("GIF"), "GIF", "image/gif"),
    ("transparent.png", png_with_alpha(), "PNG", "image/png"),
    ("grey.jpg", make_image("JPEG", mode="L"), "JPEG", "image/jpeg"),
    # The name says nothing: a PNG called .jpg, a JPEG without extension.
    ("misnamed.jpg", make_image("PNG"), "PNG", "image/png"),
    ("no-extension", make_image("JPEG"), "JPEG", "image/jpeg"),
])
def test_accepted_formats(user, db, queue, name, content, fmt, mime):
    response = user.upload((name, content))
    assert response.status_code == 303
    photo = db.photos.find_one()
    assert photo["format"] == fmt and photo["mime_type"] == mime
    assert photo["caption_status"] == "pending"
    assert photo["filename"] == name
    assert set(photo["files"]) == {"original", "display", "thumbnail"}
    assert _stored_image(db, photo, "original").format == fmt
    assert _stored_image(db, photo, "display").format == "JPEG"
    assert _stored_image(db, photo, "thumbnail").format == "JPEG"
    # The captioning job is queued under the id written on the photo; nothing waited for it.
    assert queue.job_ids == [photo["job_id"]]
    flashes = _text(user.client.get("/"))
    assert "Uploaded 1 photo" in flashes


def test_camera_jpeg_with_preview_frames_is_a_jpeg(user, db):
    # Phone cameras write Multi-Picture-Format JPEGs, which Pillow reports as "MPO".
    frames = [Image.new("RGB", (64, 48), (200, 0, 0)), Image.new("RGB", (16, 12), (0, 0, 200))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    assert user.upload(("camera.jpg", buffer.getvalue())).status_code == 303
    photo = db.photos.find_one()
    assert photo["format"] == "JPEG" and photo["mime_type"] == "image/jpeg"
    assert _stored_image(db, photo, "display").size == (64, 48)


def test_website_and_api_uploads_store_the_same_photo(user, db, app):
    # One upload path in the service layer: the same fields, private by default.
    from tests.support.api_clients import ApiClient, make_key

    assert user.upload(("web.png", make_image("PNG"))).status_code == 303
    web = db.photos.find_one({"filename": "web.png"})
    api = ApiClient(app.test_client(), make_key(db, db.users.find_one()), None)
    assert api.upload(make_image("PNG"), "api.png").status_code == 202
    via_api = db.photos.find_one({"filename": "api.png"})
    assert web["visibility"] == via_api["visibility"] == "private"
    assert set(web) == set(via_api)


def test_client_mime_type_is_ignored(user, db):
    data = {"images": [(io.BytesIO(make_image("PNG")), "x.png", "text/plain")]}
    assert user.post("/upload", data, page="/", content_type="multipart/form-data").status_code == 303
    assert db.photos.find_one()["mime_type"] == "image/png"


def test_animated_gif_first_frame_is_used(user, db):
    user.upload(("anim.gif", animated_gif()))
    photo = db.photos.find_one()
    red, green, blue = _stored_image(db, photo, "display").convert("RGB").getpixel((5, 5))
    assert red > 200 and green < 60 and blue < 60  # the first (red) frame


def test_exif_orientation_is_applied_to_derived_images_not_to_the_original(user, db):
    user.upload(("sideways.jpg", jpeg_with_orientation(size=(60, 30), orientation=6)))
    photo = db.photos.find_one()
    assert _stored_image(db, photo, "original").size == (60, 30)   # kept as sent
    assert _stored_image(db, photo, "display").size == (30, 60)    # upright
    assert _stored_image(db, photo, "thumbnail").size == (30, 60)
    assert photo["display_size"] == [30, 60]


def test_display_and_thumbnail_sizes(user, db):
    user.upload(("big.png", make_image("PNG", size=(2000, 1000))))
    photo = db.photos.find_one()
    assert _stored_image(db, photo, "display").size == (1600, 800)
    assert _stored_image(db, photo, "thumbnail").size == (400, 200)
    assert (photo["width"], photo["height"]) == (2000, 1000)


def test_transparent_png_is_flattened_on_white(user, db):
    user.upload(("t.png", png_with_alpha()))
    pixel = _stored_image(db, user_photo := db.photos.find_one(), "display").convert("RGB").getpixel((1, 1))
    assert pixel == (255, 255, 255) and user_photo


def test_several_files_in_one_request(user, db, queue):
    response = user.upload(("a.jpg", make_image()), ("b.png", make_image("PNG")), ("c.gif", make_image("GIF")))
    assert response.status_code == 303
    assert db.photos.count_documents({"caption_status": "pending"}) == 3
    assert len(queue.job_ids) == 3
    assert "Uploaded 3 photos" in _text(user.client.get("/"))


# -- Refused ----------------------------------------------------------------------

def _bmp() -> bytes:
    return make_image("BMP")


def _truncated_jpeg() -> bytes:
    data = make_image("JPEG", size=(400, 300))
    return data[: len(data) // 2]


@pytest.mark.parametrize("name, content, status, message", [
    ("notes.jpg", b"this is not an image at all", 400, "is not an image we can read"),
    ("script.png", b"<script>alert(1)</script>", 400, "is not an image we can read"),
    ("half.jpg", _truncated_jpeg(), 400, "is not an image we can read"),
    ("bitmap.jpg", _bmp(), 415, "accepted formats are JPEG, PNG, WebP, GIF and HEIC"),
    ("tiff.png", make_image("TIFF"), 415, "accepted formats are JPEG, PNG, WebP, GIF and HEIC"),
    ("bomb.png", png_declaring_size(30000, 30000), 413, "the limit is 4 megapixels"),
    ("wide.png", png_declaring_size(5000, 1000), 413, "the limit is 4 megapixels"),
    ("empty.jpg", b"", 400, "is empty"),
])
def test_refused_uploads_store_nothing_and_say_why(user, db, queue, name, content, status, message):
    response = user.upload((name, content))
    assert response.status_code == status
    page = _text(response)
    assert message in page and name in page
    assert _nothing_stored(db)
    assert queue.count == 0


@pytest.mark.parametrize("error", [struct.error("unpack requires a buffer of 4 bytes"), KeyError("tile"),
                                   MemoryError(), RuntimeError("decoder confused")])
def test_any_decoder_failure_is_not_an_image_never_a_500(user, db, monkeypatch, error):
    # Malformed files make Pillow's decoders raise many kinds of exception.
    from PIL import ImageFile

    def broken_load(self):
        raise error

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken_load)
    response = user.upload(("odd.png", make_image("PNG")))
    assert response.status_code == 400
    assert "odd.png is not an image we can read" in _text(response)
    assert _nothing_stored(db)


def test_file_over_the_size_limit_is_refused(user, db):
    # MAX_UPLOAD_MB is 2 in the tests; random bytes do not compress.
    import os

    big = make_image("PNG", size=(8, 8)) + os.urandom(2 * 1024 * 1024)
    response = user.upload(("huge.png", big))
    assert response.status_code == 413
    assert "larger than the 2 MB limit" in _text(response)
    assert _nothing_stored(db)


def test_request_over_the_total_limit_is_refused_with_a_clear_page(settings, db):
    app = create_app({**settings, "MAX_CONTENT_LENGTH": 50_000})
    try:
        browser = Browser(app.test_client())
        browser.signup()
        response = browser.upload(("a.png", make_image("PNG") + b"\0" * 60_000))
        assert response.status_code == 413
        assert "The upload is too large" in _text(response)
        assert _nothing_stored(db)
    finally:
        app.extensions["photoshare.backends"].close()


def test_a_large_form_outside_uploads_is_413_with_a_page(user, db):
    # Only /upload takes large bodies; any other form may carry MAX_FORM_BYTES (1 MB).
    response = user.post("/albums", {"name": "n" * (2 * 1024 * 1024)}, page="/albums")
    assert response.status_code == 413
    page = _text(response)
    assert "Request too large" in page and "at most 1024 KB" in page and "<html" in page
    assert db.albums.count_documents({}) == 0


def test_no_file_is_refused(user, db):
    response = user.post("/upload", {}, page="/", content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose at least one photo to upload." in _text(response)


def test_too_many_files_are_refused(user, db, app):
    limit = app.config["MAX_UPLOAD_FILES"]
    response = user.upload(*[(f"{i}.png", make_image("PNG")) for i in range(limit + 1)])
    assert response.status_code == 400
    assert f"Upload at most {limit} photos at a time." in _text(response)
    assert _nothing_stored(db)


def test_mixed_upload_keeps_the_good_and_reports_the_bad(user, db):
    response = user.upload(("good.jpg", make_image()), ("bad.jpg", b"nope"))
    assert response.status_code == 303
    page = _text(user.client.get("/"))
    assert "Uploaded 1 photo" in page and "Not uploaded: bad.jpg is not an image" in page
    assert db.photos.count_documents({}) == 1 and len(stored_keys(db)) == 3


def test_upload_needs_login(browser, db):
    # A valid CSRF token (from the log-in page of this logged-out session): what stops
    # the upload is the missing login.
    data = {"images": [(io.BytesIO(make_image("PNG")), "a.png")]}
    response = browser.post("/upload", data, page="/login", content_type="multipart/form-data")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _nothing_stored(db)


def test_filename_is_cleaned(user, db):
    user.upload(("../../etc/\x00passwd.png", make_image("PNG")))
    assert db.photos.find_one()["filename"] == "passwd.png"


# -- Redis down at upload ------------------------------------------------------------

def test_upload_when_redis_is_down_keeps_the_photo_pending(settings, db):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({**settings, "REDIS_URL": dead_redis, "RATELIMIT_STORAGE_URI": dead_redis})
    try:
        browser = Browser(app.test_client())
        assert browser.signup().status_code == 303
        response = browser.upload(("a.jpg", make_image()))
        assert response.status_code == 303
        photo = db.photos.find_one()
        assert photo["caption_status"] == "pending" and photo["job_id"]
        assert "Captioning is delayed" in _text(browser.client.get("/"))
    finally:
        app.extensions["photoshare.backends"].close()


def test_a_store_failure_while_saving_leaves_nothing_half_stored(user, db, monkeypatch):
    from pymongo.errors import AutoReconnect

    from photoshare.repositories import photo_files

    real_put, writes = photo_files.put, []

    def failing_on_the_third_file(*args, **kwargs):
        writes.append(args)
        if len(writes) == 3:
            raise AutoReconnect("connection reset while writing")
        return real_put(*args, **kwargs)

    monkeypatch.setattr(photo_files, "put", failing_on_the_third_file)
    response = user.upload(("a.jpg", make_image()))
    assert response.status_code == 503
    assert "temporarily unavailable" in _text(response)
    assert _nothing_stored(db)
