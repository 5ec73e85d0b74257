"""Worker throughput on a backlog, as a ratio to the bare fp32 Keras encoder measured in the same run.

    .venv/bin/python bench/bench_worker.py [--photos 64] [--rounds 2] [--configs 8:default,1:fp32]

Starts the platform as `make run` does (bench/platform_harness.py: store, Redis, gunicorn, one
`python worker.py`). For each worker configuration (CAPTION_BATCH_SIZE:CAPTION_ENCODER; "default"
leaves CAPTION_ENCODER unset), each round uploads `--photos` Flickr8k test photos through the API
(4 client threads, as fast as the web accepts them) and waits until every caption is visible.

- end to end: photos / (first upload sent -> last caption visible): uploads and worker share
  the cores, as in production;
- drain: photos / (first claim -> last caption written), from the worker's timestamps.

The reference is the bare fp32 Keras VGG16 conv base on already-preprocessed batches of 8, in
its own process, measured before the first round and after every round while the platform
idles (interleaved). Ratio = end-to-end photos/s / median reference photos/s. Target >= 1.5,
goal 2.5 (issue 12). The machine is shared: only the ratios are meaningful.

Writes bench/results/worker.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from platform_harness import RunningPlatform, flickr_photos  # noqa: E402

RESULTS = ROOT / "bench" / "results"
REFERENCE_BATCH = 8


def reference_encoder_loop(data_dir: str, photos: int) -> None:
    """Child process: load the fp32 encoder once; print photos/s (batch 8) each time a line arrives."""
    import numpy as np

    from captioner.encoder_runtime import load_runtime
    from captioner.preprocess import encoder_input

    arrays = np.stack([encoder_input(data) for _, data in flickr_photos(photos, Path(data_dir))])
    encoder = load_runtime("fp32")
    encoder(arrays[:REFERENCE_BATCH])  # warm-up: graph tracing
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        for begin in range(0, len(arrays), REFERENCE_BATCH):
            encoder(arrays[begin: begin + REFERENCE_BATCH])
        print(json.dumps({"photos_per_s": len(arrays) / (time.perf_counter() - start)}), flush=True)


class ReferenceEncoder:
    def __init__(self, data_dir: str, photos: int):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--reference-child", "--data", data_dir, "--photos", str(photos)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the reference encoder did not start")
        self.rates: list[float] = []

    def measure(self) -> float:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        rate = json.loads(self.process.stdout.readline())["photos_per_s"]
        self.rates.append(rate)
        return rate

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def backlog_round(platform: RunningPlatform, api, photos: list[tuple[str, bytes]], clients: int = 4) -> dict:
    """Upload every photo through the API, wait until all are captioned; rates and timings."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        uploaded = list(pool.map(lambda photo: api.upload(*photo), photos))
    uploads_done = time.perf_counter() - started
    pending = {photo["id"] for photo in uploaded}
    failed = 0
    deadline = time.monotonic() + 900
    while pending:
        for photo_id in list(pending):
            status = api.photo(photo_id)["caption_status"]
            if status in ("done", "failed"):
                pending.discard(photo_id)
                failed += status == "failed"
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} photos still not captioned after 15 minutes")
        time.sleep(0.05)
    end_to_end = time.perf_counter() - started
    ids = {photo["id"] for photo in uploaded}
    docs = [d for d in platform.photo_documents({"caption_started_at": 1, "caption_finished_at": 1,
                                                 "caption_timings": 1}) if str(d["_id"]) in ids]
    first_claim = min(d["caption_started_at"] for d in docs)
    last_done = max(d["caption_finished_at"] for d in docs)
    drain = (last_done - first_claim).total_seconds()
    return {"photos": len(photos), "failed": failed, "uploads_s": round(uploads_done, 2),
            "end_to_end_s": round(end_to_end, 2), "end_to_end_photos_per_s": round(len(photos) / end_to_end, 3),
            "drain_s": round(drain, 2), "drain_photos_per_s": round(len(photos) / drain, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint dir (default: the shipped model)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--configs", default="8:default,1:fp32",
                        help="worker configurations BATCH:ENCODER, comma separated (first = the product's)")
    parser.add_argument("--out", default=str(RESULTS / "worker.json"))
    parser.add_argument("--reference-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_child:
        reference_encoder_loop(args.data, args.photos)
        return 0
    if args.model is None:
        from captioner import DEFAULT_MODEL_DIR

        args.model = str(DEFAULT_MODEL_DIR)

    configs = []
    for item in args.configs.split(","):
        batch, encoder = item.split(":")
        env = {"CAPTION_BATCH_SIZE": batch, **({} if encoder == "default" else {"CAPTION_ENCODER": encoder})}
        configs.append((f"batch {batch}, encoder {encoder}", env))

    report = {"what": __doc__.splitlines()[0], "cpu_count": os.cpu_count(), "photos_per_round": args.photos,
              "rounds": args.rounds, "load_average_start": round(os.getloadavg()[0], 2), "configs": {}}
    reference = ReferenceEncoder(args.data, args.photos)
    try:
        with RunningPlatform(args.model, worker_env=configs[0][1]) as platform:
            api = platform.api_client()
            reference.measure()
            offset = 0
            for index, (label, env) in enumerate(configs):
                startup_s = platform.restart_worker(env) if index else None
                rounds = []
                for _ in range(args.rounds):
                    rounds.append(backlog_round(platform, api, flickr_photos(args.photos, Path(args.data), offset)))
                    offset += args.photos
                    reference.measure()
                    print(f"{label}: {rounds[-1]}", flush=True)
                report["configs"][label] = {
                    "env": env, "worker_start_s": round(startup_s, 1) if startup_s else None, "rounds": rounds,
                    "end_to_end_photos_per_s": round(statistics.median(r["end_to_end_photos_per_s"] for r in rounds), 3),
                    "drain_photos_per_s": round(statistics.median(r["drain_photos_per_s"] for r in rounds), 3),
                    "resident_memory_mb": platform.resident_memory_mb(),
                }
    finally:
        reference.close()
    encoder_rate = statistics.median(reference.rates)
    report["reference_fp32_encoder_batch8_photos_per_s"] = round(encoder_rate, 3)
    report["reference_samples"] = [round(r, 3) for r in reference.rates]
    for row in report["configs"].values():
        row["end_to_end_over_encoder"] = round(row["end_to_end_photos_per_s"] / encoder_rate, 3)
        row["drain_over_encoder"] = round(row["drain_photos_per_s"] / encoder_rate, 3)
    report["target"], report["goal"] = 1.5, 2.5
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
