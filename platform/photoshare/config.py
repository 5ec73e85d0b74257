"""Configuration read from the environment, shared by the web app and the worker.

Everything is plain data (a dict of UPPER_CASE keys) so that the worker, which never
creates a Flask app, reads exactly the same settings as the web process.
README.md (Configuration) has the table of variables.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Mapping

from .blobs import blob_settings_from_env

# The project folder: the one holding platform/, templates/, static/ and worker.py.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_TRUE = {"1", "true", "yes", "on"}


def _env(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    # An empty variable counts as unset: docker-compose passes `${VAR:-}` as "".
    value = env.get(name)
    return value if value not in (None, "") else default


def _parsed(env, name, default, parse, what: str):
    raw = _env(env, name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None


def _int(env, name, default: int) -> int:
    return _parsed(env, name, default, int, "an integer")


def _float(env, name, default: float) -> float:
    return _parsed(env, name, default, float, "a number")


def _bool(env, name, default: bool) -> bool:
    raw = _env(env, name)
    return default if raw is None else raw.strip().lower() in _TRUE


def _intervals(env, name, default: list[int]) -> list[int]:
    raw = _env(env, name)
    if raw is None:
        return default
    return [int(part) for part in raw.split(",") if part.strip()]


def load_settings(env: Mapping[str, str] | None = None) -> dict:
    """Return the platform settings from `env` (default: os.environ)."""
    env = os.environ if env is None else env
    prefix = _env(env, "PHOTOSHARE_PREFIX", "photoshare")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
        # The prefix ends up in RQ job ids, which allow only these characters.
        raise ValueError("PHOTOSHARE_PREFIX may contain only letters, digits, '-' and '_'")
    caption_batch_size = _int(env, "CAPTION_BATCH_SIZE", 8)
    if caption_batch_size < 1:
        raise ValueError(f"CAPTION_BATCH_SIZE must be at least 1, got {caption_batch_size}")
    max_upload_mb = _int(env, "MAX_UPLOAD_MB", 20)
    max_upload_files = _int(env, "MAX_UPLOAD_FILES", 10)
    login_limit_per_account = _env(env, "LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes")
    login_limit_per_address = _env(env, "LOGIN_LIMIT_PER_ADDRESS", "20 per 15 minutes")
    return {
        # Where image bytes live: BLOB_STORE "fs" (files under MEDIA_ROOT, default
        # var/media) or "gridfs" (MongoDB, for web and workers that share only MongoDB).
        **blob_settings_from_env(env),
        "MONGO_URI": _env(env, "MONGO_URI", "mongodb://127.0.0.1:27017/photoshare"),
        # Database name: MONGO_DBNAME, else the one in MONGO_URI, else "photoshare".
        "MONGO_DBNAME": _env(env, "MONGO_DBNAME"),
        "MONGO_TIMEOUT_MS": _int(env, "MONGO_TIMEOUT_MS", 3000),
        # Longest wait for one answer of the store: a frozen store (or network) becomes
        # an error (a 503, a retried job) instead of a request hanging for ever.
        "MONGO_SOCKET_TIMEOUT_MS": _int(env, "MONGO_SOCKET_TIMEOUT_MS", 30000),
        "REDIS_URL": _env(env, "REDIS_URL", "redis://127.0.0.1:6379/0"),
        # Namespaces every Redis key of this deployment (queue, limiter, heartbeats),
        # so that several deployments or test sessions can share one Redis.
        "PHOTOSHARE_PREFIX": prefix,
        "CAPTION_QUEUE": f"{prefix}-captions",
        "CAPTION_JOB_TIMEOUT": _int(env, "CAPTION_JOB_TIMEOUT", 120),
        "CAPTION_RETRY_INTERVALS": _intervals(env, "CAPTION_RETRY_INTERVALS", [5, 30, 120]),
        "CAPTION_MAX_REQUEUES": _int(env, "CAPTION_MAX_REQUEUES", 5),
        "RECONCILE_INTERVAL": _int(env, "RECONCILE_INTERVAL", 300),
        "RECONCILE_MIN_AGE": _int(env, "RECONCILE_MIN_AGE", 10),
        # Stored files without a photo, and interrupted account deletions, are removed by
        # the reconciliation once they are this old (an upload in progress is never).
        "ORPHAN_MIN_AGE_MINUTES": _int(env, "ORPHAN_MIN_AGE_MINUTES", 30),
        "WORKER_HEARTBEAT_TTL": _int(env, "WORKER_HEARTBEAT_TTL", 30),
        "CAPTIONER_MODEL": _env(env, "CAPTIONER_MODEL"),
        # Encoder runtime of the worker's captioner: fp32, bf16 or int8; unset: the
        # captioner's default (captioner.encoder_runtime.DEFAULT_RUNTIME). The worker
        # checks the name at start-up (the web process never imports the captioner).
        "CAPTION_ENCODER": (_env(env, "CAPTION_ENCODER") or "").strip().lower() or None,
        # Most photo jobs the worker captions in one pass of the model when several wait.
        "CAPTION_BATCH_SIZE": caption_batch_size,
        "MAX_UPLOAD_MB": max_upload_mb,
        "MAX_UPLOAD_FILES": max_upload_files,
        "MAX_IMAGE_PIXELS": _int(env, "MAX_IMAGE_MEGAPIXELS", 50) * 1_000_000,
        # Whole request of the upload endpoints: all files plus a little room for the
        # form fields. Every other request may carry at most MAX_FORM_BYTES.
        "MAX_CONTENT_LENGTH": (max_upload_mb * max_upload_files + 1) * 1024 * 1024,
        "MAX_FORM_BYTES": _int(env, "MAX_FORM_KB", 1024) * 1024,
        "THUMBNAIL_SIZE": _int(env, "THUMBNAIL_SIZE", 400),
        "DISPLAY_SIZE": _int(env, "DISPLAY_SIZE", 1600),
        "PHOTOS_PER_PAGE": _int(env, "PHOTOS_PER_PAGE", 24),
        "BCRYPT_ROUNDS": _int(env, "BCRYPT_ROUNDS", 12),
        "LOGIN_LIMIT_PER_ACCOUNT": login_limit_per_account,
        "LOGIN_LIMIT_PER_ADDRESS": login_limit_per_address,
        # REST API (photoshare.api): requests per account (per client address without a
        # valid key); POST /api/v1/captions has its own lower limit on top, and waits at
        # most API_CAPTION_TIMEOUT_S before answering 504, with at most
        # API_CAPTION_MAX_WAITERS such requests waiting per web process (503 beyond).
        "API_RATE_LIMIT": _env(env, "API_RATE_LIMIT", "300 per minute"),
        "API_CAPTION_RATE_LIMIT": _env(env, "API_CAPTION_RATE_LIMIT", "10 per minute"),
        "API_CAPTION_TIMEOUT_S": _float(env, "API_CAPTION_TIMEOUT_S", 30.0),
        "API_CAPTION_MAX_WAITERS": _int(env, "API_CAPTION_MAX_WAITERS", 2),
        # Failed HTTP Basic attempts on /api/v1/tokens, like the website's log-in.
        "API_TOKEN_LIMIT_PER_ACCOUNT": _env(env, "API_TOKEN_LIMIT_PER_ACCOUNT", login_limit_per_account),
        "API_TOKEN_LIMIT_PER_ADDRESS": _env(env, "API_TOKEN_LIMIT_PER_ADDRESS", login_limit_per_address),
        # Share links (views/sharing.py): 404s per address, wrong passwords per address / link.
        "SHARE_NOT_FOUND_LIMIT": _env(env, "SHARE_NOT_FOUND_LIMIT", "30 per 10 minutes"),
        "SHARE_PASSWORD_LIMIT_PER_ADDRESS": _env(env, "SHARE_PASSWORD_LIMIT_PER_ADDRESS", "10 per 15 minutes"),
        "SHARE_PASSWORD_LIMIT_PER_LINK": _env(env, "SHARE_PASSWORD_LIMIT_PER_LINK", "30 per hour"),
        # Web uploads (POST /upload) per account: the dashboard sends one request per photo,
        # so 100 photos in one go are 100 requests; far above what people do, far below abuse.
        "UPLOAD_LIMIT_PER_ACCOUNT": _env(env, "UPLOAD_LIMIT_PER_ACCOUNT", "300 per 10 minutes"),
        # Running the platform (issue 14; README "Administration").
        **_administration_settings(env),
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        # Server-side login sessions (services.sessions): ended after this long without a
        # request, and this long after log-in however active.
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 720),
        "SESSION_LIFETIME_HOURS": _int(env, "SESSION_LIFETIME_HOURS", 168),
        # Host names this site answers to (a forged Host header gets a 400 and never reaches
        # an absolute URL); unset: PUBLIC_URL's host, or any host when PUBLIC_URL is unset.
        "TRUSTED_HOSTS": [h.strip() for h in (_env(env, "TRUSTED_HOSTS") or "").split(",") if h.strip()] or None,
        # Throttles of the other password and cost checks (views/auth.py).
        "SIGNUP_LIMIT_PER_ADDRESS": _env(env, "SIGNUP_LIMIT_PER_ADDRESS", "20 per hour"),
        "PASSWORD_CHECK_LIMIT": _env(env, "PASSWORD_CHECK_LIMIT", "5 per 15 minutes"),
        "TRUSTED_PROXY_HOPS": _int(env, "TRUSTED_PROXY_HOPS", 0),
        "SECRET_KEY": _env(env, "SECRET_KEY"),
        "INSTANCE_PATH": _env(env, "INSTANCE_PATH", str(PROJECT_ROOT / "instance")),
    }


SIGNUP_POLICIES = ("open", "invite", "closed")


def _administration_settings(env) -> dict:
    policy = (_env(env, "SIGNUP_POLICY", "open") or "").strip().lower()
    if policy not in SIGNUP_POLICIES:
        raise ValueError(f"SIGNUP_POLICY must be one of {', '.join(SIGNUP_POLICIES)}, got {policy!r}")
    return {
        # Storage quota of an account without its own (bytes of originals and derived images).
        "DEFAULT_QUOTA_BYTES": _int(env, "DEFAULT_QUOTA_MB", 2048) * 1024 * 1024,
        # The initial signup policy; the administrator's choice (stored) overrides it.
        "SIGNUP_POLICY": policy,
        "INVITE_TTL_HOURS": _int(env, "INVITE_TTL_HOURS", 72),
        "PASSWORD_RESET_TTL_MINUTES": _int(env, "PASSWORD_RESET_TTL_MINUTES", 60),
        "EXPORT_TTL_HOURS": _int(env, "EXPORT_TTL_HOURS", 24),
        # Export archives; web and worker must both see it (a shared volume in containers).
        "EXPORT_DIR": _env(env, "EXPORT_DIR"),
        # Links in e-mails are built on this base (never on the request's Host header).
        "PUBLIC_URL": (_env(env, "PUBLIC_URL") or "").rstrip("/") or None,
        "SMTP_HOST": _env(env, "SMTP_HOST"),
        "SMTP_PORT": _int(env, "SMTP_PORT", 587),
        "SMTP_USER": _env(env, "SMTP_USER"),
        "SMTP_PASSWORD": _env(env, "SMTP_PASSWORD"),
        "SMTP_STARTTLS": _bool(env, "SMTP_STARTTLS", True),
        "MAIL_FROM": _env(env, "MAIL_FROM", "photoshare@localhost"),
        # /metrics answers loopback clients, and others sending this bearer token.
        "METRICS_TOKEN": _env(env, "METRICS_TOKEN"),
        # Re-captioning of outdated photos: this many at a time, when the queue is this short.
        "RECAPTION_BATCH": _int(env, "RECAPTION_BATCH", 20),
        "RECAPTION_INTERVAL_S": _int(env, "RECAPTION_INTERVAL_S", 15),
    }


def load_or_create_secret_key(instance_path: str | os.PathLike) -> str:
    """Read instance/secret_key, creating it once (mode 0600) if absent.

    Several gunicorn workers may start at the same moment: the key is written to a
    temporary file and hard-linked into place, so exactly one key ever wins and
    every process reads that one.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "secret_key"
    if not key_file.exists():
        candidate = folder / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(candidate, key_file)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            candidate.unlink()
    return key_file.read_text().strip()
