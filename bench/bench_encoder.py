"""Encoder runtimes (fp32 / bf16 / int8) measured in one run, interleaved, plus their caption quality.

    .venv/bin/python bench/bench_encoder.py                 # speed: ~10 min on 2 busy cores
    .venv/bin/python bench/bench_encoder.py --quality       # + Flickr8k test BLEU-4 / CIDEr per runtime
                                                            #   (1,000 photos each; resumes where it stopped)

Speed: photos/s of each bare encoder runtime on preprocessed batches of 1 and 8, and of
`Captioner.caption` (JPEG decode + preprocess + encoder + beam 3) on the same photos, as a ratio to
its own encoder. Rounds are interleaved (each round runs every runtime, in a rotated order), so
load from other processes on the machine falls on all runtimes alike; medians are reported.
Quality: the full captioner (shipped decoder, beam 3) on the test split with each runtime;
captions are appended to runs/encoder_quality/<runtime>.jsonl, so an interrupted run resumes.

Writes bench/results/encoder.json, encoder.md and encoder.png; the default runtime is the fastest
(batch 8) whose test BLEU-4 is at most 0.005 below fp32's.
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
from captioner.encoder_runtime import DEFAULT_RUNTIME, RUNTIMES, load_runtime  # noqa: E402

RESULTS = ROOT / "bench" / "results"
QUALITY_DIR = ROOT / "runs" / "encoder_quality"
MAX_BLEU4_DROP = 0.005
BATCHES = (1, 8)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def timed_rate(fn, items: list, batch: int) -> float:
    """Photos/s of fn over `items` in chunks of `batch`."""
    start = time.perf_counter()
    for begin in range(0, len(items), batch):
        fn(items[begin: begin + batch])
    return len(items) / (time.perf_counter() - start)


def measure_speed(model_dir: Path, photos: list[bytes], runtimes: tuple[str, ...], rounds: int, log) -> dict:
    from captioner.inference import Captioner
    from captioner.preprocess import encoder_input

    arrays = np.stack([encoder_input(p) for p in photos])
    encoders = {name: load_runtime(name) for name in runtimes}
    captioners = {name: Captioner.load(model_dir, encoder=encoders[name]) for name in runtimes}
    for name in runtimes:  # warm-up: graph tracing, session arenas, first-call allocations
        for batch in BATCHES:
            encoders[name](arrays[:batch])
            captioners[name].caption(photos[:batch], batch_size=batch)
    samples = {(name, part, batch): [] for name in runtimes for part in ("encoder", "caption") for batch in BATCHES}
    for round_index in range(rounds):
        order = runtimes[round_index % len(runtimes):] + runtimes[: round_index % len(runtimes)]
        for name in order:
            for batch in BATCHES:
                rate = timed_rate(lambda chunk: encoders[name](np.stack(chunk)), list(arrays), batch)
                samples[(name, "encoder", batch)].append(rate)
                rate = timed_rate(lambda chunk: captioners[name].caption(chunk, batch_size=batch), photos, batch)
                samples[(name, "caption", batch)].append(rate)
        log(f"round {round_index + 1}/{rounds} done, load average {load_average()}")
    speed = {}
    for name in runtimes:
        row = {}
        for batch in BATCHES:
            encoder_rate = statistics.median(samples[(name, "encoder", batch)])
            caption_rate = statistics.median(samples[(name, "caption", batch)])
            row[f"encoder_b{batch}"] = round(encoder_rate, 3)
            row[f"caption_b{batch}"] = round(caption_rate, 3)
            row[f"caption_to_encoder_b{batch}"] = round(caption_rate / encoder_rate, 3)
            row[f"encoder_b{batch}_rounds"] = [round(x, 3) for x in samples[(name, "encoder", batch)]]
        speed[name] = row
    for name in runtimes:
        for batch in BATCHES:
            speed[name][f"encoder_b{batch}_vs_fp32"] = round(
                speed[name][f"encoder_b{batch}"] / speed["fp32"][f"encoder_b{batch}"], 3) if "fp32" in speed else None
    return speed


def measure_feature_error(photos: list[bytes], runtimes: tuple[str, ...]) -> dict:
    """Relative L2 error of each runtime's block5_pool features against fp32, per photo: mean and worst."""
    from captioner.preprocess import encoder_input

    arrays = np.stack([encoder_input(p) for p in photos])
    reference = load_runtime("fp32")(arrays)
    errors = {}
    for name in runtimes:
        features = load_runtime(name)(arrays)
        per_photo = [float(np.linalg.norm(f - r) / np.linalg.norm(r)) for f, r in zip(features, reference)]
        errors[name] = {"mean": round(float(np.mean(per_photo)), 5), "max": round(max(per_photo), 5)}
    return errors


