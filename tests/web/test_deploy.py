"""Deployment files: docker-compose.yml (validated by `docker-compose config` where the
command exists), the Dockerfile, the thin worker.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.common import skip_unless

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_file_is_valid():
    docker_compose = shutil.which("docker-compose")
    skip_unless(docker_compose is not None, "docker-compose is not installed")  # CI installs it
    # The path found above: the restricted PATH below (no host variables leaking into
    # the rendered config) need not contain it.
    result = subprocess.run([docker_compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)})
    assert result.returncode == 0, result.stderr
    import yaml
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    # Prometheus is optional: it starts only with the `monitoring` profile.
    assert set(services) - {"prometheus"} == {"web", "worker", "mongo", "redis"}
    if "prometheus" in services:
        assert services.pop("prometheus")["profiles"] == ["monitoring"]
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert services["mongo"]["image"].startswith("mongo:")
    assert services["redis"]["image"].startswith("redis:")
    assert "gunicorn" in (ROOT / "Dockerfile").read_text()
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["web"]["environment"]["MONGO_URI"].startswith("mongodb://mongo:")
    assert services["worker"]["environment"]["REDIS_URL"].startswith("redis://redis:")
    for name in ("web", "worker"):
        for dependency in ("mongo", "redis"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_healthy"
    assert {"mongo-data", "redis-data", "instance"} <= set(config["volumes"])


def test_secrets_file_never_goes_into_the_image():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert ".env" in ignored


def test_worker_entry_point_is_thin():
    lines = [line for line in (ROOT / "worker.py").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith(("#", '"""'))]
    assert len(lines) <= 6


def test_no_platform_package_shadows_the_standard_library():
    assert not (ROOT / "platform" / "__init__.py").exists()
    import platform

    assert hasattr(platform, "python_version")  # the standard-library module


def test_a_missing_tool_skips_here_but_fails_on_ci(monkeypatch):
    # CI installs Chromium, docker-compose and the encoder weights: their absence there
    # must not pass as a skip.
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        skip_unless(False, "Chromium is not installed")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        skip_unless(False, "Chromium is not installed")
    skip_unless(True, "present")
