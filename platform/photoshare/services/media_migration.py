"""Moving the images of a store from before the blob store (GridFS file ids in the photo
documents) into the configured blob store: `flask --app photoshare migrate-media`.

Per photo, per file: read the GridFS file, write it to the blob store, read it back and
compare SHA-256 checksums, then switch the document's reference in one conditional
update (only if it still names that GridFS file), and only then delete the GridFS file.
Readers keep working throughout: a document names either the old file (still there)
or the new one (already verified). Interrupted, it simply runs again: photos already
moved are skipped, a copy written but not switched is rewritten.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from bson import ObjectId
from pymongo.database import Database

from ..repositories import photo_files
from ..repositories import photos as photo_repo

log = logging.getLogger(__name__)


@dataclass
class MigrationReport:
    photos_seen: int = 0
    files_moved: int = 0
    files_missing: int = 0
    mismatches: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.files_moved} files moved from {self.photos_seen} photos, "
                f"{self.files_missing} missing, {len(self.mismatches)} checksum mismatches")


def _move(db: Database, photo: dict, variant: str, file_id: ObjectId, report: MigrationReport) -> None:
    found = photo_files.legacy_file(db, file_id)
    if found is None:
        report.files_missing += 1
        log.warning("photo %s: GridFS file %s (%s) is missing; left as it is", photo["_id"], file_id, variant)
        return
    data, mime_type = found
    if variant == "original":
        mime_type = photo.get("mime_type") or mime_type
    ref = photo_files.put(db, photo["_id"], variant, data, mime_type or "application/octet-stream")
    # Verified against the source and against what the store now holds.
    source_sha = hashlib.sha256(data).hexdigest()
    if ref["sha256"] != source_sha or photo_files.store_of(db).sha256(ref["key"]) != source_sha:
        report.mismatches.append(f"{photo['_id']}/{variant}")
        photo_files.delete(db, ref)
        return
    if photo_repo.replace_file_ref(db, photo["_id"], variant, file_id, ref):
        photo_files.delete(db, file_id)
        report.files_moved += 1
    else:  # the photo changed meanwhile (deleted, or moved by another run)
        if not photo_repo.exists(db, photo["_id"]):
            photo_files.delete(db, ref)


def migrate_media(db: Database, *, limit: int | None = None, progress=None) -> MigrationReport:
    """Move every GridFS-held image into the configured blob store (see the module)."""
    report = MigrationReport()
    if photo_files.store_of(db).kind == "gridfs":
        return report  # the configured store is GridFS itself: nothing to move
    for photo in photo_repo.with_legacy_files(db):
        if limit is not None and report.photos_seen >= limit:
            break
        report.photos_seen += 1
        for variant, ref in (photo.get("files") or {}).items():
            if isinstance(ref, ObjectId):
                _move(db, photo, variant, ref, report)
        if progress is not None:
            progress(report)
    return report