def read_captions(path: Path) -> dict[str, str]:
    captions = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interruption: captioned again
            captions[row["image"]] = row["caption"]
    return captions


def caption_split(model_dir: Path, names: list[str], image_path, runtime: str, log) -> dict[str, str]:
    """Beam-3 captions of `names` with `runtime`; appended to runs/encoder_quality/<runtime>.jsonl
    as they come, so an interrupted run resumes where it stopped."""
    from captioner.inference import Captioner
    from captioner.preprocess import encoder_input

    QUALITY_DIR.mkdir(parents=True, exist_ok=True)
    out = QUALITY_DIR / f"{runtime}.jsonl"
    done = read_captions(out)
    todo = [n for n in names if n not in done]
    if todo:
        captioner = Captioner.load(model_dir, encoder_runtime=runtime)
        started = time.perf_counter()
        with open(out, "a") as handle:
            for begin in range(0, len(todo), 8):
                chunk = todo[begin: begin + 8]
                features = captioner.encode(np.stack([encoder_input(image_path(n)) for n in chunk]))
                for name, hyps in zip(chunk, captioner.caption_features(features)):
                    done[name] = " ".join(hyps[0].words)
                    handle.write(json.dumps({"image": name, "caption": done[name]}) + "\n")
                handle.flush()
                if begin % 200 == 0:
                    log(f"{runtime}: {len(done)}/{len(names)} captioned")
        log(f"{runtime}: {len(todo)} photos in {time.perf_counter() - started:.0f} s")
    return done


def with_reference(captions: dict[str, str], reference: Path, names: list[str]) -> tuple[dict[str, str], int]:
    """fp32 captions completed from the shipped fp32 captions (computed on cached fp32 features),
    allowed only if every photo captioned here from its image got exactly the shipped caption."""
    shipped = read_captions(reference)
    differ = [n for n in captions if n in shipped and shipped[n] != captions[n]]
    if differ:
        raise SystemExit(f"{len(differ)} fp32 captions differ from {reference}, e.g. {differ[0]}: not a valid reference")
    checked = sum(n in captions for n in names)
    return {n: captions.get(n, shipped.get(n)) for n in names if n in captions or n in shipped}, checked


def score(references: dict[str, list[str]], captions: dict[str, str], names: list[str]) -> dict:
    from captioner.evaluate import coco_metrics

    metrics = coco_metrics({n: references[n] for n in names}, {n: captions[n] for n in names}, meteor=False)
    return {"images": len(names), "BLEU-4": metrics["BLEU-4"], "CIDEr": metrics["CIDEr"], "metrics": metrics}


def measure_quality(args, runtimes: tuple[str, ...], log) -> dict:
    from captioner.data import load_flickr8k

    dataset = load_flickr8k(args.data)
    names = dataset.split("test")[: args.limit]
    captions, notes = {}, {}
    for name in runtimes:
        if args.no_new_captions:
            captions[name] = {n: c for n, c in read_captions(QUALITY_DIR / f"{name}.jsonl").items() if n in names}
        else:
            captions[name] = caption_split(Path(args.model), names, dataset.image_path, name, log)
        if name == "fp32" and args.fp32_reference:
            captions[name], checked = with_reference(captions[name], Path(args.fp32_reference), names)
            notes[name] = (f"{checked} photos captioned from their images by this script, identical to the shipped "
                           f"fp32 captions ({Path(args.fp32_reference).name}); the others taken from that file")
    quality = {}
    for name in runtimes:
        covered = [n for n in names if n in captions[name]]
        if not covered:
            log(f"{name}: no captions yet, no quality figures")
            continue
        quality[name] = score(dataset.captions, captions[name], covered)
        if name in notes:
            quality[name]["note"] = notes[name]
        if "fp32" in captions and name != "fp32":  # a low-noise view of the same question as BLEU
            shared = [n for n in covered if n in captions["fp32"]]
            quality[name]["same_caption_as_fp32"] = f"{sum(captions[name][n] == captions['fp32'][n] for n in shared)}/{len(shared)}"
    common = [n for n in names if all(n in captions[name] for name in quality)]
    result = {"quality": quality}
    if any(len(common) != q["images"] for q in quality.values()) and common:
        result["quality_common"] = {name: score(dataset.captions, captions[name], common) for name in runtimes}
    return result


