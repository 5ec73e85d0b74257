"""Which stored image should the worker feed the model? Display (1600 px) vs thumbnail (400 px).

    .venv/bin/python bench/bench_model_input.py [--images 100] [--upscale 1600]

Each Flickr8k test photo goes through the real upload derivation (photoshare.services.images),
then the shipped captioner (default encoder runtime) captions its display image and its
thumbnail. The photos are 224 px, so each is also upscaled to `--upscale` px on its long side
first (a camera-sized upload, where display and thumbnail really differ in size): those rows
exercise the resampling path the worker sees in production. Reported per variant: captions
identical to the display image's, the relative feature difference, and the worker's cost of
reading + decoding + preprocessing the image (ms per photo, measured interleaved in one run).

Writes bench/results/model_input.json.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "platform"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from captioner import DEFAULT_MODEL_DIR  # noqa: E402
from captioner.data import load_flickr8k  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def upscaled(data: bytes, long_side: int) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = long_side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * 0.75 * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def compare(captioner, uploads: list[bytes], limits) -> dict:
    from captioner.preprocess import encoder_input
    from photoshare.services.images import process_image

    variants = {"display": [], "thumbnail": []}
    for data in uploads:
        processed = process_image(data, limits)
        variants["display"].append(processed.display.data)
        variants["thumbnail"].append(processed.thumbnail.data)
    cost = {name: [] for name in variants}
    for _ in range(3):  # interleaved rounds: machine load hits both alike
        for name, images in variants.items():
            start = time.perf_counter()
            for image in images:
                encoder_input(image)
            cost[name].append((time.perf_counter() - start) * 1000 / len(images))
    captions, features = {}, {}
    for name, images in variants.items():
        captions[name] = [r.caption for r in captioner.caption(images)]
        features[name] = captioner.encode(np.stack([encoder_input(i) for i in images]))
    reference = features["display"]
    report = {}
    for name in variants:
        diff = np.linalg.norm((features[name] - reference).reshape(len(uploads), -1), axis=1)
        norm = np.linalg.norm(reference.reshape(len(uploads), -1), axis=1)
        same = sum(a == b for a, b in zip(captions[name], captions["display"]))
        report[name] = {
            "size_px": max(Image.open(io.BytesIO(variants[name][0])).size),
            "bytes_mean": round(statistics.mean(len(i) for i in variants[name])),
            "decode_preprocess_ms": round(statistics.median(cost[name]), 2),
            "captions_same_as_display": f"{same}/{len(uploads)}",
            "feature_rel_diff_mean": round(float(np.mean(diff / norm)), 4),
        }
    report["examples"] = [{"display": d, "thumbnail": t} for d, t in
                          zip(captions["display"][:5], captions["thumbnail"][:5])]
    report["differing"] = [{"display": d, "thumbnail": t} for d, t in
                           zip(captions["display"], captions["thumbnail"]) if d != t]
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--upscale", type=int, default=1600)
    parser.add_argument("--out", default=str(RESULTS / "model_input.json"))
    args = parser.parse_args()

    from captioner.inference import Captioner
    from photoshare.services.images import ImageLimits

    data = load_flickr8k(args.data)
    originals = [data.image_path(n).read_bytes() for n in data.split("test")[: args.images]]
    limits = ImageLimits(max_bytes=50 * 2**20, max_pixels=50_000_000)
    captioner = Captioner.load(args.model)
    report = {
        "what": "captions of the display image vs the thumbnail, after the real upload derivation",
        "model_version": captioner.model_version, "encoder_runtime": captioner.encoder_runtime,
        "photos": len(originals), "cpu_count": os.cpu_count(),
        "flickr8k_224px": compare(captioner, originals, limits),
        f"upscaled_{args.upscale}px": compare(captioner, [upscaled(o, args.upscale) for o in originals], limits),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items()}, indent=2)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
