"""The README's screenshots of captioned photos, taken with the real model.

    .venv/bin/python docs/screenshots/take.py [--data ../shared/flickr8k] [--photos 8]

Starts the platform as `make run` does (bench/platform_harness.py: store, Redis, the
worker with the shipped model, the web app) in a temp dir on a free port, uploads Flickr8k *test* photos (never
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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from platform_harness import RunningPlatform, flickr_photos  # noqa: E402

OUT = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EMAIL, PASSWORD = "ada@example.com", "a long screenshot password"
SUBJECTS = {"dog", "dogs", "man", "woman", "girl", "boy", "child", "children", "people", "player"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--photos", type=int, default=8)
    args = parser.parse_args()
    from captioner import DEFAULT_MODEL_DIR  # cheap: no TensorFlow at import

    # The platform as `make run` starts it (bench/platform_harness.py), in a temp dir.
    with RunningPlatform(str(DEFAULT_MODEL_DIR)) as platform:
        api = platform.api_client(EMAIL, PASSWORD)
        take(platform.base, api, flickr_photos(args.photos, Path(args.data)))


def take(base: str, api, photos: list[tuple[str, bytes]]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{base}/login")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_load_state()

        # Newest first in the grid: uploaded in reverse, the first photo ends on top.
        ids = [api.upload(name, data)["id"] for name, data in reversed(photos)][::-1]

        deadline = time.monotonic() + 600
        while any(api.photo(i)["caption_status"] != "done" for i in ids):
            if time.monotonic() > deadline:
                raise RuntimeError("the captions did not arrive")
            time.sleep(0.5)

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

        link = api.session.post(f"{base}/api/v1/shares", json={"photo_id": ids[0]}, timeout=30).json()["url"]
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
    print("captions:", *(api.photo(i)["caption"] for i in ids), sep="\n  ")


if __name__ == "__main__":
    main()
