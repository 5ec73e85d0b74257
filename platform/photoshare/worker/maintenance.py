"""Background duties of a worker process, on one thread (see Maintenance)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from rq.job import Job
from rq.scheduler import RQScheduler

from .. import queueing
from ..services.reconciliation import reconcile
from .context import WorkerContext

log = logging.getLogger("photoshare.worker")


class Maintenance(threading.Thread):
    """Background duties of a worker process, on one thread:

    - the heartbeat read by /healthz and by reconciliation (a TTL'd Redis key, refreshed
      even while a long job runs, so it vanishes soon after the process dies);
    - moving due retries from the scheduled registry back to the queue (what RQ's
      scheduler does, but without forking: TensorFlow is loaded in this process);
    - periodic reconciliation (e.g. photos uploaded while Redis was down) and orphan sweep.
    """

    TICK_SECONDS = 1.0

    def __init__(self, ctx: WorkerContext, worker_name: str):
        super().__init__(name="photoshare-maintenance", daemon=True)
        self.ctx = ctx
        self.worker_name = worker_name
        self.model_version: str | None = None
        self.state = "loading"
        self._stop_event = threading.Event()
        settings = ctx.settings
        self._ttl = settings["WORKER_HEARTBEAT_TTL"]
        self._scheduler = RQScheduler([settings["CAPTION_QUEUE"]], connection=ctx.redis,
                                      name=f"{worker_name}-scheduler")
        self._last = {"heartbeat": 0.0, "reconcile": time.monotonic()}

    def beat(self) -> None:
        queueing.write_heartbeat(
            self.ctx.redis, self.ctx.settings["PHOTOSHARE_PREFIX"], self.worker_name,
            {"pid": os.getpid(), "host": socket.gethostname(), "queue": self.ctx.settings["CAPTION_QUEUE"],
             "state": self.state, "model_version": self.model_version},
            self._ttl,
        )
        self._last["heartbeat"] = time.monotonic()

    def _tick(self, now: float | None = None) -> None:
        """One round of duties; `now` (Unix time, default: the clock) decides which
        retries are due."""
        tick = time.monotonic()
        if tick - self._last["heartbeat"] >= self._ttl / 3:
            self.beat()
        if self._scheduler.should_reacquire_locks:
            self._scheduler.acquire_locks()
        if self._scheduler.acquired_locks:  # one worker at a time moves retries
            self._scheduler.heartbeat()
            self.enqueue_due_retries(time.time() if now is None else now)
        interval = self.ctx.settings["RECONCILE_INTERVAL"]
        if interval > 0 and tick - self._last["reconcile"] >= interval and self.state == "ready":
            self._last["reconcile"] = tick
            reconcile(self.ctx.db, self.ctx.queue, self.ctx.settings)

    def enqueue_due_retries(self, now: float) -> list[str]:
        """Move the jobs whose retry is due by `now` from the scheduled registry back to
        the queue (what RQScheduler.enqueue_scheduled_jobs does, at a given time)."""
        queue = self.ctx.queue
        registry = queue.scheduled_job_registry
        job_ids = registry.get_jobs_to_schedule(int(now))
        for job in Job.fetch_many(job_ids, connection=queue.connection):
            if job is not None:
                queue.enqueue_job(job)
        for job_id in job_ids:
            registry.remove(job_id)
        return job_ids

    def run(self) -> None:
        while not self._stop_event.wait(self.TICK_SECONDS):
            try:
                self._tick()
            except Exception as error:  # Redis or store hiccup: log, keep beating
                log.warning("worker maintenance: %s", error)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        try:
            self._scheduler.release_locks()
            self._scheduler.register_death()
            queueing.clear_heartbeat(self.ctx.redis, self.ctx.settings["PHOTOSHARE_PREFIX"], self.worker_name)
        except Exception as error:
            log.warning("worker shutdown: %s", error)
