"""Reconciliation: what the worker runs at start, every RECONCILE_INTERVAL seconds, and
on demand (`flask --app photoshare reconcile-captions`, `python worker.py --reconcile`).

1. Captions (services.captions.reconcile_captions): photos left pending or processing
   without a live job are queued again.
2. The orphan sweep: stored files whose photo document does not exist (a process killed
   between writing an upload's files and its document, a file a deletion could not
   remove), and accounts whose deletion was interrupted. Only what is older than
   ORPHAN_MIN_AGE_MINUTES is touched, so an upload or a deletion still in progress is
   never raced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gridfs.errors import NoFile
from pymongo.database import Database
from rq import Queue

from ..store import files_bucket
from . import accounts
from .captions import ReconcileReport, reconcile_captions

log = logging.getLogger(__name__)

BATCH = 500  # photo ids looked up per query


@dataclass
class SweepReport:
    orphan_files: int = 0
    accounts_deleted: int = 0

    def __str__(self) -> str:
        return (f"removed {self.orphan_files} orphan files, "
                f"finished deleting {self.accounts_deleted} accounts")


@dataclass
class Report:
    captions: ReconcileReport = field(default_factory=ReconcileReport)
    sweep: SweepReport = field(default_factory=SweepReport)

    def __str__(self) -> str:
        return f"{self.captions}; {self.sweep}"


def _orphan_file_ids(db: Database, cutoff: datetime) -> list:
    """Ids of files written before `cutoff` whose metadata.photo_id has no photo document."""
    orphans, batch = [], []

    def check(batch):
        photo_ids = list({f["metadata"]["photo_id"] for f in batch})
        existing = {p["_id"] for p in db.photos.find({"_id": {"$in": photo_ids}}, {"_id": 1})}
        orphans.extend(f["_id"] for f in batch if f["metadata"]["photo_id"] not in existing)

    files = db.fs.files.find({"uploadDate": {"$lte": cutoff}, "metadata.photo_id": {"$exists": True}},
                             {"metadata.photo_id": 1})
    for stored in files:
        batch.append(stored)
        if len(batch) >= BATCH:
            check(batch)
            batch = []
    if batch:
        check(batch)
    return orphans


def sweep_orphans(db: Database, settings, *, now: datetime | None = None) -> SweepReport:
    """Finish interrupted account deletions, then delete orphan files (see the module)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(minutes=settings["ORPHAN_MIN_AGE_MINUTES"])
    report = SweepReport()
    for user in db.users.find({"deleting_at": {"$lte": cutoff}}, {"_id": 1}):
        accounts.purge_account(db, user["_id"])
        report.accounts_deleted += 1
    bucket = files_bucket(db)
    for file_id in _orphan_file_ids(db, cutoff):
        try:
            bucket.delete(file_id)
        except NoFile:  # removed meanwhile
            continue
        report.orphan_files += 1
    if report.orphan_files or report.accounts_deleted:
        log.info("orphan sweep: %s", report)
    return report


def reconcile(db: Database, queue: Queue, settings, *, min_age_s: float | None = None) -> Report:
    """Caption reconciliation, then the orphan sweep. Raises if the store or Redis is down."""
    return Report(captions=reconcile_captions(db, queue, settings, min_age_s=min_age_s),
                  sweep=sweep_orphans(db, settings))
