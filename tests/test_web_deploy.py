"""Deployment files: docker-compose.yml (validated by `docker-compose config` where the
command exists), the Dockerfile, the thin worker.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_file_is_valid():
    result = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)})
    assert result.returncode == 0, result.stderr
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"web", "worker", "mongo", "redis"}
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


def test_worker_entry_point_is_thin():
    lines = [line for line in (ROOT / "worker.py").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith(("#", '"""'))]
    assert len(lines) <= 6


def test_no_platform_package_shadows_the_standard_library():
    assert not (ROOT / "platform" / "__init__.py").exists()
    import platform

    assert hasattr(platform, "python_version")  # the standard-library module
