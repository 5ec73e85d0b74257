"""Account export: every photo (the original file) with its captions, albums and dates,
as one zip archive built in the background.

`request_export` records the export (status queued) and queues the worker job
(photoshare.worker.admin_jobs.build_export, by import path); `build_step` (run by that
job, STEP_PHOTOS photos at a time) writes the archive under EXPORT_DIR, updating `done` /
`total` after each step so the page can show progress, then marks it ready with an
expiry (EXPORT_TTL_HOURS). The download is the owner's only (another user's export is a
404) and ends at the expiry, when the file is removed by the next export's sweep.

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
from .pagination import after_cursor, encode_cursor
from .photo_mapper import display_caption

log = logging.getLogger(__name__)

EXPORT_JOB = "photoshare.worker.admin_jobs.build_export"
# Photos per job step: captions queued meanwhile run between the steps of a big export.
STEP_PHOTOS = 100
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


def build_step(db: Database, settings, export_id) -> dict | None:
    """Add the next STEP_PHOTOS photos to the export's archive; the last step writes the
    captions, albums and README and marks it ready. Returns the export after the step
    (status "building": more steps to run), or None when there is nothing to do (gone,
    finished, failed). Steps are short so that captions queued meanwhile run in between
    (photoshare.worker.admin_jobs queues the next step behind them)."""
    export_id = as_object_id(export_id, "export")
    export = export_repo.find(db, export_id)
    if export is None:
        return None
    folder = export_dir(settings)
    name = f"export-{export['owner_id']}-{export_id}.zip"
    partial, records_path = folder / (name + ".part"), folder / (name + ".records")
    if export["status"] == export_repo.QUEUED:
        export = export_repo.start(db, export_id, photo_repo.count(db, {"owner_id": export["owner_id"]}))
        if export is None:
            return None  # another run of the job started it
        folder.mkdir(parents=True, exist_ok=True)
        _sweep_expired(db, settings)
        zipfile.ZipFile(partial, "w").close()
        records_path.write_text("")
    elif export["status"] != export_repo.BUILDING:
        return None
    try:
        query = after_cursor({"owner_id": export["owner_id"]}, export.get("cursor"))
        batch = photo_repo.newest(db, query, limit=STEP_PHOTOS, projection=photo_repo.LIST_FIELDS)
        with zipfile.ZipFile(partial, "a", zipfile.ZIP_DEFLATED, allowZip64=True) as archive, \
                records_path.open("a", encoding="utf-8") as records:
            for photo in batch:
                records.write(json.dumps(_record(photo, _add_original(db, archive, photo)), ensure_ascii=False) + "\n")
        done = (export.get("done") or 0) + len(batch)
        if len(batch) == STEP_PHOTOS:
            return export_repo.progress(db, export_id, done, encode_cursor(batch[-1]))
        size = _finish_archive(db, export["owner_id"], partial, records_path, folder / name)
    except Exception as error:
        partial.unlink(missing_ok=True)
        records_path.unlink(missing_ok=True)
        export_repo.fail(db, export_id, f"The archive could not be built ({type(error).__name__}).", utcnow())
        raise
    now = utcnow()
    finished = export_repo.finish(db, export_id, {
        "done": done, "total": done, "file": name, "size_bytes": size, "finished_at": now,
        "expires_at": now + timedelta(hours=settings["EXPORT_TTL_HOURS"])})
    log.info("export %s: %d photos, %s", export_id, done, name)
    return finished


def _add_original(db: Database, archive: zipfile.ZipFile, photo: dict) -> str | None:
    """Copy the photo's original file into the archive; its entry name (None: missing)."""
    date = photo["created_at"].strftime("%Y-%m-%d")
    entry = f"photos/{date}_{photo['_id']}_{(photo.get('filename') or 'photo').replace('/', '_')}"
    try:
        stored = photo_files.open_file(db, (photo.get("files") or {})["original"])
    except (photo_files.MissingFile, KeyError, TypeError):
        return None  # listed in photos.json with "file": null
    info = zipfile.ZipInfo(entry, date_time=photo["created_at"].timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED  # JPEG/PNG/WebP are compressed already
    with archive.open(info, "w", force_zip64=True) as target:
        shutil.copyfileobj(stored.stream, target, 1024 * 1024)
    return entry


def _finish_archive(db: Database, owner_id: ObjectId, partial: Path, records_path: Path, final: Path) -> int:
    """Write photos.json, captions.csv, albums.json and the README, then put the archive
    in place; returns its size."""
    albums = album_repo.list_of_owner(db, owner_id)
    names = {str(album["_id"]): album["name"] for album in albums}
    members: dict[str, list[str]] = {album_id: [] for album_id in names}
    records = [json.loads(line) for line in records_path.read_text(encoding="utf-8").splitlines() if line]
    for record in records:
        album_ids = record.pop("album_ids")
        for album_id in album_ids:
            members.setdefault(album_id, []).append(record["id"])
        record["albums"] = [names[a] for a in album_ids if a in names]
    with zipfile.ZipFile(partial, "a", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr("photos.json", json.dumps(records, indent=2, ensure_ascii=False))
        archive.writestr("captions.csv", _csv(records))
        archive.writestr("albums.json", json.dumps([
            {"id": str(album["_id"]), "name": album["name"],
             "created_at": album["created_at"].isoformat() if album.get("created_at") else None,
             "photo_ids": members.get(str(album["_id"]), [])} for album in albums], indent=2, ensure_ascii=False))
        archive.writestr("README.txt", README)
    os.replace(partial, final)
    records_path.unlink(missing_ok=True)
    return final.stat().st_size


def _record(photo: dict, entry: str | None) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": str(photo["_id"]), "file": entry, "filename": photo.get("filename"),
        "created_at": iso(photo.get("created_at")), "caption": display_caption(photo) or None,
        "ai_caption": photo.get("ai_caption"), "user_caption": photo.get("user_caption"),
        "caption_status": photo.get("caption_status"), "model_version": photo.get("model_version"),
        "visibility": photo.get("visibility") or "private",
        "album_ids": [str(a) for a in photo.get("album_ids") or []],  # names added at the end
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
