"""The README's screenshots of captioned photos, taken with the real model.

    .venv/bin/python docs/screenshots/take.py [--data ../shared/flickr8k] [--photos 8]

Starts the platform as `make run` does (store, Redis, the worker with the shipped
model, the web app) in a temp dir on a free port, uploads Flickr8k *test* photos (never
seen in training) through the API, waits for their captions, and drives the system
Chromium to take:

  dashboard.png          the grid with its captions (1280 px)
  photo-attention.png    a photo page with "Why this caption" showing one word's map
  shared-photo.png       that photo through a share link, logged out
  phone-dashboard.png    the grid at 390 px

The browser tests (tests/browser) take their own screenshots with a tiny test model,
whose captions are placeholder words: those are test artefacts, not these.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EMAIL, PASSWORD = "ada@example.com", "a long screenshot password"
SUBJECTS = {"dog", "dogs", "man", "woman", "girl", "boy", "child", "children", "people", "player"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(ready, what: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def test_photos(data: Path, count: int) -> list[Path]:
    names = (data / "Flickr_8k.testImages.txt").read_text().split()
    return [data / "Images" / name for name in names[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--photos", type=int, default=8)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="screenshots-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PHOTOSHARE_VAR": str(var), "PORT": str(port), "INSTANCE_PATH": str(var / "instance"),
           "MEDIA_ROOT": str(var / "media"), "PHOTOSHARE_PREFIX": f"shots-{port}"}
    server = subprocess.Popen([sys.executable, "-m", "photoshare.devserver"], cwd=ROOT, env=env,
                              stdout=open(var / "server.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=5).status_code == 200, "the platform and its worker")
        take(base, test_photos(Path(args.data), args.photos))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def take(base: str, photos: list[Path]) -> None:
    from playwright.sync_api import sync_playwright

    session = requests.Session()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{base}/signup")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=name]", "Ada")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=confirm]", PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_load_state()

        key = session.post(f"{base}/api/v1/tokens", auth=(EMAIL, PASSWORD), timeout=30,
                           json={"name": "screenshots", "scopes": ["read", "write"]}).json()["key"]
        session.headers["Authorization"] = f"Bearer {key}"
        ids = []
        for path in reversed(photos):  # newest first in the grid: the first photo ends on top
            answer = session.post(f"{base}/api/v1/photos", files={"image": (path.name, path.read_bytes(), "image/jpeg")},
                                  timeout=60)
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        ids.reverse()

        def captioned() -> bool:
            return all(session.get(f"{base}/api/v1/photos/{i}", timeout=30).json()["caption_status"] == "done"
                       for i in ids)

        wait_for(captioned, "the captions", 600)

        page.goto(f"{base}/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "dashboard.png"))

        page.goto(f"{base}/photos/{ids[0]}")
        page.wait_for_load_state("networkidle")
        words = page.locator(".attention-word")
        texts = words.all_inner_texts()
        # The subject if it is one of these, else the longest word (usually a noun).
        subjects = [i for i, text in enumerate(texts) if text in SUBJECTS]
        chosen = subjects[0] if subjects else max(range(len(texts)), key=lambda i: len(texts[i]))
        words.nth(chosen).focus()  # keyboard focus shows the map as hovering does
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(600)  # the heat map fades in
        page.screenshot(path=str(OUT / "photo-attention.png"))

        link = session.post(f"{base}/api/v1/shares", json={"photo_id": ids[0]}, timeout=30).json()["url"]
        visitor = browser.new_page(viewport={"width": 1280, "height": 900})
        visitor.goto(link)
        visitor.wait_for_load_state("networkidle")
        visitor.screenshot(path=str(OUT / "shared-photo.png"))

        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    storage_state=page.context.storage_state()).new_page()
        phone.goto(f"{base}/")
        phone.wait_for_load_state("networkidle")
        phone.screenshot(path=str(OUT / "phone-dashboard.png"))
        browser.close()
    print("captions:", *(session.get(f"{base}/api/v1/photos/{i}", timeout=30).json()["caption"] for i in ids),
          sep="\n  ")


if __name__ == "__main__":
    main()
