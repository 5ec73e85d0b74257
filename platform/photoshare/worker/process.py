"""The worker process: load the model, reconcile, then run jobs; and its command line
(`python worker.py [--burst | --reconcile | --healthcheck]`)."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import sys

from .. import queueing
from ..config import load_settings
from ..services.captions import reconcile_captions
from ..services.reconciliation import reconcile
from .batching import BatchingWorker
from .context import configure
from .maintenance import Maintenance, Reconciler, reap_dead_local_workers
from .model import ModelMissing, get_captioner

log = logging.getLogger("photoshare.worker")


def worker_name(settings: dict) -> str:
    """Unique per start: host and pid alone repeat in a restarted container (same
    hostname, PID 1 again), and RQ refuses a worker whose name is still registered."""
    return f"{settings['PHOTOSHARE_PREFIX']}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def run_worker(settings: dict | None = None, *, burst: bool = False, name: str | None = None) -> bool:
    """Load the model, reconcile, then process jobs until stopped (or the queue is empty
    with `burst`). Returns whether any job ran."""
    ctx = configure(settings)
    name = name or worker_name(ctx.settings)
    reconciler = Reconciler(ctx)
    maintenance = Maintenance(ctx, name, reconciler)
    maintenance.beat()       # visible in /healthz as "loading" while the model loads
    maintenance.start()
    try:
        captioner = get_captioner()  # once per process, before the first job
        maintenance.model_version = captioner.model_version
        maintenance.state = "ready"
        maintenance.beat()
        # A worker of this host killed within the heartbeat TTL (then restarted: us)
        # still looks alive; its jobs are re-queued now rather than an interval later.
        reap_dead_local_workers(ctx.redis, ctx.settings["PHOTOSHARE_PREFIX"], name)
        # RECONCILE_MIN_AGE, as always: a photo uploaded this instant is still queueing
        # its own job and must not get a second one.
        report = reconcile_captions(ctx.db, ctx.queue, ctx.settings)
        log.info("start-up reconciliation: %s", report)
        if burst:  # a one-off run: a sweep pass before the jobs
            reconciler.sweep.run_pass()
        else:  # the sweep in bounded passes, from the reconciler's thread
            reconciler.start()
        worker = make_worker(ctx, name)
        log.info("worker %s listening on queue %s (batches of up to %d photos, encoder %s)", name,
                 ctx.queue.name, worker.batch_size, getattr(captioner, "encoder_runtime", "?"))
        return worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
    finally:
        reconciler.stop()
        maintenance.stop()


def make_worker(ctx, name: str) -> BatchingWorker:
    """The RQ worker of this process, on a Redis connection of its own.

    RQ waits for jobs with a blocking pop of up to its dequeue timeout (minutes) and raises
    the socket timeout of its connection above that, but only for connections made after:
    ctx.redis already holds pooled connections with the platform's short timeout
    (queueing.connect_redis), and a wait on one of them ended the worker ("Redis
    connection timeout, quitting") after a few idle seconds."""
    return BatchingWorker([ctx.queue], connection=queueing.connect_redis(ctx.settings["REDIS_URL"]), name=name,
                          batch_size=ctx.settings["CAPTION_BATCH_SIZE"])


def healthcheck(settings: dict) -> bool:
    """True if a worker on this host has a fresh heartbeat (for container healthchecks).
    Heartbeats live in Redis: no store connection is opened."""
    redis = queueing.connect_redis(settings["REDIS_URL"])
    try:
        workers = queueing.live_workers(redis, settings["PHOTOSHARE_PREFIX"])
    finally:
        redis.close()
    host = socket.gethostname()
    return any(w.get("host") == host and w.get("state") == "ready" for w in workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description="Photoshare captioning worker.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    action.add_argument("--reconcile", action="store_true",
                        help="re-queue photos left pending or processing, then exit")
    action.add_argument("--healthcheck", action="store_true",
                        help="exit 0 if a worker on this host is alive and ready")
    parser.add_argument("--min-age", type=float, default=None,
                        help="with --reconcile: skip photos younger than this (seconds)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings()
    if args.healthcheck:
        return 0 if healthcheck(settings) else 1
    if args.reconcile:
        ctx = configure(settings)
        report = reconcile(ctx.db, ctx.queue, settings, min_age_s=args.min_age)
        print(f"Caption reconciliation: {report}.")
        return 0
    try:
        run_worker(settings, burst=args.burst)
    except ModelMissing as error:
        log.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
