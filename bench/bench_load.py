"""Load test runner (issue 11 part 8): `make run`'s stack under 50 concurrent users for 60 s.

    .venv/bin/python bench/bench_load.py [--users 50] [--spawn-rate 10] [--seconds 60]

1. starts `python -m photoshare.devserver` (embedded store, a private redis-server, the
   worker with the shipped model, gunicorn 2 x 4 threads) in a temporary PHOTOSHARE_VAR,
   on a free port of 127.0.0.1, and waits until /healthz is 200 (model loaded);
2. seeds ACCOUNTS accounts through the website and the API (sign-up, an API key, three
   photos each, one of them public for /explore) and waits for their captions;
3. runs locust headless (bench/locustfile.py: pages, API listing and search, uploads);
4. waits until every photo uploaded during the run has its caption (or failed), then
   writes bench/results/load.json: requests/s, p50/p95/p99 per request type, errors,
   uploads and captions, and the time the captions took to catch up.

`--against http://127.0.0.1:5000` skips step 1 and loads a stack already running on this
machine, e.g. `docker-compose up` (results in bench/results/load_compose.json); give its
web and worker the raised throttles below (a docker-compose.override.yml `environment:`).

The throttles meant for one person (log-ins and sign-ups per address, API calls per key)
are raised for the run: all 50 simulated people come from 127.0.0.1. Everything the run
starts is stopped and its temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

import requests  # noqa: E402
from PIL import Image  # noqa: E402

from photoshare.embedded_store import free_port  # noqa: E402
from platform_harness import csrf_token  # noqa: E402

ACCOUNTS = 10
PASSWORD = "load test password"
RESULTS = ROOT / "bench" / "results" / "load.json"
GENEROUS = "100000 per minute"
RUN = uuid.uuid4().hex[:6]  # in the seeded e-mails: a stack used before accepts a new run


def _jpeg(index: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200 - index * 13 % 200, index * 29 % 256, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


class Stack:
    """`make run` (photoshare.devserver) in a temporary folder, on a free port."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if key not in ("MONGO_URI", "MEDIA_ROOT")}
        env.update({
            "PHOTOSHARE_VAR": str(workdir / "var"), "PORT": str(port), "INSTANCE_PATH": str(workdir / "instance"),
            # A port where nothing answers: the devserver starts its own redis-server.
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "LOGIN_LIMIT_PER_ADDRESS": GENEROUS, "LOGIN_LIMIT_PER_ACCOUNT": GENEROUS,
            "SIGNUP_LIMIT_PER_ADDRESS": GENEROUS, "API_RATE_LIMIT": GENEROUS,
            "API_TOKEN_LIMIT_PER_ADDRESS": GENEROUS, "API_TOKEN_LIMIT_PER_ACCOUNT": GENEROUS,
            "UPLOAD_LIMIT_PER_ACCOUNT": GENEROUS, "TF_CPP_MIN_LOG_LEVEL": "2",
        })
        self.log = open(workdir / "devserver.log", "w")
        self.process = subprocess.Popen([sys.executable, "-m", "photoshare.devserver"], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout_s: float = 900) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"make run exited:\n{(self.workdir / 'devserver.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{self.base}/healthz", timeout=10).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError("the platform did not become healthy")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # stops web, worker, redis, store in order
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class RunningStack:
    """A stack started by someone else (docker-compose): used, never stopped."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def wait_healthy(self, timeout_s: float = 900) -> float:
        started = time.monotonic()
        while requests.get(f"{self.base}/healthz", timeout=10).status_code != 200:
            if time.monotonic() - started > timeout_s:
                raise RuntimeError("the platform did not become healthy")
            time.sleep(1)
        return time.monotonic() - started

    def stop(self) -> None:
        pass


def seed(base: str, count: int) -> list[dict]:
    accounts = []
    for number in range(count):
        email = f"load{number}-{RUN}@example.com"
        session = requests.Session()
        answer = session.post(f"{base}/signup", timeout=60, data={
            "email": email, "name": f"Load {number}", "password": PASSWORD, "confirm": PASSWORD,
            "csrf_token": csrf_token(session, f"{base}/signup")})
        answer.raise_for_status()
        token = requests.post(f"{base}/api/v1/tokens", auth=(email, PASSWORD), timeout=60,
                              json={"name": "load", "scopes": ["read", "write"]})
        token.raise_for_status()
        key = token.json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        photo_ids = []
        for index in range(3):
            upload = requests.post(f"{base}/api/v1/photos", headers=headers, timeout=120,
                                   files={"image": (f"seed-{number}-{index}.jpg", _jpeg(number * 3 + index),
                                                    "image/jpeg")})
            upload.raise_for_status()
            photo_ids.append(upload.json()["id"])
        requests.patch(f"{base}/api/v1/photos/{photo_ids[0]}", headers=headers, timeout=60,
                       json={"visibility": "public"}).raise_for_status()
        accounts.append({"email": email, "password": PASSWORD, "key": key, "photo_ids": photo_ids})
    return accounts


def caption_states(base: str, accounts: list[dict]) -> dict[str, int]:
    """How many photos of the seeded accounts are in each caption state (every page)."""
    states: dict[str, int] = {}
    for account in accounts:
        headers, cursor = {"Authorization": f"Bearer {account['key']}"}, None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = requests.get(f"{base}/api/v1/photos", headers=headers, params=params, timeout=60).json()
            for photo in page["items"]:
                states[photo["caption_status"]] = states.get(photo["caption_status"], 0) + 1
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return states


def wait_captioned(base: str, accounts: list[dict], timeout_s: float) -> tuple[dict, float]:
    started = time.monotonic()
    while True:
        states = caption_states(base, accounts)
        if not states.get("pending") and not states.get("processing"):
            return states, time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return states, time.monotonic() - started
        time.sleep(2)


def _number(text: str) -> float | None:
    try:
        return round(float(text), 2)
    except (TypeError, ValueError):  # "N/A" for a request type that never ran
        return None


def read_stats(prefix: Path) -> tuple[dict, list]:
    """Per request type (and "all"): count, errors, requests/s, p50/p95/p99 (locust's CSV)."""
    by_name = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            name = "all" if row["Name"] == "Aggregated" else row["Name"]
            by_name[name] = {
                "method": row["Type"], "requests": int(row["Request Count"]), "errors": int(row["Failure Count"]),
                "requests_per_s": _number(row["Requests/s"]), "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]), "p99_ms": _number(row["99%"]),
                "max_ms": _number(row["Max Response Time"]),
            }
    failures = []
    if Path(f"{prefix}_failures.csv").exists():
        with open(f"{prefix}_failures.csv", newline="") as handle:
            failures = [{"name": r["Name"], "error": r["Error"][:300], "occurrences": int(r["Occurrences"])}
                        for r in csv.DictReader(handle)]
    return by_name, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--caption-timeout", type=float, default=900)
    parser.add_argument("--against", metavar="URL",
                        help="a running stack on this machine (e.g. docker-compose: http://127.0.0.1:5000) "
                             "instead of starting make run's; its throttles must be raised as above")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    if args.against and urlsplit(args.against).hostname not in ("127.0.0.1", "localhost"):
        parser.error("--against: only a stack on 127.0.0.1")
    stack = RunningStack(args.against) if args.against else Stack(workdir)
    try:
        print(f"platform at {stack.base}: waiting for /healthz ...", flush=True)
        healthy_s = stack.wait_healthy()
        print(f"  healthy after {healthy_s:.0f} s; seeding {ACCOUNTS} accounts", flush=True)
        accounts = seed(stack.base, ACCOUNTS)
        seeded, _ = wait_captioned(stack.base, accounts, 600)
        seeded_total = sum(seeded.values())
        (workdir / "accounts.json").write_text(json.dumps(accounts))
        print(f"  seeded ({seeded}); locust: {args.users} users, {args.seconds} s", flush=True)
        prefix = workdir / "load"
        locust = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--host", stack.base,
             "--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.seconds}s",
             "--csv", str(prefix), "--only-summary", "--stop-timeout", "30"],
            cwd=ROOT, env={**os.environ, "LOAD_ACCOUNTS": str(workdir / "accounts.json")},
            capture_output=True, text=True)
        print(locust.stdout[-4000:], locust.stderr[-4000:], sep="\n", flush=True)
        by_name, failures = read_stats(prefix)
        states, caught_up_s = wait_captioned(stack.base, accounts, args.caption_timeout)
        total = sum(states.values())
        uploads = total - seeded_total
        result = {
            "scenario": {"users": args.users, "spawn_rate": args.spawn_rate, "seconds": args.seconds,
                         "accounts": ACCOUNTS, "stack": args.against or "make run (python -m photoshare.devserver): "
                         "embedded store, private redis-server, 1 worker (shipped model), gunicorn 2 workers x 4 threads",
                         "machine": f"{os.cpu_count()} CPUs shared with other jobs; load average before "
                         f"{os.getloadavg()[0]:.1f}"},
            "requests": by_name,
            "errors": by_name.get("all", {}).get("errors"),
            "failures": failures,
            "uploads": {"during_run": uploads, "by_caption_state": states,
                        "all_captioned": not states.get("pending") and not states.get("processing")
                        and not states.get("failed"),
                        "seconds_until_all_captioned_after_run": round(caught_up_s, 1)},
            "healthy_after_s": round(healthy_s, 1),
        }
        results = RESULTS.with_name("load_compose.json") if args.against else RESULTS
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