def bleu4_drop(report: dict, name: str) -> float | None:
    """fp32 BLEU-4 minus `name`'s, on the same photos (the common subset when a run was cut short)."""
    quality = report.get("quality", {})
    if name not in quality or "fp32" not in quality:
        return None
    if quality[name]["images"] != quality["fp32"]["images"]:
        quality = report.get("quality_common", {})
    return round(quality["fp32"]["BLEU-4"] - quality[name]["BLEU-4"], 4)


def choose_default(report: dict) -> str | None:
    speed = report.get("speed", {})
    eligible = [name for name in speed
                if (drop := bleu4_drop(report, name)) is not None and drop <= MAX_BLEU4_DROP]
    return max(eligible, key=lambda name: speed[name]["encoder_b8"]) if eligible else None


def round_spread(speed: dict, name: str) -> str:
    """The same ratio within each interleaved round (all runtimes under the same load): its range."""
    ratios = [a / b for a, b in zip(speed[name].get("encoder_b8_rounds", []), speed["fp32"].get("encoder_b8_rounds", []))]
    return "" if name == "fp32" or not ratios else f" (rounds {min(ratios):.2f}–{max(ratios):.2f})"


def error_text(report: dict, name: str) -> str:
    error = report.get("feature_error_vs_fp32", {}).get(name)
    return "–" if error is None else f"{100 * error['mean']:.2f} % / {100 * error['max']:.2f} %"


