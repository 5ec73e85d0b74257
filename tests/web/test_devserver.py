"""`make run` (python -m photoshare.devserver): every part starts and says where it runs,
a photo gets captioned, Ctrl-C stops everything, and data survives a restart; a worker
that keeps crashing is given up while the rest stays up; a missing model is said."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from photoshare.devserver import Supervisor, missing_model_message
from photoshare.embedded_store import free_port
from tests.support.common import SESSION_PREFIX
from tests.support.sessions import csrf_token_from
from tests.images import make_image

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


class DevServer:
    def __init__(self, var: Path, port: int, model: Path):
        self.port = port
        env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "SECRET_KEY")}
        env.update({
            "PHOTOSHARE_VAR": str(var), "PORT": str(port), "CAPTIONER_MODEL": str(model),
            "INSTANCE_PATH": str(var / "instance"), "PHOTOSHARE_PREFIX": f"{SESSION_PREFIX}-dev",
            # Nothing answers here: the devserver must start its own redis-server.
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "TF_CPP_MIN_LOG_LEVEL": "2",
        })
        self.process = subprocess.Popen([sys.executable, "-m", "photoshare.devserver"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.banner = self._read_banner()
        self.pids = [int(pid) for pid in re.findall(r"pid (\d+)", self.banner)]
        self.url = f"http://127.0.0.1:{port}"

    def _read_banner(self) -> str:
        lines = []
        for line in self.process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                return "".join(lines)
        raise AssertionError("devserver stopped early:\n" + "".join(lines))

    def wait_healthy(self, timeout=180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{self.url}/healthz", timeout=5)
                if response.status_code == 200:
                    return response.json()
            except requests.ConnectionError:
                pass
            assert self.process.poll() is None, "devserver exited"
            time.sleep(0.5)
        raise AssertionError("not healthy in time")

    def interrupt(self) -> str:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        output, _ = self.process.communicate(timeout=90)
        return output


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running either.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def _post_form(session, base, page, url, data, **kwargs):
    data = {**data, "csrf_token": csrf_token_from(session.get(base + page).text)}
    return session.post(base + url, data=data, allow_redirects=False, timeout=30, **kwargs)


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path, tiny_model_dir):
    var = tmp_path / "var"
    server = DevServer(var, free_port(), tiny_model_dir)
    try:
        for part in ("store", "redis", "worker", "web"):
            assert re.search(rf"^  {part} ", server.banner, re.M), server.banner
        assert "private redis-server" in server.banner and f"http://127.0.0.1:{server.port}" in server.banner
        assert len(server.pids) == 4
        health = server.wait_healthy()
        assert health["model"]["version"].startswith("tiny-attention@")

        session = requests.Session()
        response = _post_form(session, server.url, "/signup", "/signup",
                              {"email": "ada@example.com", "password": "correct horse",
                               "confirm": "correct horse"})
        assert response.status_code == 303
        files = {"images": ("photo.jpg", make_image("JPEG", size=(200, 150)), "image/jpeg")}
        response = _post_form(session, server.url, "/", "/upload", {}, files=files)
        assert response.status_code == 303
        photo_id = re.search(r'data-photo-id="([0-9a-f]{24})"', session.get(server.url + "/").text).group(1)
        deadline = time.monotonic() + 60
        while (state := session.get(f"{server.url}/photos/{photo_id}/status").json())["caption_status"] != "done":
            assert time.monotonic() < deadline and state["caption_status"] != "failed", state
            time.sleep(0.3)
        caption = state["caption"]
    finally:
        output = server.interrupt()
    assert server.process.returncode == 0
    for part in ("web", "worker", "redis", "store"):
        assert f"{part} stopped" in output
    assert not [pid for pid in server.pids if _alive(pid)]
    assert (var / "store.sqlite").exists() and (var / "redis").is_dir()

    # Restart on the same data: the account and the captioned photo are still there.
    server = DevServer(var, free_port(), tiny_model_dir)
    try:
        server.wait_healthy()
        session = requests.Session()
        response = _post_form(session, server.url, "/login", "/login",
                              {"email": "ada@example.com", "password": "correct horse"})
        assert response.status_code == 303
        state = session.get(f"{server.url}/photos/{photo_id}/status").json()
        assert state["caption_status"] == "done" and state["caption"] == caption
    finally:
        server.interrupt()
    assert server.process.returncode == 0


# -- The supervisor ------------------------------------------------------------------------

def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


class QuickSupervisor(Supervisor):
    WORKER_RESTART_DELAYS = (0, 0)
    POLL_S = 0.05


def _watch_in_background(supervisor):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", supervisor.watch()), daemon=True)
    thread.start()
    return thread, result


def _stop(supervisor, thread):
    supervisor.stopping = True
    thread.join(timeout=10)
    for process in supervisor.children.values():
        process.kill()
        process.wait()


def test_a_worker_that_keeps_crashing_is_given_up_and_the_rest_stays_up(capsys):
    supervisor = QuickSupervisor()
    starts = []

    def start_crashing_worker():
        starts.append(time.monotonic())
        return _child("import sys; sys.exit(3)")

    supervisor.add("web", _child("import time; time.sleep(60)"))
    supervisor.add("worker", start_crashing_worker(), restart=start_crashing_worker)
    thread, result = _watch_in_background(supervisor)
    try:
        deadline = time.monotonic() + 20
        while "worker" not in supervisor.given_up and time.monotonic() < deadline:
            time.sleep(0.05)
        assert supervisor.given_up == {"worker"} and len(starts) == 3  # the first start and 2 restarts
        time.sleep(0.5)
        assert thread.is_alive() and "code" not in result  # still watching: nothing else stopped
        assert supervisor.children["web"].poll() is None
    finally:
        _stop(supervisor, thread)
    output = capsys.readouterr().out
    assert "!!! The worker keeps crashing (exit code 3, restarted 2 times): giving up on it." in output
    assert "/healthz answers 503" in output


def test_a_worker_that_ran_a_while_has_its_restarts_counted_afresh():
    supervisor = QuickSupervisor()
    supervisor.STABLE_AFTER_S = 0.2
    starts = []

    def start_short_lived_worker():  # runs 0.5 s, then dies (e.g. out of memory now and then)
        starts.append(time.monotonic())
        return _child("import sys, time; time.sleep(0.5); sys.exit(1)")

    supervisor.add("worker", start_short_lived_worker(), restart=start_short_lived_worker)
    thread, _ = _watch_in_background(supervisor)
    try:
        deadline = time.monotonic() + 20
        while len(starts) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(starts) >= 5 and supervisor.given_up == set()  # more than the 2 allowed in a row
    finally:
        _stop(supervisor, thread)


def test_another_part_exiting_stops_everything():
    supervisor = QuickSupervisor()
    supervisor.add("web", _child("import sys; sys.exit(4)"))
    assert supervisor.watch() == 4


def test_a_missing_model_is_said_clearly(tmp_path):
    assert missing_model_message({"CAPTIONER_MODEL": str(tmp_path)}) is None
    message = missing_model_message({"CAPTIONER_MODEL": str(tmp_path / "nowhere")})
    assert f"No captioning model checkpoint at {tmp_path / 'nowhere'}" in message
    assert "train it or set CAPTIONER_MODEL" in message and "/healthz answers 503" in message


def test_make_run_without_a_model_keeps_the_website_up(tmp_path):
    server = DevServer(tmp_path / "var", free_port(), tmp_path / "no-model")
    try:
        assert "worker  NOT STARTED: no model checkpoint (train it or set CAPTIONER_MODEL)" in server.banner
        assert f"!!! No captioning model checkpoint at {tmp_path / 'no-model'}" in server.banner
        assert len(server.pids) == 3  # store, redis, web
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(f"{server.url}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.process.poll() is None
                time.sleep(0.3)
        assert response.status_code == 503 and response.json()["worker"]["count"] == 0
        assert requests.get(f"{server.url}/signup", timeout=5).status_code == 200
    finally:
        output = server.interrupt()
    assert server.process.returncode == 0 and "web stopped" in output
