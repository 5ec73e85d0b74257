"""RQ jobs of the administration (issue 14), run by the captioning worker:

- build_export(export_id): write an account's export archive (services.export);
- recaption_outdated(model_version, after_id): one throttled step of re-captioning the
  photos captioned by another model (services.system), scheduling the next step.

Both are enqueued by import path from the web process, which never imports this package.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bson import ObjectId

from ..queueing import new_job_id
from ..services import export, system
from .context import context

log = logging.getLogger("photoshare.worker")


def build_export(export_id: str) -> dict:
    """One step of an export; the next step is queued behind whatever came meanwhile
    (new uploads' captions), so a big export never holds captioning up for long."""
    ctx = context()
    after = export.build_step(ctx.db, ctx.settings, export_id)
    if after is not None and after["status"] == "building":
        ctx.queue.enqueue(build_export, export_id, job_id=new_job_id(ctx.settings, "export"), job_timeout=1800,
                          result_ttl=600, failure_ttl=24 * 3600, description=f"export {export_id} (continued)")
    return {"export_id": export_id, "outcome": after["status"] if after else "skipped",
            "done": after.get("done") if after else None}


def recaption_outdated(model_version: str, after_id: str | None) -> dict:
    ctx = context()
    after = ObjectId(after_id) if after_id else None
    batch = system.recaption_batch(ctx.db, ctx.queue, ctx.settings, model_version, after)
    if not batch.finished:
        # The next step after a pause (moved to the queue by the worker's maintenance
        # thread, like retries): captions of new uploads are never stuck behind a long walk.
        ctx.queue.enqueue_in(timedelta(seconds=ctx.settings["RECAPTION_INTERVAL_S"]), recaption_outdated,
                             model_version, str(batch.last_id) if batch.last_id else None,
                             job_id=new_job_id(ctx.settings, "recaption"), job_timeout=600, result_ttl=3600)
    log.info("re-captioning to %s: %d queued%s", model_version, batch.queued, "" if not batch.finished else ", done")
    return {"queued": batch.queued, "finished": batch.finished}
