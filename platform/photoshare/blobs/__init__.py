"""Blob storage for image bytes, behind one small interface (blobs.base.BlobStore).

    store = blob_store_from_settings(settings, db)   # BLOB_STORE=fs (default) | gridfs
    info = store.put(f"{photo_id}/display", jpeg_bytes)   # atomic; info.size, info.sha256
    with store.open(f"{photo_id}/display") as reader:      # streams; reader.length, .version
        ...
    store.delete(f"{photo_id}/display")                     # idempotent
    for entry in store.iter_blobs(older_than=cutoff):      # the orphan sweep
        ...

Settings (blob_settings_from_env, to merge into photoshare.config.load_settings):
  BLOB_STORE  "fs" (files under MEDIA_ROOT; the default) or "gridfs" (MongoDB GridFS,
              bucket "fs": for web and workers on machines that share only MongoDB).
  MEDIA_ROOT  folder of the filesystem store; default `<PHOTOSHARE_VAR or var/>/media`;
              a relative path is taken from the project root (where `make run` runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from .base import (BlobEntry, BlobInfo, BlobNotFound, BlobReader, BlobStore, BlobStoreError, InvalidBlobKey,
                   validate_key)
from .filesystem import FileSystemBlobStore
from .gridfs_store import GridFSBlobStore

__all__ = [
    "BlobEntry", "BlobInfo", "BlobNotFound", "BlobReader", "BlobStore", "BlobStoreError", "InvalidBlobKey",
    "FileSystemBlobStore", "GridFSBlobStore", "BLOB_STORE_KINDS", "blob_settings_from_env",
    "blob_store_from_settings", "validate_key",
]

BLOB_STORE_KINDS = ("fs", "gridfs")


def _project_root() -> Path:
    from ..config import PROJECT_ROOT
    return PROJECT_ROOT


def blob_settings_from_env(env: Mapping[str, str] | None = None) -> dict:
    """BLOB_STORE and MEDIA_ROOT from the environment (an empty variable counts as unset);
    a clear ValueError for an unknown store."""
    env = os.environ if env is None else env
    kind = (env.get("BLOB_STORE") or "fs").strip().lower()
    if kind not in BLOB_STORE_KINDS:
        raise ValueError(f"BLOB_STORE must be one of {', '.join(BLOB_STORE_KINDS)}, got {env.get('BLOB_STORE')!r}")
    var = Path(env.get("PHOTOSHARE_VAR") or _project_root() / "var")
    media_root = Path(env.get("MEDIA_ROOT") or var / "media")
    if not media_root.is_absolute():
        media_root = _project_root() / media_root
    return {"BLOB_STORE": kind, "MEDIA_ROOT": str(media_root)}


def blob_store_from_settings(settings: Mapping, db=None) -> BlobStore:
    """The configured blob store. `db` (a pymongo Database) is needed for GridFS only.
    Settings without BLOB_STORE / MEDIA_ROOT take them from the environment, else the defaults."""
    # Settings win; what they lack comes from the environment, then the defaults.
    merged = dict(os.environ)
    merged.update({key: str(settings[key]) for key in ("BLOB_STORE", "MEDIA_ROOT", "PHOTOSHARE_VAR")
                   if settings.get(key)})
    defaults = blob_settings_from_env(merged)
    kind = defaults["BLOB_STORE"]
    if kind == "gridfs":
        if db is None:
            raise ValueError("BLOB_STORE=gridfs needs the MongoDB database")
        return GridFSBlobStore(db)
    return FileSystemBlobStore(defaults["MEDIA_ROOT"])
