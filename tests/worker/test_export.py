"""Account export: the worker builds one zip archive with every photo (the original
bytes) and its captions, albums and dates; the page shows progress, then a download
link that only the owner can use and that expires."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

from photoshare.clock import utcnow
from photoshare.services import albums as album_service
from photoshare.services import photos as photo_service
from tests.images import make_image


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_export_archive_holds_every_photo_and_caption(user, other_browser, db, worker, monkeypatch):
    from photoshare.services import export
    monkeypatch.setattr(export, "STEP_PHOTOS", 2)  # two steps for three photos
    originals = {f"photo{n}.jpg": make_image(color=(40 * n, 90, 200 - 30 * n)) for n in range(3)}
    for name, content in originals.items():
        assert user.upload((name, content)).status_code == 303
    worker.work()
    ada = db.users.find_one({"email": "ada@example.com"})
    photos = {p["filename"]: p for p in db.photos.find({"owner_id": ada["_id"]})}
    album = album_service.create_album(db, ada["_id"], "Holidays")
    photo_service.update_photo(db, ada["_id"], photos["photo1.jpg"]["_id"], caption="Our own words",
                               album_ids=[str(album["_id"])])

    assert "Start the export" in _text(user.client.get("/account/export"))
    assert user.post("/account/export", page="/account/export").status_code == 303
    assert user.post("/account/export", page="/account/export").status_code == 303  # no second export
    assert db.exports.count_documents({}) == 1
    assert user.client.get("/account/export/status").get_json()["status"] == "queued"
    assert "Building: 0" in _text(user.client.get("/account/export"))

    # A caption requested while the export is built runs between its steps, not after it.
    steps = []
    original_step = export.build_step

    def build_step(db_, settings_, export_id):
        steps.append(db.photos.find_one({"filename": "photo2.jpg"})["caption_status"])
        after = original_step(db_, settings_, export_id)
        if len(steps) == 1:
            assert after["status"] == "building" and after["done"] == 2 and after["total"] == 3
            assert user.post(f"/photos/{photos['photo2.jpg']['_id']}/recaption",
                             page=f"/photos/{photos['photo2.jpg']['_id']}").status_code == 303
        return after

    monkeypatch.setattr(export, "build_step", build_step)
    worker.work()
    assert steps == ["done", "done"]  # the recaption ran between the two steps (pending → done)
    status = user.client.get("/account/export/status").get_json()
    assert status["status"] == "ready" and status["done"] == status["total"] == 3 and status["percent"] == 100
    page = _text(user.client.get("/account/export"))
    download = f"/account/export/{status['id']}/download"
    assert download in page

    response = user.client.get(download)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "no-store" in response.headers["Cache-Control"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    records = json.loads(archive.read("photos.json"))
    assert len(records) == 3 and {"captions.csv", "albums.json", "README.txt"} <= set(names)
    for record in records:
        photo = photos[record["filename"]]
        assert archive.read(record["file"]) == originals[record["filename"]]  # the original bytes
        assert record["ai_caption"] == photo["ai_caption"] and photo["ai_caption"]
        assert record["created_at"] == photo["created_at"].isoformat()
    by_name = {r["filename"]: r for r in records}
    assert by_name["photo1.jpg"]["caption"] == "Our own words" and by_name["photo1.jpg"]["albums"] == ["Holidays"]
    assert by_name["photo0.jpg"]["caption"] == photos["photo0.jpg"]["ai_caption"]
    rows = list(csv.DictReader(io.StringIO(archive.read("captions.csv").decode())))
    assert {row["filename"]: row["caption"] for row in rows} == {r["filename"]: r["caption"] for r in records}
    [holidays] = json.loads(archive.read("albums.json"))
    assert holidays["name"] == "Holidays" and holidays["photo_ids"] == [str(photos["photo1.jpg"]["_id"])]

    # Another user: 404. After the expiry: 410, and the next export removes the file.
    assert other_browser.signup(email="bob@example.com", name="Bob").status_code == 303
    assert other_browser.client.get(download).status_code == 404
    assert other_browser.client.get("/account/export/status").get_json() is None
    db.exports.update_one({}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    response = user.client.get(download)
    assert response.status_code == 410 and "expired" in _text(response)
    assert user.post("/account/export", page="/account/export").status_code == 303
    worker.work()
    assert db.exports.count_documents({}) == 1  # the expired one was swept
    assert user.client.get(f"/account/export/{db.exports.find_one({})['_id']}/download").status_code == 200
    assert user.client.get("/account/export/not-an-id/download").status_code == 404


def test_export_needs_a_login_and_a_form_token(app, user):
    assert app.test_client().get("/account/export").status_code == 302  # log in first
    response = user.client.post("/account/export", data={})
    assert response.status_code == 400  # no CSRF token


def test_export_page_refreshes_itself_while_building(user, db):
    assert 'http-equiv="refresh"' not in _text(user.client.get("/account/export"))
    assert user.post("/account/export", page="/account/export").status_code == 303
    assert 'http-equiv="refresh"' in _text(user.client.get("/account/export"))
