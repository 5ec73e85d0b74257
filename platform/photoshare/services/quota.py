"""Storage quotas: what an account may store, and its storage counter.

An account's usage is a counter on its user document (`storage_used`), moved by atomic
$inc on every upload and deletion (repositories.users), never a sum over its photos, so
reading it costs the same at 10 photos or 10,000. An upload reserves its bytes (the
original and both derived images) with one conditional update *before* storing them:
the counter never passes the quota, even with parallel uploads, because each
reservation checks and adds in one atomic step. (Only an administrator lowering a quota
below the usage leaves an account above it; its uploads are refused until it deletes.)
"""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId
from pymongo.database import Database

from ..repositories import photos as photo_repo
from ..repositories import users as user_repo
from .errors import UploadRejected
from .pagination import after_cursor, encode_cursor


@dataclass
class Usage:
    used: int
    quota: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.quota)) if self.quota else 100


def effective_quota(user: dict, settings) -> int:
    own = user.get("quota_bytes")
    return int(own) if own is not None else int(settings["DEFAULT_QUOTA_BYTES"])


def usage(db: Database, user_id: ObjectId, settings) -> Usage:
    return usage_of(user_repo.find(db, user_id, {"storage_used": 1, "quota_bytes": 1}) or {}, settings)


def usage_of(user: dict, settings) -> Usage:
    """The usage recorded in an account document already read (the session's)."""
    return Usage(used=max(0, int(user.get("storage_used") or 0)), quota=effective_quota(user, settings))


def human_bytes(size: int | float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def reserve_upload(db: Database, user_id: ObjectId, size: int, settings, filename: str = "") -> None:
    """Count `size` bytes against the account, or raise UploadRejected (413,
    quota_exceeded) and count nothing."""
    user = user_repo.find(db, user_id, {"quota_bytes": 1}) or {}
    quota = effective_quota(user, settings)
    if not user_repo.reserve_storage(db, user_id, size, quota):
        current = usage(db, user_id, settings)
        raise UploadRejected(
            f"{filename or 'This photo'} was not stored: your storage quota is full "
            f"({human_bytes(current.used)} of {human_bytes(current.quota)} used). "
            "Delete some photos or ask the administrator for more space.",
            code="quota_exceeded", filename=filename, http_status=413)


def release(db: Database, user_id: ObjectId, size: int | None) -> None:
    """A counted photo is gone (its `stored_bytes`; None: a photo never counted)."""
    if size is not None:
        user_repo.release_storage(db, user_id, int(size))


def _stored_bytes(photo: dict) -> int:
    if photo.get("stored_bytes") is not None:
        return int(photo["stored_bytes"])
    # Photos from before quotas: the sizes their file references carry, else the original's.
    sizes = [ref.get("size") for ref in (photo.get("files") or {}).values() if isinstance(ref, dict)]
    return sum(int(size) for size in sizes if size) or int(photo.get("size_bytes") or 0)


def recount(db: Database) -> dict[ObjectId, int]:
    """Set every account's storage counter from its photos ({user id: bytes}).

    For stores from before quotas (their photos were never counted). It sets the counter
    rather than adding to it, so run it while nobody uploads (an upload finishing during
    the count of its account may be counted twice or not at all)."""
    totals = {}
    for user_id in user_repo.all_ids(db):
        query, cursor, total, photos = {"owner_id": user_id}, None, 0, 0
        while True:
            batch = photo_repo.newest(db, after_cursor(query, cursor), limit=500,
                                      projection={"stored_bytes": 1, "files": 1, "size_bytes": 1})
            for photo in batch:
                size = _stored_bytes(photo)
                if photo.get("stored_bytes") is None:  # counted from now on: its deletion gives it back
                    photo_repo.set_stored_bytes(db, photo["_id"], size)
                total, photos = total + size, photos + 1
            if len(batch) < 500:
                break
            cursor = encode_cursor(batch[-1])
        user_repo.set_storage_used(db, user_id, total, photos)
        totals[user_id] = total
    return totals
