"""Background duties of a worker process, on two threads: Maintenance (heartbeat and due
retries: cheap, every second) and Reconciler (caption reconciliation and the orphan
sweep: store reads that may take a while, so they never delay a heartbeat)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from rq.job import Job
from rq.scheduler import RQScheduler

from .. import queueing
from ..services.captions import reconcile_captions
from ..services.reconciliation import OrphanSweep
from .context import WorkerContext

log = logging.getLogger("photoshare.worker")


class Maintenance(threading.Thread):
    """Cheap background duties of a worker process, on one thread:

    - the heartbeat read by /healthz and by reconciliation (a TTL'd Redis key, refreshed
      even while a long job runs, so it vanishes soon after the process dies);
    - moving due retries from the scheduled registry back to the queue (what RQ's
      scheduler does, but without forking: TensorFlow is loaded in this process);
    - telling the Reconciler when Redis answers again after an outage or a restart
      (its run id changed), so that photos uploaded meanwhile (stored pending, their
      job never queued, or lost with a Redis that kept no data) are queued at once.
    Nothing here reads more than a few keys: the heartbeat must never wait behind a scan.
    """

    TICK_SECONDS = 1.0

    def __init__(self, ctx: WorkerContext, worker_name: str, reconciler: "Reconciler | None" = None):
        super().__init__(name="photoshare-maintenance", daemon=True)
        self.ctx = ctx
        self.worker_name = worker_name
        self.reconciler = reconciler
        self.model_version: str | None = None
        self.state = "loading"
        self._stop_event = threading.Event()
        self._redis_down = False
        self._redis_run_id: str | None = None
        settings = ctx.settings
        self._ttl = settings["WORKER_HEARTBEAT_TTL"]
        self._scheduler = RQScheduler([settings["CAPTION_QUEUE"]], connection=ctx.redis,
                                      name=f"{worker_name}-scheduler")
        self._last = {"heartbeat": 0.0}

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

    def _redis_came_back(self) -> bool:
        """Whether Redis answers again after an outage this thread saw (an error), or
        after a restart it did not see (a new run id: an outage shorter than a tick, or
        between two of this thread's calls, still lost the jobs uploads tried to queue)."""
        run_id = self.ctx.redis.info("server").get("run_id")  # raises while Redis is down
        restarted = self._redis_run_id is not None and run_id != self._redis_run_id
        came_back = self._redis_down or restarted
        self._redis_run_id, self._redis_down = run_id, False
        return came_back

    def run(self) -> None:
        while not self._stop_event.wait(self.TICK_SECONDS):
            try:
                if self._redis_came_back():
                    log.info("Redis answers again: reconciling now")
                    self.beat()
                    if self.reconciler is not None:
                        self.reconciler.wake()
                self._tick()
            except Exception as error:  # Redis or store hiccup: log, keep beating
                self._redis_down = True
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


class Reconciler(threading.Thread):
    """Periodic reconciliation of a worker process, on its own thread:

    - captions (services.captions.reconcile_captions) every RECONCILE_INTERVAL seconds,
      at once when Maintenance sees Redis come back, and once more when the heartbeats
      of workers that died before this one started have expired (their jobs are then
      known to be dead and are re-queued, instead of waiting a whole interval);
    - the orphan sweep in bounded passes (services.reconciliation.OrphanSweep): each
      pass reads at most SWEEP_PASS_FILES stored files and goes on where the last
      one stopped, so one pass of a large store never holds the store for long.
    A failed round (store or Redis down) is tried again after RETRY_SECONDS.
    """

    RETRY_SECONDS = 5.0

    def __init__(self, ctx: WorkerContext):
        super().__init__(name="photoshare-reconciler", daemon=True)
        self.ctx = ctx
        self.sweep = OrphanSweep(ctx.db, ctx.settings)
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self.rounds = 0

    def wake(self) -> None:
        self._wake.set()

    def _first_wait(self) -> float:
        interval = self.ctx.settings["RECONCILE_INTERVAL"]
        after_dead_heartbeats = self.ctx.settings["WORKER_HEARTBEAT_TTL"] + 1.0
        return min(interval, after_dead_heartbeats) if interval > 0 else after_dead_heartbeats

    def reconcile_once(self) -> None:
        reconcile_captions(self.ctx.db, self.ctx.queue, self.ctx.settings)
        self.sweep.run_pass()
        self.rounds += 1

    def run(self) -> None:
        settings = self.ctx.settings
        interval = settings["RECONCILE_INTERVAL"]
        wait, follow_up = self._first_wait(), False
        while not self._stop_event.is_set():
            woken = self._wake.wait(wait)
            self._wake.clear()
            if self._stop_event.is_set():
                return
            if not woken and not follow_up and interval <= 0 and self.rounds > 0:
                wait = 3600.0  # periodic reconciliation is off: only wake-ups
                continue
            try:
                self.reconcile_once()
            except Exception as error:  # Redis or store down: soon again
                log.warning("worker reconciliation: %s", error)
                wait, follow_up = self.RETRY_SECONDS, True
                continue
            # After Redis came back, photos uploaded in its last seconds were too young
            # for this round (RECONCILE_MIN_AGE): one more round once they are not.
            follow_up = woken
            wait = settings["RECONCILE_MIN_AGE"] + 1.0 if follow_up else (interval if interval > 0 else 3600.0)

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout=10)


def reap_dead_local_workers(redis, prefix: str, my_name: str) -> list[str]:
    """Remove the heartbeats of workers of this host that are dead although their key has
    not expired yet (killed, then restarted within the TTL): their jobs are then re-queued
    by the start-up reconciliation instead of after the next interval. Dead means: no
    process with that pid here, or our own pid under another name (a restarted container,
    where the worker is PID 1 again)."""
    host, reaped = socket.gethostname(), []
    for beat in queueing.live_workers(redis, prefix):
        name, pid = beat.get("name"), beat.get("pid")
        if name == my_name or beat.get("host") != host or not isinstance(pid, int):
            continue
        if pid == os.getpid() or not _pid_running(pid):
            queueing.clear_heartbeat(redis, prefix, name)
            reaped.append(name)
    if reaped:
        log.info("heartbeats of dead workers of this host removed: %s", ", ".join(reaped))
    return reaped


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
