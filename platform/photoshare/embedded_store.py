"""Run mongoeco's MongoDB wire-protocol server over a SQLite file, as a process.

Used by `make run` (photoshare.devserver) when MONGO_URI is unset and by the test
fixtures, so that the application always talks to its store through a real
`pymongo.MongoClient` and the MongoDB wire protocol, exactly as in production.

    python -m photoshare.embedded_store --path var/store.sqlite --port 27018

The process prints one line `READY mongodb://host:port/?directConnection=true`
once it accepts connections, and stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_PREFIX = "READY "


async def serve(path: str, host: str, port: int, patches: bool = True) -> None:
    # Imported here so that `--help` and the launcher helpers stay cheap.
    from mongoeco.engines.sqlite import SQLiteEngine
    if patches:
        # Only inside this process: see embedded_store_patches (and docs/STORAGE.md).
        from .embedded_store_patches import apply_patches
        apply_patches()
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    server = AsyncMongoEcoProxyServer(engine=SQLiteEngine(path), host=host, port=port)
    await server.start()
    try:
        print(READY_PREFIX + server.address.uri, flush=True)
        await stop.wait()
    finally:
        await server.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_process(
    path: str | os.PathLike,
    port: int | None = None,
    host: str = "127.0.0.1",
    timeout: float = 120.0,
    patches: bool = True,
) -> tuple[subprocess.Popen, str]:
    """Start the store as a child process; return (process, mongo_uri) once ready.
    The timeout is generous: opening a store of tens of thousands of documents on a
    busy machine took more than 30 s (mongoeco checks its index tables at start).
    `patches=False` runs mongoeco as released (for measuring what the patches change)."""
    port = port or free_port(host)
    process = subprocess.Popen(
        [sys.executable, "-m", "photoshare.embedded_store",
         "--path", str(path), "--host", host, "--port", str(port),
         *([] if patches else ["--no-patches"])],
        stdout=subprocess.PIPE,
        # Own process group: a terminal's Ctrl-C reaches only the supervisor, which
        # stops the store last, after the processes that use it.
        start_new_session=True,
    )
    # The READY line is the only thing the server prints on stdout. Wait for it with
    # select, so a server that prints nothing cannot hold us past the deadline.
    line = _read_line(process.stdout, deadline=time.monotonic() + timeout)
    if line is not None and line.startswith(READY_PREFIX):
        return process, line[len(READY_PREFIX):].strip()
    stop_process(process)
    raise RuntimeError(f"embedded store did not start on {host}:{port}")


def _read_line(stream, deadline: float) -> str | None:
    """One line from a pipe, or None at end of file or once `deadline` has passed."""
    buffer = b""
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 1)  # byte by byte: nothing after the line is taken from the pipe
        if not chunk:
            break
        buffer += chunk
        if chunk == b"\n":
            return buffer.decode()
    return None


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="var/store.sqlite", help="SQLite file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27018)
    parser.add_argument("--no-patches", dest="patches", action="store_false",
                        help="run mongoeco without photoshare's performance patches")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.path, args.host, args.port, patches=args.patches))


if __name__ == "__main__":
    main()
