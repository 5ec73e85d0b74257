"""Prometheus metrics shared by every process of a deployment, kept in Redis.

The web app runs several gunicorn processes and the worker is another process (another
container, even): an in-process registry would show each scrape one process's share.
So counters and histogram buckets are Redis hash fields (HINCRBY, HINCRBYFLOAT: atomic
across processes), under `<prefix>:metrics`; /metrics reads them back and prometheus_client
renders the text format. Recording never raises: metrics must not break a request or a job.
"""

from __future__ import annotations

import json
import logging
from typing import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CAPTION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)

# name -> (kind, help, label names, buckets)
METRICS = {
    "photoshare_http_requests_total": ("counter", "HTTP requests by endpoint, method and status.",
                                       ("endpoint", "method", "status"), None),
    "photoshare_http_request_duration_seconds": ("histogram", "HTTP request latency by endpoint.",
                                                 ("endpoint", "method"), REQUEST_BUCKETS),
    "photoshare_uploads_total": ("counter", "Photos stored by uploads.", (), None),
    "photoshare_captions_total": ("counter", "Caption jobs finished, by outcome (done or failed).",
                                  ("outcome",), None),
    "photoshare_caption_duration_seconds": ("histogram",
                                            "Time from caption request to caption stored (queue wait included).",
                                            (), CAPTION_BUCKETS),
}


def metrics_key(prefix: str) -> str:
    return f"{prefix}:metrics"


def _field(name: str, labels: dict, part: str = "") -> str:
    return json.dumps([name, sorted(labels.items()), part], separators=(",", ":"))


def _record(redis: Redis, prefix: str, increments: Iterable[tuple[str, int | float]]) -> None:
    # int amounts are HINCRBY (exact counts), floats HINCRBYFLOAT (sums of seconds).
    try:
        with redis.pipeline(transaction=False) as pipe:
            for field, amount in increments:
                if isinstance(amount, int):
                    pipe.hincrby(metrics_key(prefix), field, amount)
                else:
                    pipe.hincrbyfloat(metrics_key(prefix), field, amount)
            pipe.execute()
    except RedisError as error:
        log.debug("metrics not recorded: %s", error)


def count(redis: Redis, prefix: str, name: str, amount: int = 1, **labels) -> None:
    _record(redis, prefix, [(_field(name, labels), amount)])


def _observation(name: str, seconds: float, labels: dict) -> list[tuple[str, int | float]]:
    # One histogram observation: its bucket (stored per bucket, summed up when read), the
    # count and the sum.
    buckets = METRICS[name][3]
    bucket = next((str(bound) for bound in buckets if seconds <= bound), "+Inf")
    return [(_field(name, labels, f"le={bucket}"), 1), (_field(name, labels, "count"), 1),
            (_field(name, labels, "sum"), float(seconds))]


def observe(redis: Redis, prefix: str, name: str, seconds: float, **labels) -> None:
    _record(redis, prefix, _observation(name, seconds, labels))


def record_request(redis: Redis, prefix: str, endpoint: str, method: str, status: int, seconds: float) -> None:
    """A web request's count and latency, in one round trip to Redis."""
    _record(redis, prefix, [
        (_field("photoshare_http_requests_total", {"endpoint": endpoint, "method": method, "status": str(status)}), 1),
        *_observation("photoshare_http_request_duration_seconds", seconds, {"endpoint": endpoint, "method": method}),
    ])


def read_all(redis: Redis, prefix: str) -> dict[tuple, float]:
    """{(name, labels tuple, part): value} of everything recorded."""
    values = {}
    for field, value in redis.hgetall(metrics_key(prefix)).items():
        name, labels, part = json.loads(field)
        values[(name, tuple(tuple(item) for item in labels), part)] = float(value)
    return values


class _RedisCollector:
    def __init__(self, values: dict, gauges: dict[str, tuple[str, float]]):
        self.values, self.gauges = values, gauges

    def collect(self):
        for name, (kind, help_text, label_names, buckets) in METRICS.items():
            series = {}
            for (metric, labels, part), value in self.values.items():
                if metric == name:
                    series.setdefault(labels, {})[part] = value
            if kind == "counter":
                family = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=label_names)
                for labels, parts in sorted(series.items()):
                    family.add_metric([dict(labels).get(n, "") for n in label_names], parts.get("", 0))
            else:
                family = HistogramMetricFamily(name, help_text, labels=label_names)
                for labels, parts in sorted(series.items()):
                    cumulative, running = [], 0.0
                    for bound in [*map(str, buckets), "+Inf"]:
                        running += parts.get(f"le={bound}", 0)
                        cumulative.append((bound, running))
                    family.add_metric([dict(labels).get(n, "") for n in label_names], cumulative,
                                      sum_value=parts.get("sum", 0.0))
            yield family
        for name, (help_text, value) in self.gauges.items():
            yield GaugeMetricFamily(name, help_text, value=value)


def render(redis: Redis, prefix: str, gauges: dict[str, tuple[str, float]]) -> bytes:
    """The Prometheus text exposition of the recorded metrics plus the `gauges` measured
    now ({name: (help, value)})."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RedisCollector(read_all(redis, prefix), gauges))
    return generate_latest(registry)

