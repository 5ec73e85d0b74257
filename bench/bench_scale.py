"""Latency vs library size, through HTTP, on the embedded store (issue 8, part 5).

    .venv/bin/python bench/bench_scale.py [--sizes 100,1000,10000] [--samples 20] [--uploads 20]

Starts the platform as `make run` does (mongoeco store in a temp dir, Redis from
REDIS_URL or a private redis-server, gunicorn with 2 workers x 4 threads; the images go
to the configured blob store, BLOB_STORE/MEDIA_ROOT, in the temp dir), signs up one
measured user and ten others, and grows their libraries size by size: the measured
user to N photos, each other user to N/10.

Seeding goes through the REST API (`POST /api/v1/photos`, `--seed-clients` concurrent
clients): the real upload path, with real small JPEGs (Flickr8k photos scaled to 160 px;
synthetic ones without the data set) and a Flickr8k caption as the user's caption, so
that search has text to find. No worker runs while seeding and the queued caption jobs
are dropped after each size, so the photos stay "pending": the measurements do not
wait behind a backlog of 20,000 captions.

At each size, `--samples` sequential requests each (p50 / p95 in ms):
  upload (POST /api/v1/photos), dashboard first page (GET /), API list page
  (GET /api/v1/photos?limit=24), search (GET /?q=dog, GET /api/v1/photos?q=dog), photo
  page (GET /photos/<id>), status poll (GET /photos/<id>/status);
and, with a model (`--model`, default the shipped one; `--model none` skips it), the
worker's per-photo store time: a worker is started, `--worker-photos` photos are uploaded
and captioned, and read_ms (the image read) and the job time outside the model
(caption_finished_at - caption_started_at - caption_ms) are taken from each photo.

Writes bench/results/scale.json and a PNG plot of p50 latency vs library size, and says
whether the targets hold at the largest size (upload p50 <= 250 ms, dashboard and list
p50 <= 50 ms, search p50 <= 100 ms, each <= 1.5x its value at the smallest size).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

import requests  # noqa: E402

from photoshare.embedded_store import free_port, start_process, stop_process  # noqa: E402
from photoshare.local_redis import redis_answers, start_redis_server  # noqa: E402
from platform_harness import csrf_token, percentile  # noqa: E402

OTHER_USERS = 10
PASSWORD = "benchmark pw"
TARGETS = {"upload": 250, "dashboard": 50, "api_list": 50, "search_web": 100, "search_api": 100}
GROWTH_LIMIT = 1.5


def small_jpegs(data_dir: Path, count: int) -> list[tuple[bytes, str]]:
    """(JPEG bytes, caption) pairs: Flickr8k photos scaled to 160 px, else synthetic."""
    from PIL import Image

    captions: dict[str, str] = {}
    token_file = data_dir / "Flickr8k.token.txt"
    if token_file.exists():
        for line in token_file.read_text().splitlines():
            name, _, text = line.partition("\t")
            captions.setdefault(name.split("#")[0], text.strip())
    files = sorted((data_dir / "Images").glob("*.jpg"))[:count] if (data_dir / "Images").exists() else []
    result = []
    for index in range(count):
        if files:
            image = Image.open(files[index % len(files)]).convert("RGB")
            caption = captions.get(files[index % len(files)].name, "a photo")
        else:
            image = Image.new("RGB", (160, 120), (index * 37 % 255, 90, 200 - index * 11 % 200))
            caption = ("a dog runs on the grass", "two children on a beach", "a man rides a bike")[index % 3]
        image.thumbnail((160, 160))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        result.append((buffer.getvalue(), caption))
    return result


class Stack:
    """Store, Redis, web (and, when asked, one worker) in a temp dir."""

    def __init__(self, workdir: Path, env_extra: dict):
        self.workdir, self.processes = workdir, []
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.store, self.mongo_uri = start_process(workdir / "store.sqlite")
        self.redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if not redis_answers(self.redis_url):
            process, self.redis_url = start_redis_server(workdir / "redis")
            self.processes.append(process)
        self.env = {**os.environ, "MONGO_URI": self.mongo_uri, "MONGO_DBNAME": "bench", "REDIS_URL": self.redis_url,
                    "PHOTOSHARE_PREFIX": self.prefix, "INSTANCE_PATH": str(workdir / "instance"),
                    "PHOTOSHARE_VAR": str(workdir), "MEDIA_ROOT": str(workdir / "media"), "BCRYPT_ROUNDS": "4",
                    "API_RATE_LIMIT": "1000000 per minute", "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
                    **env_extra}
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.web = self._spawn([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2",
                                "--threads", "4", "--timeout", "120", "photoshare:create_app()"])
        self.worker = None
        self.wait(lambda: requests.get(f"{self.base}/healthz/live", timeout=5).status_code == 200, "web")

    def _spawn(self, argv, log: str | None = None) -> subprocess.Popen:
        output = open(self.workdir / log, "wb") if log else subprocess.DEVNULL
        process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=output, stderr=output)
        self.processes.append(process)
        return process

    def wait(self, ready, what: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except requests.RequestException:
                pass
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a process exited while waiting for the {what}")
            time.sleep(0.3)
        raise RuntimeError(f"the {what} did not become ready")

    def start_worker(self, model: str) -> None:
        self.env["CAPTIONER_MODEL"] = model
        # The seeded photos stay pending on purpose (their jobs were dropped): a worker's
        # reconciliation would queue all 20,000 of them ahead of the measured few (it did:
        # the phase timed out behind 5,000 re-queued jobs). Only photos older than this are
        # re-queued, i.e. none.
        self.env["RECONCILE_MIN_AGE"] = str(10 * 365 * 24 * 3600)
        self.worker = self._spawn([sys.executable, str(ROOT / "worker.py")], log="worker.log")
        self.wait(lambda: requests.get(f"{self.base}/healthz", timeout=5).status_code == 200, "worker", 600)

    def drop_queued_jobs(self) -> None:
        from redis import Redis
        from rq import Queue

        Queue(f"{self.prefix}-captions", connection=Redis.from_url(self.redis_url)).empty()

    def close(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        stop_process(self.store)
        try:  # leave a shared Redis as we found it
            from redis import Redis

            client = Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=f"*{self.prefix}*"))
            if keys:
                client.delete(*keys)
            for shared in ("rq:queues", "rq:workers"):
                ours = [m for m in client.smembers(shared) if self.prefix.encode() in m]
                if ours:
                    client.srem(shared, *ours)
        except Exception as error:
            print(f"(Redis clean-up failed: {error})")


class User:
    """One account: a browser session (web pages) and an API key (the API)."""

    def __init__(self, base: str, email: str):
        self.base, self.email = base, email
        self.web = requests.Session()
        self.web.post(f"{base}/signup", timeout=60, data={
            "email": email, "name": email.split("@")[0], "password": PASSWORD, "confirm": PASSWORD,
            "csrf_token": csrf_token(self.web, f"{base}/signup")}).raise_for_status()
        answer = requests.post(f"{base}/api/v1/tokens", auth=(email, PASSWORD), timeout=60,
                               json={"name": "bench", "scopes": ["read", "write"]})
        answer.raise_for_status()
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {answer.json()['key']}"
        self.count, self.lock = 0, threading.Lock()

    def upload(self, image: bytes, caption: str) -> dict:
        with self.lock:
            self.count += 1
            number = self.count
        # A JPEG comment with the upload's number makes every upload's bytes distinct, as in
        # a real library: the same 500 photos again would be refused as exact duplicates (409).
        comment = f"bench upload {number}".encode()
        image = image[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + image[2:]
        answer = self.api.post(f"{self.base}/api/v1/photos", timeout=120, data={"caption": caption},
                               files={"image": (f"photo-{number}.jpg", image, "image/jpeg")})
        if answer.status_code not in (201, 202):  # 202: stored, caption on its way
            raise RuntimeError(f"upload refused: {answer.status_code} {answer.text[:300]}")
        return answer.json()


def seed(users: list[tuple[User, int]], images, clients: int) -> float:
    """Upload until each user has its target count; returns photos per second."""
    lock, jobs = threading.Lock(), []
    for user, target in users:
        jobs += [user] * max(0, target - user.count)
    started, done = time.perf_counter(), [0]

    def one(index: int) -> None:
        image, caption = images[index % len(images)]
        jobs[index].upload(image, caption)
        with lock:
            done[0] += 1
            if done[0] % 500 == 0:
                rate = done[0] / (time.perf_counter() - started)
                print(f"    seeded {done[0]}/{len(jobs)} ({rate:.1f}/s, {(len(jobs) - done[0]) / rate:.0f} s left)",
                      flush=True)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(len(jobs))))
    return len(jobs) / max(time.perf_counter() - started, 1e-9)


WARM_UP = 5  # requests of each kind before timing: one left the smallest size measurably colder


def _stats(times: list[float]) -> dict:
    return {"p50_ms": round(percentile(times, 0.5) * 1000, 1), "p95_ms": round(percentile(times, 0.95) * 1000, 1)}


def timed_pair(samples: int, request, reference_request) -> tuple[dict, dict]:
    """The same kind of request for two users, alternated: the machine's drift during a run
    (as large as the growth being measured) falls on both alike."""
    for _ in range(WARM_UP):
        request()
        reference_request()
    times: tuple[list, list] = ([], [])
    for _ in range(samples):
        for side, call in enumerate((request, reference_request)):
            started = time.perf_counter()
            answer = call()
            times[side].append(time.perf_counter() - started)
            answer.raise_for_status()
    return _stats(times[0]), _stats(times[1])


# The read requests timed at each size: name -> request of a user for one of its photos.
READS = {
    "dashboard": lambda base, user, photo_id: user.web.get(f"{base}/", timeout=120),
    "api_list": lambda base, user, photo_id: user.api.get(f"{base}/api/v1/photos?limit=24", timeout=120),
    "search_web": lambda base, user, photo_id: user.web.get(f"{base}/?q=dog", timeout=120),
    "search_api": lambda base, user, photo_id: user.api.get(f"{base}/api/v1/photos?q=dog", timeout=120),
    "photo_page": lambda base, user, photo_id: user.web.get(f"{base}/photos/{photo_id}", timeout=120),
    "status_poll": lambda base, user, photo_id: user.web.get(f"{base}/photos/{photo_id}/status", timeout=120),
}


def measure(stack: Stack, main: User, reference: User, images, args) -> dict:
    """Uploads of the measured user, then each read kind for it and, interleaved, for the
    reference user (whose library stays at the smallest size) in the same store."""
    base, row = stack.base, {}
    uploads = []
    for index in range(args.uploads):
        image, caption = images[index % len(images)]
        started = time.perf_counter()
        photo = main.upload(image, caption)
        uploads.append(time.perf_counter() - started)
    stack.drop_queued_jobs()
    row["upload"] = _stats(uploads)
    reference_photo = reference.api.get(f"{base}/api/v1/photos?limit=1", timeout=120).json()["items"][0]["id"]
    row["reference_user"] = {}
    for name, request in READS.items():
        row[name], row["reference_user"][name] = timed_pair(
            args.samples, lambda: request(base, main, photo["id"]),
            lambda: request(base, reference, reference_photo))
    return row


def worker_store_time(stack: Stack, main: User, images, count: int) -> dict:
    """Caption `count` fresh photos with a live worker; the store time of each job."""
    from pymongo import MongoClient

    ids = [main.upload(*images[index % len(images)])["id"] for index in range(count)]
    with MongoClient(stack.mongo_uri, tz_aware=True) as client:
        from bson import ObjectId

        photos = client.bench.photos

        def captioned() -> list[dict]:
            # One read by _id each: a count over an $in of ids decodes the whole collection
            # on the embedded store (each poll took seconds at 20,000 photos).
            found = [photos.find_one({"_id": ObjectId(i), "caption_status": "done"}) for i in ids]
            return [photo for photo in found if photo is not None]

        stack.wait(lambda: len(captioned()) == count, "captions", 600)
        reads, outside = [], []
        for photo in captioned():
            timings = photo["caption_timings"]
            reads.append(timings["read_ms"])
            job_s = (photo["caption_finished_at"] - photo["caption_started_at"]).total_seconds()
            outside.append(job_s * 1000 - timings["caption_ms"])
    return {"read_ms_p50": round(percentile(reads, 0.5), 1),
            "job_outside_model_ms_p50": round(percentile(outside, 0.5), 1), "photos": count}


def verdict(sizes: dict) -> dict:
    """At the largest size: the target, and the growth against the smallest size measured
    in two ways: earlier in the run, and now, as the reference user's library of that size
    in the same store (interleaved, so the machine's drift does not count)."""
    smallest, largest = sizes[min(sizes, key=int)], sizes[max(sizes, key=int)]
    result = {}
    for name, limit_ms in TARGETS.items():
        p50, base = largest[name]["p50_ms"], smallest[name]["p50_ms"]
        same_moment = largest.get("reference_user", {}).get(name, {}).get("p50_ms")
        result[name] = {"p50_ms": p50, "target_ms": limit_ms, "growth": round(p50 / base, 2) if base else None,
                        "growth_same_moment": round(p50 / same_moment, 2) if same_moment else None,
                        "meets": p50 <= limit_ms and p50 <= GROWTH_LIMIT * (same_moment or base)}
    return result


def plot(sizes: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = sorted(sizes, key=int)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in ("upload", "dashboard", "api_list", "search_web", "search_api", "photo_page", "status_poll"):
        ax.plot([int(x) for x in xs], [sizes[x][name]["p50_ms"] for x in xs], marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="photos in the user's library", ylabel="p50 latency (ms)",
           title="Latency vs library size (embedded store, HTTP)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--seed-clients", type=int, default=4)
    parser.add_argument("--model", default=None, help="checkpoint dir for the worker phase; 'none' skips it")
    parser.add_argument("--worker-photos", type=int, default=5)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.model is None:
        from captioner import DEFAULT_MODEL_DIR

        args.model = str(DEFAULT_MODEL_DIR) if Path(DEFAULT_MODEL_DIR).exists() else "none"

    images = small_jpegs(Path(args.data), 500)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    stack = Stack(workdir, {})
    report = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "store": "embedded (mongoeco)",
              "blob_store": stack.env.get("BLOB_STORE") or "fs",
              "seeding": f"REST API, POST /api/v1/photos, {args.seed_clients} concurrent clients",
              "samples": args.samples, "sizes": {}}
    try:
        main_user = User(stack.base, "main@example.com")
        # Stays at the smallest size: the growth is also judged against it, at the same moment.
        reference_user = User(stack.base, "reference@example.com")
        others = [User(stack.base, f"other{n}@example.com") for n in range(OTHER_USERS)]
        for size in sizes:
            rate = seed([(main_user, size), (reference_user, sizes[0])]
                        + [(other, size // OTHER_USERS) for other in others], images, args.seed_clients)
            stack.drop_queued_jobs()
            print(f"size {size}: seeded at {rate:.1f} photos/s", flush=True)
            row = {"seed_photos_per_s": round(rate, 1), **measure(stack, main_user, reference_user, images, args)}
            report["sizes"][str(size)] = row
            for name, value in row.items():
                if isinstance(value, dict) and "p50_ms" in value:
                    reference = row["reference_user"].get(name)
                    print(f"    {name:12s} p50 {value['p50_ms']:8.1f} ms  p95 {value['p95_ms']:8.1f} ms"
                          + (f"   (reference user: p50 {reference['p50_ms']:.1f} ms)" if reference else ""),
                          flush=True)
        report["verdict"] = verdict(report["sizes"]) if len(sizes) > 1 else None
        if args.model != "none":
            try:
                stack.start_worker(args.model)
                report["worker_store_time"] = worker_store_time(stack, main_user, images, args.worker_photos)
            except RuntimeError as error:  # the HTTP figures stand without it
                log_file = workdir / "worker.log"
                tail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
                report["worker_store_time"] = {"error": str(error), "worker_log_tail": tail}
            print(f"worker: {report['worker_store_time']}")
    finally:
        stack.close()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        shutil.rmtree(workdir, ignore_errors=True)
    plot(report["sizes"], out.with_suffix(".png"))
    print(f"written {out} and {out.with_suffix('.png')}")
    for name, check in (report["verdict"] or {}).items():
        print(f"  {name:12s} {'meets' if check['meets'] else 'MISSES'}: p50 {check['p50_ms']} ms "
              f"(target {check['target_ms']} ms), x{check['growth']} vs the smallest size, "
              f"x{check['growth_same_moment']} vs the reference user's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
