"""The app as a whole: factory and configuration, secret key, error pages, security
headers, and no TensorFlow in the web process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from photoshare import create_app
from photoshare.config import load_or_create_secret_key, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_settings_come_from_the_environment():
    settings = load_settings({"MONGO_URI": "mongodb://db:27017/pics", "REDIS_URL": "redis://r:6379/1",
                              "MAX_UPLOAD_MB": "5", "PHOTOSHARE_PREFIX": "prod", "SESSION_COOKIE_SECURE": "1"})
    assert settings["MONGO_URI"] == "mongodb://db:27017/pics"
    assert settings["REDIS_URL"] == "redis://r:6379/1"
    assert settings["MAX_UPLOAD_MB"] == 5
    assert settings["CAPTION_QUEUE"] == "prod-captions"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert load_settings({})["MAX_UPLOAD_MB"] == 20  # the default
    assert load_settings({"SECRET_KEY": ""})["SECRET_KEY"] is None  # empty means unset


def test_api_settings_come_from_the_same_place():
    settings = load_settings({"LOGIN_LIMIT_PER_ACCOUNT": "4 per hour", "API_CAPTION_TIMEOUT_S": "2.5",
                              "API_RATE_LIMIT": "9 per minute"})
    assert settings["API_RATE_LIMIT"] == "9 per minute" and settings["API_CAPTION_TIMEOUT_S"] == 2.5
    assert settings["API_TOKEN_LIMIT_PER_ACCOUNT"] == "4 per hour"  # follows the log-in limit
    assert load_settings({})["API_CAPTION_MAX_WAITERS"] == 2
    with pytest.raises(ValueError, match="API_CAPTION_TIMEOUT_S must be a number"):
        load_settings({"API_CAPTION_TIMEOUT_S": "soon"})


@pytest.mark.parametrize("child", ["import time; time.sleep(30)",
                                   "import sys, time; sys.stdout.write('READY mongodb://x'); "
                                   "sys.stdout.flush(); time.sleep(30)"])
def test_waiting_for_the_store_never_blocks_past_its_deadline(child):
    # A server that prints nothing, or half a line, must not hold start-up forever.
    import time

    from photoshare.embedded_store import _read_line

    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
    try:
        started = time.monotonic()
        assert _read_line(process.stdout, deadline=started + 0.5) is None
        assert time.monotonic() - started < 5
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path, settings):
    key = load_or_create_secret_key(tmp_path)
    assert len(key) == 64 and load_or_create_secret_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    app = create_app({**settings, "SECRET_KEY": None, "INSTANCE_PATH": str(tmp_path)})
    try:
        assert app.config["SECRET_KEY"] == key
    finally:
        app.extensions["photoshare.backends"].close()


def test_instance_folder_and_var_are_git_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "instance/" in ignored and "var/" in ignored


def test_html_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.get_data(as_text=True)


def test_favicon_ico_is_the_svg_icon(client):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data


def test_malformed_ids_are_404_not_500(user):
    for url in ("/photos/not-an-id", "/photos/123", "/albums/zzzzzzzzzzzzzzzzzzzzzzzz", "/photos/%00/status"):
        assert user.client.get(url).status_code == 404


def test_wrong_method_is_405_page(user):
    response = user.client.get("/upload")
    assert response.status_code == 405
    assert "This action is not available here." in response.get_data(as_text=True)


def test_json_errors_for_json_clients(user):
    response = user.client.get("/nothing", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_static_files_are_local(client):
    page = client.get("/login").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page  # no CDN
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_the_web_process_never_imports_tensorflow(settings, tmp_path):
    # In a fresh interpreter: this test process may have loaded TensorFlow for other tests.
    script = textwrap.dedent("""
        import json, sys
        from photoshare import create_app
        from tests.support.sessions import Browser
        from tests.images import make_image
        app = create_app(json.loads(sys.argv[1]))
        browser = Browser(app.test_client())
        codes = [browser.signup().status_code, browser.upload(("a.png", make_image("PNG"))).status_code]
        for url in ("/", "/albums", "/account", "/healthz"):
            codes.append(browser.client.get(url).status_code)
        print(json.dumps({"codes": codes,
                          "loaded": sorted(m for m in sys.modules if m.split(".")[0] in
                                           ("tensorflow", "keras", "captioner", "photoshare.jobs"))}))
    """)
    config = {k: v for k, v in settings.items() if isinstance(v, (str, int, bool, list, type(None)))}
    result = subprocess.run([sys.executable, "-c", script, json.dumps(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["codes"][:2] == [303, 303] and report["codes"][2:5] == [200, 200, 200]
    assert report["loaded"] == []
