"""Captioner throughput against the bare encoder, measured in one run on the same images.

    .venv/bin/python bench/bench_captioner.py [--model DIR] [--images 32] [--rounds 3]

Reports photos/s of `Captioner.caption` at batch 8 (decode + preprocess + VGG16 + beam search),
photos/s of the bare VGG16 conv base on the already-preprocessed batch, their ratio (target
>= 0.85), and the warm single-image latency (p50, p95).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from captioner import DEFAULT_MODEL_DIR  # noqa: E402
from captioner.data import load_flickr8k  # noqa: E402
from captioner.preprocess import encoder_input  # noqa: E402
from captioner.inference import Captioner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    data = load_flickr8k(args.data)
    photos = [data.image_path(n).read_bytes() for n in data.split("test")[: args.images]]
    captioner = Captioner.load(args.model)
    batch = args.batch_size

    # Warm both paths (graph tracing, first-call allocations) before timing.
    captioner.caption(photos[:batch])
    captioner.encode(np.stack([encoder_input(p) for p in photos[:batch]]))
    arrays = [np.stack([encoder_input(p) for p in photos[i: i + batch]]) for i in range(0, len(photos), batch)]

    encoder_rates, captioner_rates = [], []
    for _ in range(args.rounds):  # interleaved, so load on the machine hits both alike
        start = time.perf_counter()
        for chunk in arrays:
            captioner.encode(chunk)
        encoder_rates.append(len(photos) / (time.perf_counter() - start))
        start = time.perf_counter()
        for i in range(0, len(photos), batch):
            captioner.caption(photos[i: i + batch], batch_size=batch)
        captioner_rates.append(len(photos) / (time.perf_counter() - start))

    latencies = []
    for photo in photos[:20]:
        start = time.perf_counter()
        captioner.caption([photo])
        latencies.append(time.perf_counter() - start)

    encoder_rate, captioner_rate = statistics.median(encoder_rates), statistics.median(captioner_rates)
    report = {
        "model_version": captioner.model_version,
        "images": len(photos), "batch_size": batch, "rounds": args.rounds,
        "encoder_photos_per_s": round(encoder_rate, 2),
        "captioner_photos_per_s": round(captioner_rate, 2),
        "ratio": round(captioner_rate / encoder_rate, 3),
        "ratio_target": 0.85,
        "single_image_latency_p50_s": round(statistics.median(latencies), 3),
        "single_image_latency_p95_s": round(float(np.percentile(latencies, 95)), 3),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
