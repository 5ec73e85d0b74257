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
from datetime import datetime, timedelta

from pymongo.database import Database
from rq import Queue

from ..clock import utcnow
from ..repositories import photo_files
from ..repositories import photos as photo_repo
from ..repositories import users as user_repo
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
    """Ids of files written before `cutoff` whose photo has no document."""
    orphans, batch = [], []

    def check(batch):
        existing = photo_repo.existing_ids(db, {photo_id for _, photo_id in batch})
        orphans.extend(file_id for file_id, photo_id in batch if photo_id not in existing)

    for stored in photo_files.stored_before(db, cutoff):
        batch.append(stored)
        if len(batch) >= BATCH:
            check(batch)
            batch = []
    if batch:
        check(batch)
    return orphans


def sweep_orphans(db: Database, settings, *, now: datetime | None = None) -> SweepReport:
    """Finish interrupted account deletions, then delete orphan files (see the module)."""
    cutoff = (now or utcnow()) - timedelta(minutes=settings["ORPHAN_MIN_AGE_MINUTES"])
    report = SweepReport()
    for user_id in list(user_repo.deleting_before(db, cutoff)):
        accounts.purge_account(db, user_id)
        report.accounts_deleted += 1
    for ref in _orphan_file_ids(db, cutoff):
        if photo_files.delete(db, ref):  # False: removed meanwhile
            report.orphan_files += 1
    photo_files.remove_incomplete(db, cutoff)  # half-written files of killed processes
    if report.orphan_files or report.accounts_deleted:
        log.info("orphan sweep: %s", report)
    return report


def reconcile(db: Database, queue: Queue, settings, *, min_age_s: float | None = None) -> Report:
    """Caption reconciliation, then the orphan sweep. Raises if the store or Redis is down."""
    return Report(captions=reconcile_captions(db, queue, settings, min_age_s=min_age_s),
                  sweep=sweep_orphans(db, settings))
