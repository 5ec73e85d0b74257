"""Redirect targets taken from a request (`?next=`, a form's `next` field): only paths of
this site, never another host.

A target is accepted only if it is a plain path: it starts with exactly one `/`, holds
no control character (browsers and werkzeug drop tabs and newlines, so `/\\t/evil.example/`
would become the scheme-relative `//evil.example/`) and no backslash (which browsers read
as `/`), and `urlsplit` finds neither a scheme nor a host in it.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def safe_local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None."""
    if not target or _has_control_character(target) or "\\" in target:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return target


def local_redirect_target(target: str | None, default: str) -> str:
    """Where to send the browser: `target` if it is safe, else `default`."""
    return safe_local_path(target) or default
