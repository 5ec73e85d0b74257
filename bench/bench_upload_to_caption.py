"""Upload -> caption visible on an idle worker, end to end through the real platform.

    .venv/bin/python bench/bench_upload_to_caption.py [--model DIR] [--photos 20]

Starts the platform the way `make run` does (bench/platform_harness.py: embedded store, Redis,
gunicorn, one `python worker.py` with its default configuration), waits until /healthz is 200,
creates an API key, then uploads Flickr8k test photos one at a time through the API (the worker
is idle at each upload) and polls GET /api/v1/photos/<id> every 20 ms until the caption is
there. Latency = from sending the upload request to the first response carrying the caption.

Reports p50 / p95 / mean / max, where the time goes (upload request, queue wait, model), the
resident memory of the web, worker and store processes after the run, and the core count.
Goal: p50 <= 1 s (issue 12). Writes bench/results/upload_to_caption.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from platform_harness import RunningPlatform, flickr_photos, percentile  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint dir (default: the shipped model)")
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--goal-p50", type=float, default=1.0)
    parser.add_argument("--out", default=str(RESULTS / "upload_to_caption.json"))
    args = parser.parse_args()
    if args.model is None:
        from captioner import DEFAULT_MODEL_DIR  # cheap: no TensorFlow at import

        if not Path(DEFAULT_MODEL_DIR).exists():
            print(f"The shipped model is not there yet ({DEFAULT_MODEL_DIR}); pass --model DIR.")
            return 2
        args.model = str(DEFAULT_MODEL_DIR)

    with RunningPlatform(args.model) as platform:
        api = platform.api_client()
        api.upload(*flickr_photos(1, Path(args.data), offset=500)[0])  # warm-up: first request, first job
        time.sleep(2)
        latencies, upload_times, ids = [], [], []
        for name, content in flickr_photos(args.photos, Path(args.data)):
            started = time.perf_counter()
            photo = api.upload(name, content)
            upload_times.append(time.perf_counter() - started)
            while photo["caption_status"] not in ("done", "failed"):
                time.sleep(0.02)
                photo = api.photo(photo["id"])
            if photo["caption_status"] == "done":
                latencies.append(time.perf_counter() - started)
                ids.append(photo["id"])
                print(f"  {name}: {latencies[-1] * 1000:7.0f} ms  “{photo['caption']}”", flush=True)
            else:
                print(f"  {name}: failed: {photo['caption_error']}")
            time.sleep(0.3)  # idle worker at the next upload
        timings = [d["caption_timings"] for d in platform.photo_documents({"caption_timings": 1})
                   if str(d["_id"]) in set(ids)]
        memory = platform.resident_memory_mb()
        model_version = platform.model_version

    if not latencies:
        print("No photo was captioned.")
        return 1
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    report = {
        "what": __doc__.splitlines()[0], "cpu_count": os.cpu_count(), "model_version": model_version,
        "photos": len(latencies), "load_average": round(os.getloadavg()[0], 2),
        "p50_s": round(p50, 3), "p95_s": round(p95, 3), "mean_s": round(statistics.mean(latencies), 3),
        "max_s": round(max(latencies), 3), "goal_p50_s": args.goal_p50,
        "upload_request_p50_s": round(percentile(upload_times, 0.5), 3),
        "queue_wait_p50_s": round(percentile([t["queue_wait_s"] for t in timings], 0.5), 3),
        "model_p50_s": round(percentile([t["caption_ms"] / 1000 for t in timings], 0.5), 3),
        "resident_memory_mb": memory,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"goal p50 <= {args.goal_p50} s: {'meets' if p50 <= args.goal_p50 else 'MISSES'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
