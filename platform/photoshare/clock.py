"""The one clock of the platform: aware UTC datetimes, as stored in MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
