"""/metrics: Prometheus text format, for loopback clients and holders of METRICS_TOKEN.

Request counts and latencies are recorded here for every request of the web app (per
Flask endpoint, not per URL: bounded label values); uploads, captions and caption
latency are recorded where they happen (services.photos, the worker's jobs). All of it
lives in Redis (photoshare.metrics), so every gunicorn process and every worker adds to
one set of numbers. Queue depth and worker count are measured at scrape time.

Anyone else gets a 404: the endpoint's existence is not advertised.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from flask import Blueprint, Response, abort, current_app, g, request

from .. import metrics, queueing
from ..extensions import get_queue, get_redis

bp = Blueprint("metrics", __name__)


def _from_loopback() -> bool:
    # Behind an untrusted proxy every request would come from loopback: a forwarded
    # request is not local unless the proxy is trusted (then remote_addr is the client).
    if request.headers.get("X-Forwarded-For") and not current_app.config["TRUSTED_PROXY_HOPS"]:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _has_token() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


@bp.get("/metrics")
def scrape():
    if not (_has_token() or _from_loopback()):
        abort(404)
    redis, config = get_redis(), current_app.config
    gauges = {
        "photoshare_queue_depth": ("Caption jobs waiting in the queue.", get_queue().count),
        "photoshare_workers": ("Workers alive (fresh heartbeat).",
                               len(queueing.live_workers(redis, config["PHOTOSHARE_PREFIX"]))),
    }
    body = metrics.render(redis, config["PHOTOSHARE_PREFIX"], gauges)
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


@bp.before_app_request
def _start_timer():
    g._metrics_started = time.perf_counter()


@bp.after_app_request
def _record_request(response):
    started = g.pop("_metrics_started", None)
    if started is not None and request.endpoint != "metrics.scrape":
        endpoint = request.endpoint or "unmatched"  # 404s share one label value
        prefix = current_app.config["PHOTOSHARE_PREFIX"]
        try:
            redis = get_redis()
        except Exception:  # no Redis client: metrics are best effort
            return response
        metrics.record_request(redis, prefix, endpoint, request.method, response.status_code,
                               time.perf_counter() - started)
    return response
