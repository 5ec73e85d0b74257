"""The store and Redis connections of a worker process, shared by its jobs."""

from __future__ import annotations

from .. import blobs, queueing, store
from ..config import load_settings
from ..repositories import photo_files


class WorkerContext:
    def __init__(self, settings: dict):
        self.settings = settings
        self.mongo, self.db = store.connect(settings["MONGO_URI"], settings["MONGO_DBNAME"],
                                            settings["MONGO_TIMEOUT_MS"], settings.get("MONGO_SOCKET_TIMEOUT_MS"))
        self.redis = queueing.connect_redis(settings["REDIS_URL"])
        self.queue = queueing.caption_queue(self.redis, settings)
        # The image bytes of this database live in the configured blob store.
        photo_files.attach_store(self.db, blobs.blob_store_from_settings(settings, self.db))

    def close(self) -> None:
        self.mongo.close()
        self.redis.close()


_context: WorkerContext | None = None


def configure(settings: dict | None = None) -> WorkerContext:
    """(Re)create this process's connections; jobs use them."""
    global _context
    if _context is not None:
        _context.close()
    _context = WorkerContext(settings or load_settings())
    return _context


def context() -> WorkerContext:
    return _context or configure()
