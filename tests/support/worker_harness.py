"""The captioning model and workers in tests: a tiny checkpoint of the real model, the
real job code run in this process (`worker`), and `python worker.py` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.common import ROOT, skip_unless


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny checkpoint of the real model (captioner.testing), made once per session."""
    from captioner.paths import encoder_weights_path
    from captioner.testing import tiny_checkpoint

    skip_unless(encoder_weights_path().exists(), "VGG16 encoder weights are not prepared (run `make setup`)")
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_captioner(tiny_model_dir):
    """The real Captioner on the tiny checkpoint, loaded once per session."""
    from captioner import Captioner

    return Captioner.load(tiny_model_dir)


class CountingCaptioner:
    """The real captioner, counting its calls and showing each call's images to
    `on_call` (which may raise to inject a failure)."""

    def __init__(self, inner, on_call=None):
        self.inner, self.on_call, self.calls = inner, on_call, 0

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    def caption(self, images):
        self.calls += 1
        if self.on_call is not None:
            self.on_call(images)
        return self.inner.caption(images)


class WorkerHarness:
    """Runs the real job code in this process with RQ's SimpleWorker in burst mode
    (what `python worker.py` runs, minus the long-lived loop)."""

    def __init__(self, app, queue, captioner):
        from photoshare.worker import context, model

        self.app = app
        self.queue = queue
        self.captioner = CountingCaptioner(captioner)
        self.settings = dict(app.config)
        context.configure(self.settings)
        model.set_captioner(self.captioner)

    def use(self, on_call) -> CountingCaptioner:
        """From now on, show each call's images to `on_call` before captioning them."""
        from photoshare.worker import context, model

        self.captioner = CountingCaptioner(self.captioner.inner, on_call)
        model.set_captioner(self.captioner)
        return self.captioner

    def work(self) -> bool:
        from rq import SimpleWorker

        name = f"{self.settings['PHOTOSHARE_PREFIX']}-worker-{uuid.uuid4().hex[:6]}"
        worker = SimpleWorker([self.queue], connection=self.queue.connection, name=name)
        return worker.work(burst=True)


@pytest.fixture
def worker(app, queue, tiny_captioner):
    from photoshare.worker import context, model

    harness = WorkerHarness(app, queue, tiny_captioner)
    yield harness
    model.set_captioner(None)


def start_live_worker(settings: dict, model_dir: Path, ready_when, timeout_s: float = 120,
                      **env_vars: str) -> subprocess.Popen:
    """`python worker.py` (the real entry point) with these settings, the tiny model and
    `env_vars`, until `ready_when()` is true."""
    env = {**os.environ, "MONGO_URI": settings["MONGO_URI"], "MONGO_DBNAME": settings["MONGO_DBNAME"],
           "REDIS_URL": settings["REDIS_URL"], "PHOTOSHARE_PREFIX": settings["PHOTOSHARE_PREFIX"],
           "BLOB_STORE": settings["BLOB_STORE"], "MEDIA_ROOT": settings["MEDIA_ROOT"],
           "CAPTIONER_MODEL": str(model_dir), "WORKER_HEARTBEAT_TTL": "6", "TF_CPP_MIN_LOG_LEVEL": "2",
           **env_vars}
    process = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    while not ready_when():
        if process.poll() is not None:
            pytest.fail(f"worker exited: {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the worker did not become ready")
        time.sleep(0.3)
    return process


def stop_live_worker(process: subprocess.Popen) -> None:
    process.terminate()  # SIGTERM: warm shutdown
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stderr.close()


