"""Upload -> caption visible, end to end through the real platform.

    .venv/bin/python bench/bench_upload_to_caption.py [--model DIR] [--photos 20]

Starts the platform the way `make run` does (mongoeco store in a temp dir, Redis from
REDIS_URL or a private redis-server, one `python worker.py`, gunicorn), waits until the
worker has loaded the model (/healthz 200), signs up a user, then uploads the photos one
at a time (the worker is idle at each upload) and polls GET /photos/<id>/status every
20 ms until the caption is there. Latency = from sending the upload request to the
first status response carrying the caption, i.e. what the dashboard shows.

Prints p50 / p95 / mean / max and where the time goes (upload request, queue wait,
model). Goal: p50 <= 1.5 s with the shipped model (captioner.DEFAULT_MODEL_DIR).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import requests  # noqa: E402

from photoshare.embedded_store import free_port, start_process, stop_process  # noqa: E402
from photoshare.local_redis import redis_answers, start_redis_server  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def photos(count: int, data_dir: Path) -> list[tuple[str, bytes]]:
    files = sorted((data_dir / "Images").glob("*.jpg"))[:count] if (data_dir / "Images").exists() else []
    if len(files) >= count:
        return [(f.name, f.read_bytes()) for f in files]
    from PIL import Image  # synthetic fallback: 1200x900 JPEGs with varied colours

    result = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (1200, 900), (index * 12 % 255, 90, 200 - index * 7 % 200)).save(buffer, "JPEG")
        result.append((f"synthetic-{index}.jpg", buffer.getvalue()))
    return result


def csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(url, timeout=30).text).group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint dir (default: the shipped model)")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--goal-p50", type=float, default=1.5)
    args = parser.parse_args()

    if args.model is None:
        from captioner import DEFAULT_MODEL_DIR  # cheap: no TensorFlow at import

        if not Path(DEFAULT_MODEL_DIR).exists():
            print(f"The shipped model is not there yet ({DEFAULT_MODEL_DIR}); pass --model DIR.")
            return 2
        args.model = str(DEFAULT_MODEL_DIR)

    workdir = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    processes: list[subprocess.Popen] = []
    store, mongo_uri = start_process(workdir / "store.sqlite")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_answers(redis_url):
        redis_process, redis_url = start_redis_server(workdir / "redis")
        processes.append(redis_process)
    env = {**os.environ, "MONGO_URI": mongo_uri, "MONGO_DBNAME": "bench", "REDIS_URL": redis_url,
           "PHOTOSHARE_PREFIX": prefix, "CAPTIONER_MODEL": args.model,
           "INSTANCE_PATH": str(workdir / "instance"), "BCRYPT_ROUNDS": "4"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        processes.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4",
             "photoshare:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        started = time.monotonic()
        while True:
            try:
                health = requests.get(f"{base}/healthz", timeout=5)
                if health.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() - started > 300 or any(p.poll() is not None for p in processes):
                print("The platform did not become healthy.")
                return 1
            time.sleep(0.2)
        model_version = health.json()["model"]["version"]
        print(f"platform ready in {time.monotonic() - started:.1f} s; model {model_version}")

        session = requests.Session()
        session.post(f"{base}/signup", timeout=30, data={
            "email": "bench@example.com", "password": "benchmark pw", "confirm": "benchmark pw",
            "csrf_token": csrf(session, f"{base}/signup")})
        token = csrf(session, f"{base}/")

        latencies, upload_times, waits, models = [], [], [], []
        for name, content in photos(args.photos, Path(args.data)):
            t0 = time.perf_counter()
            response = session.post(f"{base}/upload", data={"csrf_token": token}, allow_redirects=False,
                                    files={"images": (name, content, "image/jpeg")}, timeout=60)
            t_upload = time.perf_counter() - t0
            assert response.status_code == 303, response.text[:500]
            page = session.get(f"{base}/", timeout=30).text  # the dashboard, as the browser would
            photo_id = re.search(r'data-photo-id="([0-9a-f]{24})"', page).group(1)
            while True:
                state = session.get(f"{base}/photos/{photo_id}/status", timeout=30).json()
                if state["caption_status"] in ("done", "failed"):
                    break
                time.sleep(0.02)
            latency = time.perf_counter() - t0
            if state["caption_status"] != "done":
                print(f"  {name}: failed: {state['error']}")
                continue
            latencies.append(latency)
            upload_times.append(t_upload)
            print(f"  {name}: {latency * 1000:7.0f} ms  “{state['caption']}”")
            time.sleep(0.3)  # idle worker at the next upload

        # Where the time goes, from what the worker recorded on each photo.
        from pymongo import MongoClient

        with MongoClient(mongo_uri) as client:
            for photo in client.bench.photos.find({"caption_status": "done"}, {"caption_timings": 1}):
                waits.append(photo["caption_timings"]["queue_wait_s"])
                models.append(photo["caption_timings"]["caption_ms"] / 1000)

        if not latencies:
            print("No photo was captioned.")
            return 1
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        print(f"\nupload -> caption visible over {len(latencies)} photos (model {model_version}):")
        print(f"  p50 {p50:.3f} s   p95 {p95:.3f} s   mean {statistics.mean(latencies):.3f} s   "
              f"max {max(latencies):.3f} s")
        print(f"  upload request p50 {percentile(upload_times, 0.5):.3f} s; "
              f"queue wait p50 {percentile(waits, 0.5):.3f} s; model p50 {percentile(models, 0.5):.3f} s")
        verdict = "meets" if p50 <= args.goal_p50 else "MISSES"
        print(f"  goal p50 <= {args.goal_p50} s: {verdict}")
        return 0
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        stop_process(store)
        from redis import Redis

        client = Redis.from_url(redis_url)
        try:  # leave the shared Redis as we found it
            keys = list(client.scan_iter(match=f"*{prefix}*"))
            if keys:
                client.delete(*keys)
            for shared in ("rq:queues", "rq:workers"):
                ours = [m for m in client.smembers(shared) if prefix.encode() in m]
                if ours:
                    client.srem(shared, *ours)
        except Exception:
            pass


if __name__ == "__main__":
    sys.exit(main())
