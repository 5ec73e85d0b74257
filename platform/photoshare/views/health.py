"""/healthz: the state of the store, Redis, the worker heartbeat and the model.

200 when every part is up, 503 otherwise (for load balancers and `make run` users).
/healthz/live only says the web process answers (a container liveness probe that
must not fail because the worker is down).
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from .. import queueing, store
from ..extensions import get_db, get_redis

bp = Blueprint("health", __name__)


def _failure(part: str, error: Exception) -> dict:
    # /healthz is public: it names the kind of failure only. The message (hosts, ports,
    # topology) goes to the log.
    current_app.logger.warning("healthz: %s check failed: %s: %s", part, type(error).__name__, error)
    return {"ok": False, "error": type(error).__name__}


def _timed(part: str, check) -> dict:
    started = time.perf_counter()
    try:
        details = check() or {}
    except Exception as error:  # any failure is reported, never raised
        return _failure(part, error)
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1), **details}


@bp.get("/healthz")
def healthz():
    config = current_app.config
    checks = {
        "store": _timed("store", lambda: store.ping(get_db())),
        "redis": _timed("redis", lambda: get_redis().ping() and None),
    }
    workers = []
    if checks["redis"]["ok"]:
        try:
            workers = queueing.live_workers(get_redis(), config["PHOTOSHARE_PREFIX"])
        except Exception as error:
            checks["redis"] = _failure("redis", error)
    now = time.time()
    checks["worker"] = {
        "ok": bool(workers),
        "count": len(workers),
        "queue": config["CAPTION_QUEUE"],
        "last_heartbeat_age_s": round(min((now - w["at"] for w in workers), default=-1), 1)
        if workers else None,
    }
    versions = sorted({w["model_version"] for w in workers if w.get("model_version")})
    checks["model"] = {
        "ok": bool(versions),
        "version": versions[0] if len(versions) == 1 else (versions or None),
        "state": "ready" if versions else ("loading" if workers else "no worker"),
    }
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "degraded", **checks}
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.cache_control.no_store = True
    return response


@bp.get("/healthz/live")
def live():
    return jsonify({"status": "ok"})
