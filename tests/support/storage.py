"""What tests look at in the blob store that holds the image bytes of a test database."""

from __future__ import annotations

import os
import time

from photoshare.repositories import photo_files


def stored_keys(db) -> set[str]:
    """The keys of every image file stored for this database."""
    return {entry.key for entry in photo_files.store_of(db).iter_blobs()}


def keys_of(photo: dict) -> set[str]:
    """The keys of a photo document's files."""
    return {ref["key"] for ref in (photo.get("files") or {}).values()}


def age_stored_files(db, minutes: float) -> None:
    """Make every stored file look written `minutes` ago (for the orphan sweep)."""
    store = photo_files.store_of(db)
    then = time.time() - minutes * 60
    for entry in store.iter_blobs():
        os.utime(store.path_of(entry.key), (then, then))
