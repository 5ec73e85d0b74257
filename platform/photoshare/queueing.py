"""Redis side of the platform: connection, the captioning queue, worker heartbeats.

This module is imported by the web process, so it never imports the captioner or
photoshare.worker; jobs are enqueued by their import path.
"""

from __future__ import annotations

import json
import time
import uuid

from redis import Redis
from rq import Queue

# Jobs are enqueued by import path: the web process never imports the worker code.
CAPTION_JOB = "photoshare.worker.jobs.caption_photo"
CAPTION_FAILURE_CALLBACK = "photoshare.worker.jobs.on_caption_failure"
QUICK_CAPTION_JOB = "photoshare.worker.jobs.caption_image"


def connect_redis(url: str) -> Redis:
    # Short timeouts: a Redis outage must turn into a clear error quickly, not a hung request.
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def caption_queue(redis: Redis, settings: dict) -> Queue:
    return Queue(settings["CAPTION_QUEUE"], connection=redis)


def new_job_id(settings, kind: str = "caption") -> str:
    """A fresh job id. The deployment prefix in every job id lets a test session find and
    delete its own keys; `kind` tells photo jobs ("caption") from others ("quick")."""
    return f"{settings['PHOTOSHARE_PREFIX']}-{kind}-{uuid.uuid4().hex}"


# -- Worker heartbeats --------------------------------------------------------------
# Each worker refreshes `<prefix>:worker:<name>` (JSON, with a TTL) from a thread, so the
# key disappears shortly after the process dies, even in the middle of a long job.
# `<prefix>:workers` is the set of names to look at.

def heartbeat_key(prefix: str, worker_name: str) -> str:
    return f"{prefix}:worker:{worker_name}"


def workers_set_key(prefix: str) -> str:
    return f"{prefix}:workers"


def write_heartbeat(redis: Redis, prefix: str, worker_name: str, payload: dict, ttl: int) -> None:
    payload = {**payload, "name": worker_name, "at": time.time()}
    with redis.pipeline() as pipe:
        pipe.set(heartbeat_key(prefix, worker_name), json.dumps(payload), ex=ttl)
        pipe.sadd(workers_set_key(prefix), worker_name)
        pipe.execute()


def clear_heartbeat(redis: Redis, prefix: str, worker_name: str) -> None:
    with redis.pipeline() as pipe:
        pipe.delete(heartbeat_key(prefix, worker_name))
        pipe.srem(workers_set_key(prefix), worker_name)
        pipe.execute()


def live_workers(redis: Redis, prefix: str) -> list[dict]:
    """Heartbeats of the workers alive now (expired ones are pruned from the set)."""
    names = sorted(name.decode() for name in redis.smembers(workers_set_key(prefix)))
    if not names:
        return []
    values = redis.mget([heartbeat_key(prefix, name) for name in names])
    alive, dead = [], []
    for name, value in zip(names, values):
        if value is None:
            dead.append(name)
        else:
            alive.append(json.loads(value))
    if dead:
        redis.srem(workers_set_key(prefix), *dead)
    return alive


def worker_is_alive(redis: Redis, prefix: str, worker_name: str | None) -> bool:
    return bool(worker_name) and bool(redis.exists(heartbeat_key(prefix, worker_name)))
