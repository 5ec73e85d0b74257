"""Flask extensions and the per-app handles on MongoDB and Redis.

Each extension has its `init_app`; views reach the backends only through get_db(),
get_queue() and get_redis(), and pass them to the service layer.
"""

from __future__ import annotations

import os
import threading
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from pymongo.database import Database
from pymongo.errors import PyMongoError
from redis import Redis
from rq import Queue

from . import blobs, queueing, repositories, store

csrf = CSRFProtect()
login_manager = LoginManager()
# Storage (Redis), key prefix and fallbacks come from the RATELIMIT_* app config.
limiter = Limiter(key_func=get_remote_address)


def limiter_key(scope: str, value) -> str:
    """A rate-limit counter's key. The deployment prefix is part of each key (rather than
    RATELIMIT_KEY_PREFIX, which the shared Limiter object reads from the first app only)."""
    return f"{current_app.config['PHOTOSHARE_PREFIX']}-limiter:{scope}:{value}"


def address_key(scope: str) -> str:
    """The counter of `scope` for this request's client address."""
    return limiter_key(scope, request.remote_addr)


class Backends:
    """MongoDB and Redis clients of one app, created lazily in each process.

    Lazy and per-pid because gunicorn may fork after the app is created, and neither
    pymongo nor redis-py clients may cross a fork.
    """

    INDEX_RETRY_SECONDS = 10

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._pid = None
        self._mongo = self._db = self._redis = None
        self.indexes_ready = False
        self._index_attempt_at = 0.0

    def _connect(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            config = self.app.config
            self._mongo, self._db = store.connect(
                config["MONGO_URI"], config["MONGO_DBNAME"], config["MONGO_TIMEOUT_MS"],
                config.get("MONGO_SOCKET_TIMEOUT_MS"))
            self._redis = queueing.connect_redis(config["REDIS_URL"])
            # The image bytes of this database live in the configured blob store.
            repositories.photo_files.attach_store(self._db, blobs.blob_store_from_settings(config, self._db))
            self._pid = os.getpid()

    @property
    def db(self) -> Database:
        if self._pid != os.getpid():
            self._connect()
        return self._db

    @property
    def redis(self) -> Redis:
        if self._pid != os.getpid():
            self._connect()
        return self._redis

    @property
    def queue(self) -> Queue:
        return queueing.caption_queue(self.redis, self.app.config)

    def ensure_indexes(self) -> bool:
        """Create the indexes; False (logged) if the store is unreachable right now."""
        self._index_attempt_at = time.monotonic()
        try:
            repositories.ensure_indexes(self.db)
        except PyMongoError as error:
            self.app.logger.error("store unavailable, indexes not created yet: %s", error)
            return False
        self.indexes_ready = True
        return True

    def _ensure_indexes_if_missing(self) -> None:
        # Start-up may happen while the store is still booting: keep trying, at most
        # every few seconds, until the indexes exist.
        if not self.indexes_ready and time.monotonic() - self._index_attempt_at > self.INDEX_RETRY_SECONDS:
            self.ensure_indexes()

    def close(self) -> None:
        if self._mongo is not None:
            self._mongo.close()
        if self._redis is not None:
            self._redis.close()
        self._pid = self._mongo = self._db = self._redis = None


class BackendsExtension:
    """Attaches a Backends instance to each app (tests create many apps)."""

    def init_app(self, app: Flask) -> Backends:
        state = Backends(app)
        app.extensions["photoshare.backends"] = state
        app.before_request(state._ensure_indexes_if_missing)
        return state


backends = BackendsExtension()


def _backends() -> Backends:
    return current_app.extensions["photoshare.backends"]


def get_db() -> Database:
    return _backends().db


def get_redis() -> Redis:
    return _backends().redis


def get_queue() -> Queue:
    return _backends().queue
