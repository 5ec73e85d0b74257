"""CPU time of an upload, before and after the cheap derivation, measured in one run.

    .venv/bin/python bench/bench_upload_cpu.py [--rounds 7] [--before REV]

"before" is services/images.py as of git revision REV (default: the commit before the cheap
derivation), loaded from git beside today's module; both run on the same photos in
interleaved rounds, so machine load falls on both alike. Measured:

1. `process_image` (decode, check, derive display + thumbnail): CPU ms per photo
   (time.process_time) for a Flickr8k photo (224 px), a 12 MP camera JPEG and a 3 MP PNG.
2. The whole API upload (`POST /api/v1/photos` through the Flask app in this process, real
   embedded store and Redis): CPU ms of this process (the web side) plus the store process'
   CPU (psutil), per photo; before = the same app with the old derivation swapped in.
3. pyinstrument profiles of one camera-JPEG derivation before and after, as text.

Writes bench/results/upload_cpu.json and bench/results/profile_upload_{before,after}.txt.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BEFORE_REV = "1e72cd6"  # main just before the cheap derivation (issue 12 part 3)
MODULE = "platform/photoshare/services/images.py"


def load_before(rev: str):
    """services/images.py at `rev`, importable beside today's (same package, own name)."""
    source = subprocess.run(["git", "show", f"{rev}:{MODULE}"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    import photoshare.services  # noqa: F401 - the package its relative imports resolve in

    path = Path(tempfile.mkdtemp(prefix="images-before-")) / "images_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("photoshare.services.images_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_photos(data_dir: Path) -> dict[str, tuple[str, bytes]]:
    """label -> (filename, bytes): a Flickr8k photo as is, and camera-sized uploads made from it."""
    files = sorted((data_dir / "Images").glob("*.jpg"))
    source = files[0].read_bytes() if files else None
    base = Image.open(io.BytesIO(source)).convert("RGB") if source else Image.new("RGB", (224, 224), (90, 120, 40))

    def encoded(size, fmt, **options) -> bytes:
        buffer = io.BytesIO()
        base.resize(size, Image.Resampling.BICUBIC).save(buffer, fmt, **options)
        return buffer.getvalue()

    small = source or encoded((224, 224), "JPEG", quality=90)
    return {"flickr8k_224px_jpeg": ("flickr.jpg", small),
            "camera_4032x3024_jpeg": ("camera.jpg", encoded((4032, 3024), "JPEG", quality=90)),
            "png_2000x1500": ("screen.png", encoded((2000, 1500), "PNG"))}


def cpu_ms(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def derivation_cpu(modules: dict, photos: dict, rounds: int) -> dict:
    from photoshare.services.images import ImageLimits

    limits = ImageLimits(max_bytes=50 * 2**20, max_pixels=50_000_000)
    samples = {(label, name): [] for label in photos for name in modules}
    for round_index in range(rounds):
        order = list(modules) if round_index % 2 == 0 else list(reversed(modules))
        for label, (_, data) in photos.items():
            for name in order:
                samples[(label, name)].append(cpu_ms(lambda: modules[name].process_image(data, limits), 1))
    report = {}
    for label in photos:
        before, after = (statistics.median(samples[(label, n)]) for n in ("before", "after"))
        report[label] = {"before_cpu_ms": round(before, 1), "after_cpu_ms": round(after, 1),
                         "after_over_before": round(after / before, 3)}
    return report


def profiles(modules: dict, data: bytes) -> None:
    from pyinstrument import Profiler

    from photoshare.services.images import ImageLimits

    limits = ImageLimits(max_bytes=50 * 2**20, max_pixels=50_000_000)
    for name, module in modules.items():
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(5):
            module.process_image(data, limits)
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False)
        (RESULTS / f"profile_upload_{name}.txt").write_text(
            f"# pyinstrument: 5 x process_image of a 4032x3024 camera JPEG, derivation {name}\n" + text)


def request_cpu(modules: dict, photos: dict, rounds: int) -> dict:
    """CPU of whole API uploads (web process + store process), old vs new derivation."""
    import psutil

    import photoshare.services.photos as photo_service
    from photoshare import create_app
    from photoshare.config import load_settings
    from photoshare.embedded_store import start_process, stop_process
    from photoshare.local_redis import redis_answers, start_redis_server
    from photoshare.services import accounts, api_keys

    workdir = Path(tempfile.mkdtemp(prefix="bench-upload-cpu-"))
    store, mongo_uri = start_process(workdir / "store.sqlite")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_process = None
    if not redis_answers(redis_url):
        redis_process, redis_url = start_redis_server(workdir / "redis")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = {"MONGO_URI": mongo_uri, "MONGO_DBNAME": "bench", "REDIS_URL": redis_url, "PHOTOSHARE_PREFIX": prefix,
           "SECRET_KEY": "bench", "INSTANCE_PATH": str(workdir / "instance"), "MEDIA_ROOT": str(workdir / "media"),
           "BCRYPT_ROUNDS": "4", "API_RATE_LIMIT": "100000 per minute", "MAX_UPLOAD_MB": "40"}
    app = create_app(load_settings(env))
    try:
        db = app.extensions["photoshare.backends"].db
        user = accounts.register(db, "bench@example.com", "benchmark password", rounds=4)
        key = api_keys.create_key(db, user["_id"], "bench", ["read", "write"]).secret
        client = app.test_client()
        store_process = psutil.Process(store.pid)
        # services.photos derives through process_image (it reads the bytes itself, for the
        # duplicate check): swapping that is what puts the old derivation in the request.
        originals = {"before": modules["before"].process_image, "after": modules["after"].process_image}

        def upload(filename: str, data: bytes) -> tuple[float, float]:
            store_cpu = sum(store_process.cpu_times()[:2])
            start = time.process_time()
            response = client.post("/api/v1/photos", headers={"Authorization": f"Bearer {key}"},
                                   data={"image": (io.BytesIO(data), filename)}, content_type="multipart/form-data")
            web = (time.process_time() - start) * 1000
            assert response.status_code == 202, response.get_data(as_text=True)[:300]
            return web, (sum(store_process.cpu_times()[:2]) - store_cpu) * 1000

        upload(*photos["flickr8k_224px_jpeg"])  # warm-up: first request, indexes, connections
        samples = {(label, name): [] for label in photos for name in modules}
        for round_index in range(rounds):
            order = list(modules) if round_index % 2 == 0 else list(reversed(modules))
            for label, (filename, data) in photos.items():
                for name in order:
                    photo_service.process_image = originals[name]
                    samples[(label, name)].append(upload(filename, data))
        photo_service.process_image = originals["after"]
        report = {}
        for label in photos:
            row = {}
            for name in modules:
                web = statistics.median(s[0] for s in samples[(label, name)])
                store_ms = statistics.median(s[1] for s in samples[(label, name)])
                row[f"{name}_web_cpu_ms"], row[f"{name}_store_cpu_ms"] = round(web, 1), round(store_ms, 1)
            row["web_after_over_before"] = round(row["after_web_cpu_ms"] / row["before_web_cpu_ms"], 3)
            report[label] = row
        return report
    finally:
        app.extensions["photoshare.backends"].close()
        stop_process(store)
        if redis_process is not None:
            redis_process.terminate()
        else:
            from redis import Redis

            client = Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"*{prefix}*"))
            if keys:
                client.delete(*keys)
            for shared in ("rq:queues", "rq:workers"):
                ours = [m for m in client.smembers(shared) if prefix.encode() in m]
                if ours:
                    client.srem(shared, *ours)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", default=BEFORE_REV, help="git revision of the old derivation")
    parser.add_argument("--out", default=str(RESULTS / "upload_cpu.json"))
    args = parser.parse_args()

    from photoshare.services import images as after

    modules = {"before": load_before(args.before), "after": after}
    photos = test_photos(Path(args.data))
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "what": "CPU ms per upload, old vs new derivation, interleaved rounds in one run (medians)",
        "before_revision": args.before, "rounds": args.rounds, "cpu_count": os.cpu_count(),
        "load_average_start": round(os.getloadavg()[0], 2),
        "process_image": derivation_cpu(modules, photos, args.rounds),
        "api_upload_request": request_cpu(modules, photos, max(3, args.rounds // 2)),
        "load_average_end": round(os.getloadavg()[0], 2),
    }
    profiles(modules, photos["camera_4032x3024_jpeg"][1])
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
