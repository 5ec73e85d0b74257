"""Last stage of `recipe_v2.sh`: measure the ensemble on dev, time it, choose, then test once.

    python -m captioner.finish_v2 --work runs/v2 --data ../shared/flickr8k

Each step writes one JSON file in --work and is skipped when that file exists, so the stage
resumes. Last, the selected decoder and its records are copied into captioner/models/attention-v2
(without making it the default: that waits for the model card and the targets). The decision rule is fixed before any test number exists: the 2-decoder ensemble is
used only if it gains at least `MIN_CIDER_GAIN` dev CIDEr-D over the single decoder (both with
the decoding dev chose) and its warm single-photo latency stays within `MAX_LATENCY_RATIO` of
attention-v1's, measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from captioner.paths import PACKAGE_DIR

MIN_CIDER_GAIN = 0.01
MAX_LATENCY_RATIO = 1.3
V1_DIR = PACKAGE_DIR / "models" / "attention-v1"
V2_DIR = PACKAGE_DIR / "models" / "attention-v2"
# What the model folder keeps: the decoder, and the records the model card quotes.
PACKAGED = {"scst": ["config.json", "vocab.json", "decoder.npz", "scst_history.json", "scst_dev_curve.png"],
            "xe-flip": ["history.json", "training_curve.png"],
            ".": ["test_report.json", "test_captions.jsonl", "decision.json", "latency.json", "dev_single.json",
                  "dev_ensemble2.json"]}


def package(work: Path, target: Path = V2_DIR) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for folder, names in PACKAGED.items():
        for name in names:
            source = work / folder / name
            if source.exists():
                destination = target / (name if folder in ("scst", ".") else f"xe_{name}")
                shutil.copyfile(source, destination)
                copied.append(destination.name)
    return copied


def _once(path: Path, compute):
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    path.write_text(json.dumps(result, indent=2))
    return result


def decide(single: dict, ensemble: dict, latency: dict) -> dict:
    gain = ensemble["metrics"]["CIDEr"] - single["metrics"]["CIDEr"]
    ratios = {m["model"]: m["ratio_to_first"] for m in latency["models"]}
    ensemble_ratio = latency["models"][2]["ratio_to_first"]
    use = gain >= MIN_CIDER_GAIN and ensemble_ratio <= MAX_LATENCY_RATIO
    return {"ensemble_dev_cider_gain": round(gain, 4), "latency_ratios_to_v1": ratios, "use_ensemble": use,
            "rule": f"ensemble iff dev CIDEr-D gain >= {MIN_CIDER_GAIN} and latency <= {MAX_LATENCY_RATIO}x v1"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", default="runs/v2")
    parser.add_argument("--data", default="../shared/flickr8k")
    args = parser.parse_args(argv)

    from captioner.evaluate import evaluate
    from captioner.latency import compare_latency

    work = Path(args.work)
    single_dir, second_dir = work / "scst", work / "scst-seed2"
    single = _once(work / "dev_single.json", lambda: evaluate(single_dir, args.data, split="dev", meteor=False))
    ensemble = _once(work / "dev_ensemble2.json", lambda: evaluate(single_dir, args.data, split="dev", meteor=False,
                                                                   ensemble=[second_dir]))
    latency = _once(work / "latency.json", lambda: compare_latency(
        [[V1_DIR], [single_dir], [single_dir, second_dir]], args.data))
    decision = _once(work / "decision.json", lambda: decide(single, ensemble, latency))
    report = _once(work / "test_report.json", lambda: evaluate(
        single_dir, args.data, split="test", out=work / "test_captions.jsonl",
        ensemble=[second_dir] if decision["use_ensemble"] else None))
    copied = package(work)
    print(json.dumps({"decision": decision, "test": report, "packaged": copied}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
