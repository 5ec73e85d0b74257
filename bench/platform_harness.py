"""The platform as `make run` starts it, for benchmarks: embedded store, Redis, gunicorn (2 workers x
4 threads) and `python worker.py`, all local, in a temporary directory; plus an API client.

    with RunningPlatform(model_dir, worker_env={"CAPTION_BATCH_SIZE": "8"}) as platform:
        api = platform.api_client()                 # signs up, creates an API key
        photo = api.upload("a.jpg", data)
        platform.restart_worker({"CAPTION_BATCH_SIZE": "1"})
        platform.resident_memory_mb()               # {"web", "worker", "store"}

Everything it creates is removed on exit, and only its own keys are deleted from a shared Redis.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import psutil  # noqa: E402
import requests  # noqa: E402

from photoshare.embedded_store import free_port, start_process, stop_process  # noqa: E402
from photoshare.local_redis import redis_answers, start_redis_server  # noqa: E402


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(session: requests.Session, url: str) -> str:
    """The CSRF token of the form on `url` (what a browser posts back)."""
    match = CSRF_FIELD.search(session.get(url, timeout=60).text)
    return match.group(1) or match.group(2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def flickr_photos(count: int, data_dir: Path, offset: int = 0) -> list[tuple[str, bytes]]:
    """`count` Flickr8k test photos (cycled if the split is shorter), else synthetic JPEGs."""
    names = []
    split = data_dir / "Flickr_8k.testImages.txt"
    if split.exists():
        names = [line.strip() for line in split.read_text().splitlines() if line.strip()]
    files = [data_dir / "Images" / name for name in names if (data_dir / "Images" / name).exists()]
    if files:
        return [(files[(offset + i) % len(files)].name, files[(offset + i) % len(files)].read_bytes())
                for i in range(count)]
    import io

    from PIL import Image

    result = []
    for index in range(offset, offset + count):
        buffer = io.BytesIO()
        Image.new("RGB", (640, 480), (index * 12 % 255, 90, 200 - index * 7 % 200)).save(buffer, "JPEG")
        result.append((f"synthetic-{index}.jpg", buffer.getvalue()))
    return result


class ApiClient:
    def __init__(self, base: str, key: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def upload(self, filename: str, data: bytes) -> dict:
        response = self.session.post(f"{self.base}/api/v1/photos", files={"image": (filename, data, "image/jpeg")},
                                     timeout=120)
        response.raise_for_status()
        return response.json()

    def photo(self, photo_id: str) -> dict:
        response = self.session.get(f"{self.base}/api/v1/photos/{photo_id}", timeout=60)
        response.raise_for_status()
        return response.json()


class RunningPlatform:
    def __init__(self, model_dir: str, worker_env: dict | None = None, startup_timeout_s: float = 600):
        self.model_dir = model_dir
        self.worker_env = dict(worker_env or {})
        self.startup_timeout_s = startup_timeout_s
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-platform-"))
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.store = self.redis_process = self.web = self.worker = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "RunningPlatform":
        # A benchmark stopped with SIGTERM still stops what it started (SystemExit unwinds).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            self.store, self.mongo_uri = start_process(self.workdir / "store.sqlite")
            self.redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
            if not redis_answers(self.redis_url):
                self.redis_process, self.redis_url = start_redis_server(self.workdir / "redis")
            self.env = {**os.environ, "MONGO_URI": self.mongo_uri, "MONGO_DBNAME": "bench", "REDIS_URL": self.redis_url,
                        "PHOTOSHARE_PREFIX": self.prefix, "CAPTIONER_MODEL": str(self.model_dir),
                        "INSTANCE_PATH": str(self.workdir / "instance"), "MEDIA_ROOT": str(self.workdir / "media"),
                        "BCRYPT_ROUNDS": "4", "API_RATE_LIMIT": "100000 per minute", "RECONCILE_MIN_AGE": "600"}
            port = free_port()
            self.base = f"http://127.0.0.1:{port}"
            self.web = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4",
                 "photoshare:create_app()"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            self.start_worker()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start_worker(self) -> float:
        """Start `python worker.py` with worker_env; wait until /healthz is 200. Returns the seconds."""
        started = time.monotonic()
        self.worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT,
                                       env={**self.env, **self.worker_env}, stdout=subprocess.DEVNULL,
                                       stderr=open(self.workdir / "worker.log", "ab"))
        while True:
            try:
                health = requests.get(f"{self.base}/healthz", timeout=30)
                if health.status_code == 200:
                    self.model_version = health.json()["model"]["version"]
                    return time.monotonic() - started
            except requests.RequestException:  # not up yet, or slow on a busy machine
                pass
            if time.monotonic() - started > self.startup_timeout_s:
                raise RuntimeError("the platform did not become healthy")
            if self.worker.poll() is not None or self.web.poll() is not None:
                log = (self.workdir / "worker.log").read_text()[-2000:]
                raise RuntimeError(f"a platform process exited:\n{log}")
            time.sleep(0.3)

    def stop_worker(self) -> None:
        if self.worker is not None:
            _terminate(self.worker)
            self.worker = None
        # The old worker's heartbeat must be gone before /healthz can vouch for a new one.
        from redis import Redis

        client = Redis.from_url(self.redis_url)
        for key in client.scan_iter(match=f"{self.prefix}:worker*"):
            client.delete(key)

    def restart_worker(self, worker_env: dict) -> float:
        self.stop_worker()
        self.worker_env = dict(worker_env)
        return self.start_worker()

    def __exit__(self, *exc) -> None:
        for process in (self.web, self.worker):
            if process is not None:
                _terminate(process)
        if self.store is not None:
            stop_process(self.store)
        if self.redis_process is not None:
            self.redis_process.terminate()
        else:
            self._delete_own_redis_keys()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _delete_own_redis_keys(self) -> None:
        from redis import Redis

        try:
            client = Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=f"*{self.prefix}*"))
            for begin in range(0, len(keys), 500):
                client.delete(*keys[begin: begin + 500])
            for shared in ("rq:queues", "rq:workers"):
                ours = [m for m in client.smembers(shared) if self.prefix.encode() in m]
                if ours:
                    client.srem(shared, *ours)
        except Exception:
            pass

    # -- use -------------------------------------------------------------------------------------
    def api_client(self, email: str = "bench@example.com", password: str = "benchmark pw") -> ApiClient:
        session = requests.Session()
        session.post(f"{self.base}/signup", timeout=60, data={
            "email": email, "password": password, "confirm": password,
            "csrf_token": csrf_token(session, f"{self.base}/signup")})
        response = requests.post(f"{self.base}/api/v1/tokens", auth=(email, password), timeout=60,
                                 json={"name": "bench", "scopes": ["read", "write"]})
        response.raise_for_status()
        return ApiClient(self.base, response.json()["key"])

    def photo_documents(self, projection: dict) -> list[dict]:
        from pymongo import MongoClient

        with MongoClient(self.mongo_uri, tz_aware=True) as client:
            return list(client.bench.photos.find({}, projection))

    def resident_memory_mb(self) -> dict:
        """Resident memory (RSS, MB) of the web (gunicorn master + workers), worker and store processes."""
        def tree_rss(pid: int) -> float:
            process = psutil.Process(pid)
            return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20

        return {"web": round(tree_rss(self.web.pid), 1), "worker": round(tree_rss(self.worker.pid), 1),
                "store": round(tree_rss(self.store.pid), 1)}


def _terminate(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
