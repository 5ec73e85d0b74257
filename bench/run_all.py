"""Run every benchmark in bench/, one at a time, then summarise: `make bench`.

    .venv/bin/python bench/run_all.py                    # every bench/bench_*.py, then the summary
    .venv/bin/python bench/run_all.py --only worker,upload_to_caption
    .venv/bin/python bench/run_all.py --summary-only     # rebuild SUMMARY.md and the chart

Benchmarks never run two at once (they would measure each other). Each runs with its default
(bounded, local) settings under a time limit; one that fails or times out is reported and the
rest still run. A script that only prints its JSON (bench_captioner) gets it saved as
bench/results/<name>.json. Then bench/results/SUMMARY.md (tables) and summary.png (chart) are
written from the JSON files present, with the machine's core count beside the figures.
The machine is shared: compare the ratios measured within one run, not absolute rates.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
# Benchmarks that need more than the default arguments (or fewer: bounded runs).
ARGUMENTS: dict[str, list[str]] = {}


def discover() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in BENCH.glob("bench_*.py"))


def last_json(text: str):
    """The last JSON object a script printed with json.dumps(..., indent=2), or None."""
    lines = text.splitlines()
    for start in reversed([i for i, line in enumerate(lines) if line == "{"]):
        end = next((j for j in range(start, len(lines)) if lines[j] == "}"), None)
        if end is not None:
            try:
                return json.loads("\n".join(lines[start: end + 1]))
            except json.JSONDecodeError:
                continue
    return None


def run(name: str, timeout_s: int, log_dir: Path) -> dict:
    script = BENCH / f"bench_{name}.py"
    before = {p: p.stat().st_mtime for p in RESULTS.glob("*.json")}
    started = time.monotonic()
    log_path = log_dir / f"{name}.log"
    try:
        completed = subprocess.run([sys.executable, str(script), *ARGUMENTS.get(name, [])], cwd=ROOT,
                                   capture_output=True, text=True, timeout=timeout_s)
        output, status = completed.stdout + completed.stderr, "ok" if completed.returncode == 0 else \
            f"exit {completed.returncode}"
    except subprocess.TimeoutExpired as error:
        output, status = (error.stdout or b"").decode() if isinstance(error.stdout, bytes) else (error.stdout or ""), \
            f"timed out after {timeout_s} s"
    log_path.write_text(output)
    # Only the files this script names: others may write results meanwhile (a shared tree).
    source = script.read_text()
    written = [p.name for p in RESULTS.glob("*.json") if before.get(p) != p.stat().st_mtime and p.name in source]
    if status == "ok" and not written:
        printed = last_json(output)
        if printed is not None:
            (RESULTS / f"{name}.json").write_text(json.dumps(printed, indent=2) + "\n")
            written = [f"{name}.json"]
    return {"status": status, "seconds": round(time.monotonic() - started, 1), "wrote": written,
            "log": str(log_path.relative_to(ROOT))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated names (bench_<name>.py)")
    parser.add_argument("--skip", default="", help="comma-separated names to leave out")
    parser.add_argument("--timeout", type=int, default=45 * 60, help="seconds per benchmark")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        names = [n for n in (args.only.split(",") if args.only else discover()) if n]
        names = [n for n in names if n not in set(args.skip.split(","))]
        log_dir = ROOT / "runs" / "bench"
        log_dir.mkdir(parents=True, exist_ok=True)
        runs_path = RESULTS / "runs.json"
        runs = json.loads(runs_path.read_text()) if runs_path.exists() else {}
        for name in names:
            print(f"bench_{name} ...", flush=True)
            runs[name] = {**run(name, args.timeout, log_dir), "finished_at": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                               time.gmtime())}
            print(f"  {runs[name]}", flush=True)
            runs_path.write_text(json.dumps(runs, indent=2) + "\n")
    from summary import write_summary

    write_summary(RESULTS, cpu_count=os.cpu_count())
    print(f"wrote {RESULTS / 'SUMMARY.md'} and {RESULTS / 'summary.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
