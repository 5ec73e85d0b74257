"""/healthz: store, Redis, worker heartbeat and model version; 200 only when all are up."""

from __future__ import annotations

from photoshare import create_app, queueing
from photoshare.embedded_store import free_port


def test_healthz_is_503_without_a_worker(client, app):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["store"]["ok"] and body["redis"]["ok"]
    assert body["worker"] == {**body["worker"], "ok": False, "count": 0}
    assert body["model"]["ok"] is False and body["model"]["state"] == "no worker"


def test_healthz_is_200_with_a_ready_worker(client, app, redis_client):
    prefix = app.config["PHOTOSHARE_PREFIX"]
    queueing.write_heartbeat(redis_client, prefix, f"{prefix}-w1",
                             {"state": "ready", "model_version": "attention-v1@abc"}, ttl=30)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["worker"]["count"] == 1 and body["worker"]["last_heartbeat_age_s"] < 5
    assert body["model"] == {"ok": True, "version": "attention-v1@abc", "state": "ready"}


def test_a_loading_worker_is_not_yet_healthy(client, app, redis_client):
    prefix = app.config["PHOTOSHARE_PREFIX"]
    queueing.write_heartbeat(redis_client, prefix, f"{prefix}-w1", {"state": "loading", "model_version": None},
                             ttl=30)
    body = client.get("/healthz").get_json()
    assert body["worker"]["ok"] is True and body["model"]["state"] == "loading"
    assert client.get("/healthz").status_code == 503


def test_an_expired_heartbeat_means_no_worker(client, app, redis_client):
    prefix = app.config["PHOTOSHARE_PREFIX"]
    queueing.write_heartbeat(redis_client, prefix, f"{prefix}-w1", {"state": "ready", "model_version": "v"}, ttl=30)
    redis_client.delete(queueing.heartbeat_key(prefix, f"{prefix}-w1"))  # as if the TTL ran out
    assert client.get("/healthz").get_json()["worker"]["count"] == 0
    assert redis_client.smembers(queueing.workers_set_key(prefix)) == set()  # pruned


def test_the_worker_heartbeat_is_what_healthz_reads(client, app):
    from photoshare.worker.context import configure
    from photoshare.worker.maintenance import Maintenance

    ctx = configure(dict(app.config))
    maintenance = Maintenance(ctx, f"{app.config['PHOTOSHARE_PREFIX']}-real")
    maintenance.model_version, maintenance.state = "tiny@1", "ready"
    maintenance.beat()
    try:
        assert client.get("/healthz").status_code == 200
    finally:
        maintenance.stop()
    assert client.get("/healthz").status_code == 503


def test_healthz_reports_a_store_and_redis_outage(settings, caplog):
    mongo_port, redis_port = free_port(), free_port()
    app = create_app({**settings, "MONGO_URI": f"mongodb://127.0.0.1:{mongo_port}/x",
                      "MONGO_TIMEOUT_MS": 300, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"})
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["store"] == {"ok": False, "error": "ServerSelectionTimeoutError"}
        assert body["redis"] == {"ok": False, "error": "ConnectionError"} and body["worker"]["ok"] is False
        # The public answer names no host or port; the log has the details.
        text = response.get_data(as_text=True)
        assert "127.0.0.1" not in text and str(mongo_port) not in text and str(redis_port) not in text
        assert f"127.0.0.1:{mongo_port}" in caplog.text
        # The liveness probe only says the web process answers.
        assert app.test_client().get("/healthz/live").status_code == 200
        # Pages that need the store say so clearly instead of a 500.
        page = app.test_client().get("/login")
        assert page.status_code == 200
        # The sign-up page reads the signup policy from the store: it says so too.
        response = app.test_client().get("/signup")
        assert response.status_code == 503
        assert "temporarily unavailable" in response.get_data(as_text=True)
    finally:
        app.extensions["photoshare.backends"].close()