def write_markdown(report: dict, path: Path) -> None:
    speed, quality = report["speed"], report.get("quality", {})
    lines = [
        f"# Encoder runtimes ({report['cores']} CPU cores, {report['cpu']})", "",
        f"One run, {report['rounds']} interleaved rounds over {report['photos']} Flickr8k test photos; medians. "
        f"Load average {report['load_average_start']} at the start, {report['load_average_end']} at the end "
        "(the machine was shared with training jobs: compare ratios, not absolute numbers).", "",
        "| Runtime | Encoder b1 (photos/s) | Encoder b8 | b8 vs fp32 | Caption b1 | Caption b8 | "
        "Caption/encoder b1 | Caption/encoder b8 | Feature error vs fp32 (mean / worst) | Test BLEU-4 | "
        "Test CIDEr-D | BLEU-4 drop vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in speed.items():
        q = quality.get(name, {})
        mark = " **(default)**" if name == report.get("default") else ""
        photos = f" ({q['images']} photos)" if q else ""
        drop = bleu4_drop(report, name)
        lines.append(
            f"| {name}{mark} | {row['encoder_b1']:.2f} | {row['encoder_b8']:.2f} | {row['encoder_b8_vs_fp32']:.2f}×"
            f"{round_spread(speed, name)} | "
            f"{row['caption_b1']:.2f} | {row['caption_b8']:.2f} | {row['caption_to_encoder_b1']:.2f} | "
            f"{row['caption_to_encoder_b8']:.2f} | {error_text(report, name)} | {q.get('BLEU-4', '–')}{photos} | "
            f"{q.get('CIDEr', '–')} | "
            f"{'–' if drop is None else drop} |")
    if quality:
        lines += ["", "Quality: Flickr8k test, shipped decoder, beam 3, BLEU-4 and CIDEr-D from pycocoevalcap "
                  "(`--quality`). Default = fastest runtime (encoder, batch 8) whose BLEU-4 is at most "
                  f"{MAX_BLEU4_DROP} below fp32's on the same photos: **{report.get('default')}**."]
        lines += [f"- {name}: {q['note']}" for name, q in quality.items() if q.get("note")]
        lines += [f"- {name}: word-for-word the fp32 caption on {q['same_caption_as_fp32']} photos"
                  for name, q in quality.items() if q.get("same_caption_as_fp32")]
    common = report.get("quality_common")
    if common:
        n = next(iter(common.values()))["images"]
        lines += ["", f"Same {n} test photos for every runtime (the first {n} of the split):", "",
                  "| Runtime | BLEU-4 | CIDEr-D |", "|---|---|---|"]
        lines += [f"| {name} | {q['BLEU-4']} | {q['CIDEr']} |" for name, q in common.items()]
    path.write_text("\n".join(lines) + "\n")


def write_chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = report["speed"]
    names = list(speed)
    bars = [("encoder_b1", "encoder, batch 1"), ("encoder_b8", "encoder, batch 8"),
            ("caption_b1", "Captioner.caption, batch 1"), ("caption_b8", "Captioner.caption, batch 8")]
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    width = 0.8 / len(bars)
    for i, (key, label) in enumerate(bars):
        values = [speed[n][key] for n in names]
        ax.bar(np.arange(len(names)) + (i - (len(bars) - 1) / 2) * width, values, width, label=label)
    quality = report.get("quality", {})
    labels = [n + (" (default)" if n == report.get("default") else "")
              + (f"\ntest BLEU-4 {quality[n]['BLEU-4']:.4f}, CIDEr {quality[n]['CIDEr']:.3f}"
                 f"\n({quality[n]['images']} photos)" if n in quality else "")
              for n in names]
    ax.set_xticks(np.arange(len(names)), labels, fontsize=8)
    ax.set_ylabel("photos/s (median of interleaved rounds)")
    ax.set_title(f"VGG16 encoder runtimes, {report['cores']} shared CPU cores, one run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="also caption the test split with each runtime")
    parser.add_argument("--quality-only", action="store_true", help="only the quality part; keep the speed figures")
    parser.add_argument("--limit", type=int, default=None, help="test photos for --quality (default: all 1,000)")
    parser.add_argument("--no-new-captions", action="store_true",
                        help="score only the captions already in runs/encoder_quality (a run cut short)")
    parser.add_argument("--fp32-reference", default=None,
                        help="shipped fp32 captions (JSON lines) completing the fp32 run, checked on its overlap")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    runtimes = tuple(name.strip() for name in args.runtimes.split(",") if name.strip())
    unknown = [name for name in runtimes if name not in RUNTIMES]
    if unknown or not runtimes or ("fp32" not in runtimes and not args.quality_only):
        parser.error(f"--runtimes: names from {RUNTIMES}, fp32 among them (the reference), got {runtimes}")
    data = Path(args.data)
    if not (data / "Images").is_dir():
        parser.error(f"Flickr8k not found at {data} (pass --data)")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / "encoder.json"
    previous = json.loads(report_path.read_text()) if report_path.exists() else {}

    if args.quality_only:
        report = previous  # keeps the speed figures of an earlier run, if any
    else:
        from captioner.data import load_flickr8k

        dataset = load_flickr8k(data)
        photos = [dataset.image_path(n).read_bytes() for n in dataset.split("test")[: args.photos]]
        report = {"cores": os.cpu_count(), "cpu": cpu_name(), "photos": len(photos), "rounds": args.rounds,
                  "load_average_start": load_average(), "model_dir": Path(args.model).name}
        report["speed"] = measure_speed(Path(args.model), photos, runtimes, args.rounds, log)
        report["feature_error_vs_fp32"] = measure_feature_error(photos, runtimes)
        report["load_average_end"] = load_average()
        report["quality"] = previous.get("quality", {})
    if args.quality_only and "speed" in report and "feature_error_vs_fp32" not in report:
        from captioner.data import load_flickr8k

        names = load_flickr8k(data).split("test")[: report["photos"]]
        photos = [load_flickr8k(data).image_path(n).read_bytes() for n in names]
        report["feature_error_vs_fp32"] = measure_feature_error(photos, tuple(report["speed"]))
    if args.quality or args.quality_only:
        report.pop("quality_common", None)
        report.update(measure_quality(args, runtimes, log))
    report["default"] = choose_default(report)
    report["default_in_code"] = DEFAULT_RUNTIME
    report_path.write_text(json.dumps(report, indent=1) + "\n")
    if "speed" not in report:
        print(json.dumps(report, indent=1))
        return 0
    write_markdown(report, out_dir / "encoder.md")
    write_chart(report, out_dir / "encoder.png")
    print((out_dir / "encoder.md").read_text())
    return 0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                flags = next((f for f in Path("/proc/cpuinfo").read_text().splitlines() if f.startswith("flags")), "")
                extras = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
                return f"{name}; {' '.join(extras)}"
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
