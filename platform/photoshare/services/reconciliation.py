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

BATCH = 500  # stored files read (and photo ids looked up) per query
SWEEP_PASS_FILES = 2000  # stored files one pass of the worker's sweep reads at most


@dataclass
class SweepReport:
    orphan_files: int = 0
    accounts_deleted: int = 0
    incomplete_files: int = 0  # leftovers of killed writes (temp files, GridFS chunks)
    cycle_complete: bool = False

    def __str__(self) -> str:
        return (f"removed {self.orphan_files} orphan files and {self.incomplete_files} incomplete ones, "
                f"finished deleting {self.accounts_deleted} accounts")


@dataclass
class Report:
    captions: ReconcileReport = field(default_factory=ReconcileReport)
    sweep: SweepReport = field(default_factory=SweepReport)

    def __str__(self) -> str:
        return f"{self.captions}; {self.sweep}"


class OrphanSweep:
    """The orphan sweep in bounded passes (the worker runs one pass per reconciliation,
    on its own thread). A pass reads at most `pass_files` stored files (or GridFS chunks)
    and remembers where it stopped; the next pass goes on from there. One cycle: finish
    interrupted account deletions, the blob store's files and legacy GridFS files
    (photo_files.STORED_PHASES), GridFS chunks without their files document, then the
    blob store's leftovers of killed writes; then it starts over."""

    PHASES = ("accounts", *photo_files.STORED_PHASES, "chunks")

    def __init__(self, db: Database, settings, pass_files: int = SWEEP_PASS_FILES):
        self.db, self.settings, self.pass_files = db, settings, pass_files
        self.phase, self.after = self.PHASES[0], None

    def _next_phase(self) -> bool:
        """Move to the next phase; True when that ends a cycle."""
        index = self.PHASES.index(self.phase) + 1
        self.after = None
        if index == len(self.PHASES):
            self.phase = self.PHASES[0]
            return True
        self.phase = self.PHASES[index]
        return False

    def run_pass(self, *, now: datetime | None = None) -> SweepReport:
        cutoff = (now or utcnow()) - timedelta(minutes=self.settings["ORPHAN_MIN_AGE_MINUTES"])
        report, budget = SweepReport(), self.pass_files
        while budget > 0:
            if self.phase == "accounts":
                for user_id in list(user_repo.deleting_before(self.db, cutoff)):
                    accounts.purge_account(self.db, user_id)
                    report.accounts_deleted += 1
                self._next_phase()
                continue
            limit = min(budget, BATCH)
            if self.phase == "chunks":
                removed, self.after = photo_files.remove_orphan_chunks_page(self.db, cutoff, self.after, limit)
                report.incomplete_files += removed
            else:
                page, self.after = photo_files.stored_page(self.db, cutoff, self.phase, self.after, limit)
                existing = photo_repo.existing_ids(self.db, {photo_id for _, photo_id in page})
                for ref, photo_id in page:
                    if photo_id not in existing and photo_files.delete(self.db, ref):  # False: gone meanwhile
                        report.orphan_files += 1
            budget -= limit
            if self.after is None and self._next_phase():
                report.incomplete_files += photo_files.remove_incomplete_writes(self.db, cutoff)
                report.cycle_complete = True
                break
        if report.orphan_files or report.accounts_deleted or report.incomplete_files:
            log.info("orphan sweep: %s", report)
        return report


def sweep_orphans(db: Database, settings, *, now: datetime | None = None) -> SweepReport:
    """One whole cycle of the orphan sweep (see OrphanSweep), pass after pass."""
    sweep, total = OrphanSweep(db, settings), SweepReport()
    while not total.cycle_complete:
        report = sweep.run_pass(now=now)
        total.orphan_files += report.orphan_files
        total.accounts_deleted += report.accounts_deleted
        total.incomplete_files += report.incomplete_files
        total.cycle_complete = report.cycle_complete
    return total


def reconcile(db: Database, queue: Queue, settings, *, min_age_s: float | None = None) -> Report:
    """Caption reconciliation, then the orphan sweep. Raises if the store or Redis is down."""
    return Report(captions=reconcile_captions(db, queue, settings, min_age_s=min_age_s),
                  sweep=sweep_orphans(db, settings))
