"""/metrics: Prometheus text format (parsed here by prometheus_client's own parser),
answered on loopback and to the configured bearer token, 404 otherwise; it counts
requests, uploads and captions (the worker's counters reach it through Redis)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from photoshare import queueing
from tests.images import make_image

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def scrape(client, **kwargs) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_uploads_requests_and_captions(app, user, worker):
    metrics_client = app.test_client()
    before = scrape(metrics_client)
    assert value(before, "photoshare_uploads_total") == 0
    assert user.upload(("a.jpg", make_image())).status_code == 303

    after_upload = scrape(metrics_client)
    assert value(after_upload, "photoshare_uploads_total") == 1
    assert value(after_upload, "photoshare_queue_depth") == 1
    assert value(after_upload, "photoshare_http_requests_total", endpoint="gallery.upload", method="POST",
                 status="303") == 1
    assert value(after_upload, "photoshare_http_request_duration_seconds_count", endpoint="gallery.upload",
                 method="POST") == 1
    assert value(after_upload, "photoshare_http_request_duration_seconds_bucket", endpoint="gallery.upload",
                 method="POST", le="+Inf") == 1
    # Scrapes are not counted (the scraper's own traffic would drown the rest).
    assert not any(dict(labels).get("endpoint") == "metrics.scrape" for _, labels in after_upload)

    worker.work()  # the worker's counters go to Redis, and the web's /metrics reads them
    queueing.write_heartbeat(worker.queue.connection, app.config["PHOTOSHARE_PREFIX"], "w1", {}, 30)
    after_caption = scrape(metrics_client)
    assert value(after_caption, "photoshare_captions_total", outcome="done") == 1
    assert value(after_caption, "photoshare_captions_total", outcome="failed") == 0
    assert value(after_caption, "photoshare_caption_duration_seconds_count") == 1
    assert value(after_caption, "photoshare_caption_duration_seconds_sum") > 0
    assert value(after_caption, "photoshare_queue_depth") == 0
    assert value(after_caption, "photoshare_workers") == 1


def test_metrics_answer_loopback_and_the_token_only(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    # A request relayed by a proxy that is not trusted is not a local one.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    app.config["METRICS_TOKEN"] = "s3cret-scrape-token"
    assert client.get("/metrics", environ_base=OUTSIDE,
                      headers={"Authorization": "Bearer wrong"}).status_code == 404
    scrape(client, environ_base=OUTSIDE, headers={"Authorization": "Bearer s3cret-scrape-token"})
    scrape(client)  # loopback still answers

