"""Load test of the platform (issue 11 part 8): people browsing their dashboard, photo
pages and /explore, API clients listing and searching, and uploads, all at once.

Run by bench/bench_load.py, which starts `make run`'s stack (python -m photoshare.devserver),
seeds the accounts and writes their credentials to LOAD_ACCOUNTS (JSON), then runs

    locust -f bench/locustfile.py --host http://127.0.0.1:PORT --headless -u 50 -r 10 -t 60s --csv ...

Only a loopback host is accepted (this is not a tool to aim at someone else's server),
and the run is bounded: at most 50 users (LOAD_MAX_USERS) and 120 s (LOAD_MAX_SECONDS).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import re
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task
from locust.exception import StopUser
from PIL import Image

MAX_USERS = int(os.environ.get("LOAD_MAX_USERS", "50"))
MAX_SECONDS = int(os.environ.get("LOAD_MAX_SECONDS", "120"))
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SEARCH_WORDS = ("dog", "man", "water", "red", "two", "grass", "ball", "girl")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')

_accounts = json.loads(open(os.environ["LOAD_ACCOUNTS"]).read()) if os.environ.get("LOAD_ACCOUNTS") else []
_next_account = itertools.count()
_images = itertools.count()


@events.init.add_listener
def _refuse_unbounded_or_remote(environment, **_kwargs):
    host = urlsplit(environment.host or "").hostname
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to load {environment.host!r}: only 127.0.0.1 is allowed")
    options = environment.parsed_options
    if options is not None:
        if (options.num_users or 0) > MAX_USERS:
            raise SystemExit(f"at most {MAX_USERS} users (-u)")
        if not options.run_time or options.run_time > MAX_SECONDS:
            raise SystemExit(f"give a run time (-t) of at most {MAX_SECONDS} s")
    if not _accounts:
        raise SystemExit("no accounts: set LOAD_ACCOUNTS (bench/bench_load.py does)")


def _photo_bytes() -> bytes:
    """A small JPEG (320 x 240), different each time (uploads are not duplicates)."""
    index = next(_images)
    image = Image.new("RGB", (320, 240), (index * 37 % 256, index * 91 % 256, 140))
    for y in range(0, 240, 40):  # some structure, so the encoder has edges to look at
        image.paste((255 - index % 256, 60, y), (0, y, 320, y + 20))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class PhotoSharer(HttpUser):
    """One person with an account: browses the website (logged in) and uses the API key."""

    wait_time = between(1, 3)

    def on_start(self):
        self.account = _accounts[next(_next_account) % len(_accounts)]
        self.api = {"Authorization": f"Bearer {self.account['key']}"}
        page = self.client.get("/login", name="/login")
        match = CSRF.search(page.text)
        if match is None:
            raise StopUser()
        self.client.post("/login", name="/login", data={
            "email": self.account["email"], "password": self.account["password"],
            "csrf_token": match.group(1) or match.group(2)})
        self.photo_ids = list(self.account.get("photo_ids", []))

    @task(4)
    def dashboard(self):
        self.client.get("/", name="page: dashboard")

    @task(2)
    def photo_page(self):
        if self.photo_ids:
            self.client.get(f"/photos/{random.choice(self.photo_ids)}", name="page: photo")

    @task(2)
    def explore(self):
        self.client.get("/explore", name="page: explore")

    @task(1)
    def dashboard_search(self):
        self.client.get("/", params={"q": random.choice(SEARCH_WORDS)}, name="page: dashboard search")

    @task(4)
    def api_list(self):
        self.client.get("/api/v1/photos", headers=self.api, name="api: list photos")

    @task(2)
    def api_search(self):
        self.client.get("/api/v1/photos", params={"q": random.choice(SEARCH_WORDS)}, headers=self.api,
                        name="api: search")

    @task(1)
    def api_upload(self):
        with self.client.post("/api/v1/photos", headers=self.api, name="api: upload",
                              files={"image": ("load.jpg", _photo_bytes(), "image/jpeg")},
                              catch_response=True) as response:
            if response.status_code == 202:
                self.photo_ids.append(response.json()["id"])
                response.success()
            else:
                response.failure(f"upload answered {response.status_code}: {response.text[:200]}")
