"""bench/results/SUMMARY.md and summary.png from the JSON files the benchmarks wrote (bench/run_all.py).

Each section reads one file and says so when it is missing; figures are copied, never recomputed,
so the summary shows exactly what each benchmark measured in its own run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

RUNTIMES = ("fp32", "bf16", "int8")


def _load(results: Path, name: str) -> dict | None:
    path = results / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("—" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _encoder(data: dict | None) -> list[str]:
    out = ["## Encoder runtimes and `Captioner.caption` (bench_encoder.py)", ""]
    speed = (data or {}).get("speed")
    if not speed:
        return out + ["Not measured (bench/results/encoder.json missing).", ""]
    rows = []
    for name in [r for r in RUNTIMES if r in speed]:
        row = speed[name]
        rows.append([name, row.get("encoder_b1"), row.get("encoder_b8"), row.get("encoder_b8_vs_fp32"),
                     row.get("caption_b1"), row.get("caption_b8"), row.get("caption_to_encoder_b1"),
                     row.get("caption_to_encoder_b8")])
    out += ["Photos/s, medians of interleaved rounds in one run.", ""]
    out += _table(["runtime", "encoder b1", "encoder b8", "encoder b8 / fp32", "caption b1", "caption b8",
                   "caption / encoder b1", "caption / encoder b8"], rows)
    default = data.get("default_runtime") or data.get("default")
    if default:
        out += [f"Default runtime: `{default}`.", ""]
    return out


def _captioner(data: dict | None) -> list[str]:
    out = ["## Captioner vs its own encoder (bench_captioner.py)", ""]
    if not data:
        return out + ["Not measured (bench/results/captioner.json missing).", ""]
    return out + _table(["encoder photos/s (b8)", "captioner photos/s (b8)", "ratio", "single image p50 s", "p95 s"],
                        [[data.get("encoder_photos_per_s"), data.get("captioner_photos_per_s"), data.get("ratio"),
                          data.get("single_image_latency_p50_s"), data.get("single_image_latency_p95_s")]])


def _worker(data: dict | None) -> list[str]:
    out = ["## Worker end to end: backlog uploaded through the API (bench_worker.py)", ""]
    if not data:
        return out + ["Not measured (bench/results/worker.json missing).", ""]
    reference = data.get("reference_fp32_encoder_batch8_photos_per_s")
    out += [f"{data.get('photos_per_round')} photos a round, {data.get('rounds')} rounds per configuration. "
            f"Reference: the bare fp32 Keras encoder at batch 8 in its own process, {reference} photos/s "
            f"(median of {data.get('reference_samples')}, measured between the rounds). Target ratio "
            f"{data.get('target')}, goal {data.get('goal')}.", ""]
    rows = [[label, row["end_to_end_photos_per_s"], row["end_to_end_over_encoder"], row["drain_photos_per_s"],
             row["drain_over_encoder"], row["resident_memory_mb"].get("worker"), row["resident_memory_mb"].get("web")]
            for label, row in data.get("configs", {}).items()]
    return out + _table(["worker", "end to end photos/s", "÷ fp32 encoder b8", "drain photos/s",
                         "÷ fp32 encoder b8", "worker RSS MB", "web RSS MB"], rows)


def _latency(data: dict | None) -> list[str]:
    out = ["## Upload → caption visible on an idle worker (bench_upload_to_caption.py)", ""]
    if not data:
        return out + ["Not measured (bench/results/upload_to_caption.json missing).", ""]
    memory = data.get("resident_memory_mb", {})
    return out + _table(["photos", "p50 s", "p95 s", "goal p50 s", "upload request p50 s", "queue wait p50 s",
                         "model p50 s", "RSS MB web / worker / store"],
                        [[data["photos"], data["p50_s"], data["p95_s"], data.get("goal_p50_s"),
                          data.get("upload_request_p50_s"), data.get("queue_wait_p50_s"), data.get("model_p50_s"),
                          f"{memory.get('web')} / {memory.get('worker')} / {memory.get('store')}"]])


def _upload_cpu(data: dict | None) -> list[str]:
    out = ["## Upload CPU, derivation before vs after (bench_upload_cpu.py)", ""]
    if not data:
        return out + ["Not measured (bench/results/upload_cpu.json missing).", ""]
    rows = [[label, "process_image", r["before_cpu_ms"], r["after_cpu_ms"], r["after_over_before"]]
            for label, r in data["process_image"].items()]
    rows += [[label, "API upload, web process", r["before_web_cpu_ms"], r["after_web_cpu_ms"],
              r["web_after_over_before"]] for label, r in data["api_upload_request"].items()]
    return out + ["CPU ms per photo (time.process_time), medians, interleaved in one run; before = "
                  f"services/images.py at {data.get('before_revision')}.", ""] + \
        _table(["photo", "what", "before ms", "after ms", "after / before"], rows)


def _model_input(data: dict | None) -> list[str]:
    out = ["## Model input: thumbnail vs display image (bench_model_input.py)", ""]
    if not data:
        return out + ["Not measured (bench/results/model_input.json missing).", ""]
    rows = []
    for group in [k for k in data if k.startswith(("flickr8k", "upscaled"))]:
        for variant in ("display", "thumbnail"):
            r = data[group][variant]
            rows.append([group, variant, r["size_px"], r["bytes_mean"], r["decode_preprocess_ms"],
                         r["captions_same_as_display"], r["feature_rel_diff_mean"]])
    return out + _table(["photos", "variant", "px", "bytes", "decode+preprocess ms", "same caption as display",
                         "feature rel. diff"], rows)


def _chart(results: Path, encoder: dict | None, worker: dict | None, latency: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    speed = (encoder or {}).get("speed", {})
    for ax, part, title in ((axes[0], "encoder", "Encoder photos/s"), (axes[1], "caption", "Captioner.caption photos/s")):
        names = [r for r in RUNTIMES if r in speed]
        if names:
            for offset, batch in ((-0.2, 1), (0.2, 8)):
                values = [speed[n].get(f"{part}_b{batch}") or 0 for n in names]
                ax.bar([i + offset for i in range(len(names))], values, width=0.4, label=f"batch {batch}")
            ax.set_xticks(range(len(names)), names)
            ax.legend()
        else:
            ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        ax.set_title(title)
    ax = axes[2]
    configs = (worker or {}).get("configs", {})
    if configs:
        reference = worker["reference_fp32_encoder_batch8_photos_per_s"]
        labels = ["fp32 encoder b8\n(reference)"] + [label.replace(", ", "\n") for label in configs]
        values = [reference] + [row["end_to_end_photos_per_s"] for row in configs.values()]
        ax.bar(range(len(values)), values, color=["grey"] + ["C2"] * len(configs))
        ax.axhline(1.5 * reference, color="C3", linestyle="--", label="target 1.5 x reference")
        ax.set_xticks(range(len(values)), labels, fontsize=8)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
    title = "Worker end to end photos/s (API backlog)"
    if latency:
        title += f"\nidle upload->caption p50 {latency['p50_s']} s, p95 {latency['p95_s']} s"
    ax.set_title(title, fontsize=10)
    fig.suptitle(f"PhotoCaption benchmarks, {time.strftime('%Y-%m-%d')}, shared machine: compare ratios within a run")
    fig.tight_layout()
    fig.savefig(results / "summary.png", dpi=110)
    plt.close(fig)


def write_summary(results: Path, cpu_count: int | None) -> None:
    encoder, worker, latency = _load(results, "encoder"), _load(results, "worker"), _load(results, "upload_to_caption")
    runs = _load(results, "runs") or {}
    lines = ["# Benchmark summary", "",
             f"Written by `make bench` (bench/run_all.py), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Machine: **{cpu_count} CPU cores**, shared with other work while measuring: absolute rates drift, "
             "so every comparison below is a ratio measured within one run (interleaved rounds).", "",
             "![summary](summary.png)", ""]
    lines += _encoder(encoder) + _captioner(_load(results, "captioner")) + _worker(worker) + _latency(latency)
    lines += _upload_cpu(_load(results, "upload_cpu")) + _model_input(_load(results, "model_input"))
    if runs:
        lines += ["## Runs", ""] + _table(["benchmark", "status", "seconds", "finished", "wrote"],
                                          [[f"bench_{name}.py", r["status"], r["seconds"], r.get("finished_at"),
                                            ", ".join(r["wrote"])] for name, r in sorted(runs.items())])
    (results / "SUMMARY.md").write_text("\n".join(lines))
    _chart(results, encoder, worker, latency)
