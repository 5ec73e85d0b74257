"""`make run` (python -m photoshare.devserver): every part starts and says where it runs,
a photo gets captioned, Ctrl-C stops everything, and data survives a restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from photoshare.embedded_store import free_port
from tests.conftest import SESSION_PREFIX, csrf_token_from
from tests.platform_images import make_image

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    testing = pytest.importorskip("captioner.testing", reason="captioner.testing not available yet")
    from captioner.paths import encoder_weights_path

    if not encoder_weights_path().exists():
        pytest.skip("VGG16 encoder weights are not prepared (run `make setup`)")
    return testing.tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


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


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path, tiny_model):
    var = tmp_path / "var"
    server = DevServer(var, free_port(), tiny_model)
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
    server = DevServer(var, free_port(), tiny_model)
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
