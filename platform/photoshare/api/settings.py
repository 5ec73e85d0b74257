"""Settings of the REST API, read from the environment like photoshare.config.

Applied with setdefault in photoshare.api.init_app, so `create_app(test_config)` and
app config set before it win.

| Variable | Default | Meaning |
|---|---|---|
| API_RATE_LIMIT | 300 per minute | requests per API key (per client address when no valid key) |
| API_CAPTION_RATE_LIMIT | 10 per minute | `POST /api/v1/captions` per key, on top of API_RATE_LIMIT |
| API_TOKEN_LIMIT_PER_ACCOUNT | LOGIN_LIMIT_PER_ACCOUNT | failed Basic-auth attempts on /api/v1/tokens per e-mail |
| API_TOKEN_LIMIT_PER_ADDRESS | LOGIN_LIMIT_PER_ADDRESS | failed Basic-auth attempts on /api/v1/tokens per address |
| API_CAPTION_TIMEOUT_S | 30 | how long `POST /api/v1/captions` waits before answering 504 |
"""

from __future__ import annotations

import os
from typing import Mapping


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else None


def load_api_settings(env: Mapping[str, str] | None = None, base: Mapping | None = None) -> dict:
    env = os.environ if env is None else env
    base = base or {}
    timeout = _env(env, "API_CAPTION_TIMEOUT_S")
    try:
        timeout_s = float(timeout) if timeout is not None else 30.0
    except ValueError:
        raise ValueError(f"API_CAPTION_TIMEOUT_S must be a number, got {timeout!r}") from None
    return {
        "API_RATE_LIMIT": _env(env, "API_RATE_LIMIT") or "300 per minute",
        "API_CAPTION_RATE_LIMIT": _env(env, "API_CAPTION_RATE_LIMIT") or "10 per minute",
        "API_TOKEN_LIMIT_PER_ACCOUNT": _env(env, "API_TOKEN_LIMIT_PER_ACCOUNT")
        or base.get("LOGIN_LIMIT_PER_ACCOUNT") or "5 per 15 minutes",
        "API_TOKEN_LIMIT_PER_ADDRESS": _env(env, "API_TOKEN_LIMIT_PER_ADDRESS")
        or base.get("LOGIN_LIMIT_PER_ADDRESS") or "20 per 15 minutes",
        "API_CAPTION_TIMEOUT_S": timeout_s,
    }
