"""A private platform for fault tests, with real processes only: its own redis-server
and embedded store (both may be stopped or frozen here without touching anyone else's),
the app served over HTTP from a thread, and `python worker.py` processes kept by the
supervisor that `make run` uses (photoshare.devserver.Supervisor), which restarts a
worker that dies. The workers caption with the tiny checkpoint (tests/support/
worker_harness.py); their logs are kept, one file per start, to count model results.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from photoshare import create_app
from photoshare.config import load_settings
from photoshare.devserver import Supervisor
from photoshare.embedded_store import start_process as start_store, stop_process
from photoshare.local_redis import start_redis_server
from photoshare.queueing import live_workers
from photoshare.services import accounts, api_keys

from tests.images import make_image
from tests.support.common import ROOT, SESSION_PREFIX, serving

# One line per model result a job records (photoshare.worker.jobs._record: the photo id,
# then the caption's repr), not "nothing to do" lines.
RESULT_LINE = re.compile(r"photoshare\.worker INFO photo ([0-9a-f]{24}): ['\"]")


def poll(condition, timeout_s: float, what: str, every_s: float = 0.1):
    """Wait until condition() is truthy; return it, or fail saying `what` never happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for: {what}")
        time.sleep(every_s)


class FaultStack:
    """The private platform of this folder's tests (see the module)."""

    def __init__(self, root: Path, model_dir: Path):
        self.root, self.model_dir = root, model_dir
        self.redis_dir = root / "redis"
        self.redis_process, self.redis_url = start_redis_server(self.redis_dir)
        self.redis_port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.store_process, self.mongo_uri = start_store(root / "store.sqlite")
        name = f"{SESSION_PREFIX}-faults-{uuid.uuid4().hex[:6]}"
        self.env = {
            "MONGO_URI": self.mongo_uri, "MONGO_DBNAME": name, "REDIS_URL": self.redis_url,
            "PHOTOSHARE_PREFIX": name, "SECRET_KEY": "fault-tests", "INSTANCE_PATH": str(root / "instance"),
            "MEDIA_ROOT": str(root / "media"), "BLOB_STORE": "fs", "BCRYPT_ROUNDS": "4",
            "MONGO_TIMEOUT_MS": "1500", "MONGO_SOCKET_TIMEOUT_MS": "2500",
            "CAPTION_RETRY_INTERVALS": "1,1,2,2", "CAPTION_BATCH_SIZE": "4",
            # Recovery must not wait for the periodic reconciliation: it is left at 5 minutes.
            "RECONCILE_MIN_AGE": "0", "RECONCILE_INTERVAL": "300", "WORKER_HEARTBEAT_TTL": "6",
            "CAPTIONER_MODEL": str(model_dir), "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        self.settings = load_settings(self.env)
        self.app = create_app({**self.settings, "TESTING": True})
        backends = self.app.extensions["photoshare.backends"]
        self.db, self.redis = backends.db, backends.redis
        owner = accounts.register(self.db, "faults@example.com", "fault tests pw", "Faults", rounds=4)
        self.owner_id = owner["_id"]
        self.key = api_keys.create_key(self.db, owner["_id"], "faults", ["read", "write"], None).secret
        self._serving = serving(self.app)  # closed in close()
        self.base = self._serving.__enter__()
        self.supervisor = Supervisor()
        self.supervisor.WORKER_RESTART_DELAYS = (1, 1, 2, 2, 2)
        self.log_dir = root / "worker-logs"
        self.log_dir.mkdir()
        self._watcher = None

    # -- HTTP --------------------------------------------------------------------------

    def upload(self, index: int, timeout_s: float = 30) -> requests.Response:
        return requests.post(f"{self.base}/api/v1/photos", headers={"Authorization": f"Bearer {self.key}"},
                             files={"image": (f"fault-{index}.jpg", make_image(size=(48, 32), color=(index * 37 % 256, index * 91 % 256, 120)), "image/jpeg")},
                             data={"keep_both": "true"}, timeout=timeout_s)

    # -- Workers -----------------------------------------------------------------------

    def _worker_starter(self, label: str):
        starts = iter(range(1, 1000))

        def start() -> subprocess.Popen:
            log = open(self.log_dir / f"{label}-{next(starts)}.log", "w")
            return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT,
                                    env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        return start

    def start_workers(self, count: int) -> None:
        for number in range(1, count + 1):
            label = f"worker-{number}"
            start = self._worker_starter(label)
            self.supervisor.add(label, start(), restart=start)
        self._watcher = threading.Thread(target=self.supervisor.watch, daemon=True)
        self._watcher.start()
        poll(lambda: len(self.ready_workers()) == count, 180, f"{count} workers ready", every_s=0.5)

    def ready_workers(self) -> list[dict]:
        try:
            return [w for w in live_workers(self.redis, self.settings["PHOTOSHARE_PREFIX"])
                    if w.get("state") == "ready"]
        except Exception:  # Redis stopped by a test
            return []

    def worker_pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.supervisor.children.items()}

    def model_results(self) -> Counter:
        """How many model results each photo got recorded, over every worker start."""
        counts = Counter()
        for path in self.log_dir.glob("*.log"):
            counts.update(RESULT_LINE.findall(path.read_text(errors="replace")))
        return counts

    # -- Redis and the store -------------------------------------------------------------

    def stop_redis(self) -> None:
        self.redis_process.terminate()  # redis-server saves its append-only file and exits
        self.redis_process.wait(timeout=20)

    def start_redis(self) -> None:
        self.redis_process, _ = start_redis_server(self.redis_dir, port=self.redis_port)

    def freeze_store(self) -> None:
        os.kill(self.store_process.pid, signal.SIGSTOP)

    def thaw_store(self) -> None:
        os.kill(self.store_process.pid, signal.SIGCONT)

    # -- What every fault test ends with -------------------------------------------------

    def photos(self) -> list[dict]:
        return list(self.db.photos.find({}, {"caption_status": 1, "files": 1, "ai_caption": 1}))

    def wait_all_captioned(self, expected: int, timeout_s: float = 60) -> list[dict]:
        def all_done():
            photos = self.photos()
            return photos if len(photos) == expected and all(
                p["caption_status"] == "done" for p in photos) else None
        return poll(all_done, timeout_s, f"all {expected} photos captioned", every_s=0.3)

    def orphans(self) -> tuple[list[str], list[str]]:
        """(blob keys without their photo document, photo files without their blob)."""
        from photoshare.repositories import photo_files

        store = photo_files.store_of(self.db)
        photos = self.photos()
        ids = {str(p["_id"]) for p in photos}
        blobs_without_photo = [entry.key for entry in store.iter_blobs() if entry.key.split("/")[0] not in ids]
        files_without_blob = [ref["key"] for p in photos for ref in (p.get("files") or {}).values()
                              if not store.exists(ref["key"])]
        return blobs_without_photo, files_without_blob

    def clear_photos(self) -> None:
        """Start a test afresh: no photos, no blobs (through the service, like a user)."""
        from photoshare.services import photos as photo_service

        for photo in self.photos():
            photo_service.delete_photo(self.db, self.owner_id, photo["_id"])

    def close(self) -> None:
        if self._watcher is not None:
            self.supervisor.halt()
            self._watcher.join(timeout=10)
        for process in self.supervisor.children.values():  # all at once; stop_all waits in turn
            if process.poll() is None:
                process.terminate()
        self.supervisor.stop_all()
        self._serving.__exit__(None, None, None)
        self.app.extensions["photoshare.backends"].close()
        self.thaw_store()
        stop_process(self.store_process)
        if self.redis_process.poll() is None:
            self.redis_process.terminate()
            self.redis_process.wait(timeout=20)


@pytest.fixture(scope="package")
def fault_stack(tmp_path_factory, tiny_model_dir):
    stack = FaultStack(tmp_path_factory.mktemp("faults"), tiny_model_dir)
    try:
        stack.start_workers(2)
        yield stack
    finally:
        stack.close()


@pytest.fixture
def stack(fault_stack):
    """The private platform, with no photo left from the test before."""
    fault_stack.clear_photos()
    yield fault_stack
