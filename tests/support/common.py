"""Constants and helpers shared by the test folders."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

# Every key this test session writes to the shared Redis contains this prefix.
SESSION_PREFIX = f"pstest-{uuid.uuid4().hex[:10]}"
ROOT = Path(__file__).resolve().parents[2]


def skip_unless(condition: bool, reason: str) -> None:
    """Skip a test whose tool or data is missing here; on CI (the CI variable is set),
    which installs all of them, that is a failure instead."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)
