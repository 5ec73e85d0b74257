"""Account export: every photo (the original file) with its captions, albums and dates,
as one zip archive built in the background.

`request_export` records the export (status queued) and queues the worker job
(photoshare.worker.admin_jobs.build_export, by import path); `build_archive` (run by that
job) writes the archive under EXPORT_DIR, updating `done` / `total` as it goes so the
page can show progress, then marks it ready with an expiry (EXPORT_TTL_HOURS). The
download is the owner's only (another user's export is a 404) and ends at the expiry,
when the file is removed by the next export's sweep.

Archive layout:

    photos/<date>_<photo id>_<file name>   the originals, as uploaded
    photos.json                            every photo: dates, captions, albums, file
    captions.csv                           the same, one row per photo (spreadsheets)
    albums.json                            every album: name, date, its photos
    README.txt
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import time
import zipfile
from datetime import timedelta
from pathlib import Path

from bson import ObjectId
from pymongo.database import Database
from rq import Queue

from ..clock import utcnow
from ..queueing import new_job_id
from ..repositories import albums as album_repo
from ..repositories import exports as export_repo
from ..repositories import photo_files
from ..repositories import photos as photo_repo
from .errors import NotFound, ServiceError, as_object_id
from .photo_mapper import display_caption

log = logging.getLogger(__name__)

EXPORT_JOB = "photoshare.worker.admin_jobs.build_export"
BATCH = 100
# A job killed mid-build leaves the export "building"; after this long a new request
# may start over.
STALE_AFTER = timedelta(hours=6)


class ExportGone(ServiceError):
    code = "export_expired"
    http_status = 410


def export_dir(settings) -> Path:
    return Path(settings.get("EXPORT_DIR") or Path(settings["INSTANCE_PATH"]) / "exports")


def latest(db: Database, owner_id: ObjectId) -> dict | None:
    return export_repo.latest_of_owner(db, owner_id)


def request_export(db: Database, queue: Queue, settings, owner_id: ObjectId) -> dict:
    """Start an export (or return the one already under way)."""
    current = export_repo.latest_of_owner(db, owner_id)
    if current and current["status"] in export_repo.IN_PROGRESS and utcnow() - current["created_at"] < STALE_AFTER:
        return current
    export = export_repo.insert(db, {"owner_id": owner_id, "status": export_repo.QUEUED, "done": 0, "total": None,
                                     "created_at": utcnow(), "file": None, "expires_at": None, "error": None})
    queue.enqueue(EXPORT_JOB, str(export["_id"]), job_id=new_job_id(settings, "export"), job_timeout=3 * 3600,
                  result_ttl=3600, failure_ttl=24 * 3600, description=f"export {export['_id']}")
    return export


def export_view(export: dict | None) -> dict | None:
    if export is None:
        return None
    total, done = export.get("total"), export.get("done") or 0
    return {
        "id": str(export["_id"]), "status": export["status"], "done": done, "total": total,
        "percent": 100 if export["status"] == export_repo.READY else (round(100 * done / total) if total else 0),
        "size_bytes": export.get("size_bytes"), "error": export.get("error"),
        "created_at": export["created_at"].isoformat(),
        "expires_at": export["expires_at"].isoformat() if export.get("expires_at") else None,
    }


def open_download(db: Database, settings, owner_id: ObjectId, export_id) -> tuple[Path, dict]:
    """The archive of a ready, unexpired export of the owner."""
    export = export_repo.find_owned(db, owner_id, as_object_id(export_id, "export"))
    if export is None or export["status"] != export_repo.READY:
        raise NotFound("No such export.")
    path = export_dir(settings) / export["file"]
    if export["expires_at"] <= utcnow() or not path.exists():
        raise ExportGone("This download link has expired. Start a new export.")
    return path, export


# -- Building (in the worker) --------------------------------------------------------------

def _entry_name(photo: dict, used: set[str]) -> str:
    date = photo["created_at"].strftime("%Y-%m-%d")
    name = f"photos/{date}_{photo['_id']}_{(photo.get('filename') or 'photo').replace('/', '_')}"
    while name in used:  # cannot happen with the id in the name; kept for safety
        name += "_"
    used.add(name)
    return name


def _owner_photos(db: Database, owner_id: ObjectId):
    """Every photo of the owner, newest first, in keyset batches (fast at any size)."""
    query, last = {"owner_id": owner_id}, None
    while True:
        page_query = query if last is None else {"$and": [query, {"$or": [
            {"created_at": {"$lt": last["created_at"]}},
            {"created_at": last["created_at"], "_id": {"$lt": last["_id"]}}]}]}
        batch = photo_repo.newest(db, page_query, limit=BATCH, projection=photo_repo.LIST_FIELDS)
        yield from batch
        if len(batch) < BATCH:
            return
        last = batch[-1]


def _sweep_expired(db: Database, settings) -> None:
    folder = export_dir(settings)
    for export in export_repo.expired(db, utcnow()):
        if export.get("file"):
            (folder / export["file"]).unlink(missing_ok=True)
        export_repo.delete(db, export["_id"])
    # Archives whose record is gone (account deleted) or half-written by a killed job.
    cutoff = time.time() - settings["EXPORT_TTL_HOURS"] * 3600
    for path in folder.glob("*.zip*") if folder.exists() else ():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def build_archive(db: Database, settings, export_id) -> dict | None:
    """Write the export's archive; returns the finished export (None if not to build)."""
    export_id = as_object_id(export_id, "export")
    export = export_repo.find(db, export_id)
    if export is None:
        return None
    owner_id = export["owner_id"]
    total = photo_repo.count(db, {"owner_id": owner_id})
    if export_repo.start(db, export_id, total) is None:
        return None  # already built or building (a repeated job)
    folder = export_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    _sweep_expired(db, settings)
    name = f"export-{owner_id}-{export_id}.zip"
    partial = folder / (name + ".part")
    try:
        albums = album_repo.list_of_owner(db, owner_id)
        album_names = {album["_id"]: album["name"] for album in albums}
        album_photos: dict[ObjectId, list[str]] = {album["_id"]: [] for album in albums}
        records, used, done = [], set(), 0
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for photo in _owner_photos(db, owner_id):
                entry = _entry_name(photo, used)
                original = (photo.get("files") or {}).get("original")
                try:
                    stored = photo_files.open_file(db, original)
                except (photo_files.MissingFile, KeyError, TypeError):
                    entry = None  # listed in photos.json with "file": null
                else:
                    info = zipfile.ZipInfo(entry, date_time=photo["created_at"].timetuple()[:6])
                    info.compress_type = zipfile.ZIP_STORED  # JPEG/PNG/WebP are compressed already
                    with archive.open(info, "w", force_zip64=True) as target:
                        shutil.copyfileobj(stored.stream, target, 1024 * 1024)
                for album_id in photo.get("album_ids") or []:
                    album_photos.setdefault(album_id, []).append(str(photo["_id"]))
                records.append(_record(photo, entry, album_names))
                done += 1
                if done % 10 == 0:
                    export_repo.progress(db, export_id, done)
            archive.writestr("photos.json", json.dumps(records, indent=2, ensure_ascii=False))
            archive.writestr("captions.csv", _csv(records))
            archive.writestr("albums.json", json.dumps([
                {"id": str(album["_id"]), "name": album["name"],
                 "created_at": album["created_at"].isoformat() if album.get("created_at") else None,
                 "photo_ids": album_photos.get(album["_id"], [])} for album in albums], indent=2, ensure_ascii=False))
            archive.writestr("README.txt", README)
        os.replace(partial, folder / name)
    except Exception as error:
        partial.unlink(missing_ok=True)
        export_repo.fail(db, export_id, f"The archive could not be built ({type(error).__name__}).", utcnow())
        raise
    now = utcnow()
    export_repo.finish(db, export_id, {"done": done, "total": done, "file": name,
                                       "size_bytes": (folder / name).stat().st_size, "finished_at": now,
                                       "expires_at": now + timedelta(hours=settings["EXPORT_TTL_HOURS"])})
    log.info("export %s: %d photos, %s", export_id, done, name)
    return export_repo.find(db, export_id)


def _record(photo: dict, entry: str | None, album_names: dict) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": str(photo["_id"]), "file": entry, "filename": photo.get("filename"),
        "created_at": iso(photo.get("created_at")), "caption": display_caption(photo) or None,
        "ai_caption": photo.get("ai_caption"), "user_caption": photo.get("user_caption"),
        "caption_status": photo.get("caption_status"), "model_version": photo.get("model_version"),
        "visibility": photo.get("visibility") or "private",
        "albums": [album_names[a] for a in photo.get("album_ids") or [] if a in album_names],
        "width": photo.get("width"), "height": photo.get("height"), "size_bytes": photo.get("size_bytes"),
    }


def _csv(records: list[dict]) -> str:
    out = io.StringIO()
    columns = ["id", "file", "filename", "created_at", "caption", "ai_caption", "user_caption", "albums"]
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "albums": "; ".join(record["albums"])})
    return out.getvalue()


README = """Your Photoshare export.

photos/        your photos as you uploaded them (the original files)
photos.json    every photo: file, upload date, caption (yours, else the AI's), AI caption,
               your caption, albums, visibility, size
captions.csv   the same, one row per photo
albums.json    your albums, with the ids of their photos
"""
