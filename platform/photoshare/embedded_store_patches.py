"""Performance patches for mongoeco 4.11.0, applied only inside the embedded store
process (photoshare.embedded_store), never to the application or to a real MongoDB.

Why: measured in docs/STORAGE.md, the embedded store's costs grow with the size of
the collection on paths the app runs on every request. Each patch below removes a
whole-collection decode where mongoeco itself already has the exact answer, and keeps
its results identical (tests/storage/test_embedded_store_patches.py runs the same
operations with and without the patches and compares). They are pinned to the
version they were written against: under any other mongoeco they are not applied
(the store runs as released, slower but correct) and a warning says so.
"""

from __future__ import annotations

import inspect
import logging

log = logging.getLogger(__name__)

PATCHED_VERSION = "4.11.0"
_applied: list[str] = []


def applied_patches() -> list[str]:
    """Names of the patches in effect in this process."""
    return list(_applied)


def _patch_single_insert_id_scan(engine_class) -> None:
    """Insert: check `_id` uniqueness by the storage key unless the `_id` is numeric.

    mongoeco's single-document insert (every wire `insert`, which it runs one document
    at a time, so also insert_many and every GridFS chunk) calls the unique-index check
    with scan_payload_id=True, which JSON-decodes every document of the collection to
    compare `_id`s. The storage key already is the canonical form of the `_id`; only
    numeric `_id`s (1 == 1.0 == Int64(1)) have BSON-equal values with different keys,
    which is exactly the rule mongoeco's own batch insert applies
    (_sqlite_write_ops._batch_id_equality_keys). We apply that rule here too.
    """
    from mongoeco.core.identity import id_contains_numeric_value

    original = engine_class._validate_document_against_unique_indexes

    def validate(self, db_name, coll_name, document, *, exclude_storage_key=None, skip_id_check=False,
                 scan_payload_id=False):
        if scan_payload_id and not id_contains_numeric_value(document.get("_id")):
            scan_payload_id = False
        return original(self, db_name, coll_name, document, exclude_storage_key=exclude_storage_key,
                        skip_id_check=skip_id_check, scan_payload_id=scan_payload_id)

    engine_class._validate_document_against_unique_indexes = validate


def _patch_decode_signature_lookup(engine_class) -> None:
    """Decode: look the codec's signature up once, not once per document.

    _decode_codec_payload calls inspect.signature(codec.decode) for every document it
    decodes (a quarter of the decode time in our profiles); the codec of an engine
    never changes, so the answer is cached per codec.
    """
    cache: dict[int, bool] = {}

    def decode_codec_payload(self, payload, *, preserve_bson_wrappers):
        decode = self._codec.decode
        takes_flag = cache.get(id(self._codec))
        if takes_flag is None:
            try:
                takes_flag = "preserve_bson_wrappers" in inspect.signature(decode).parameters
            except (TypeError, ValueError):
                takes_flag = False
            cache[id(self._codec)] = takes_flag
        if not takes_flag:
            return decode(payload)
        return decode(payload, preserve_bson_wrappers=preserve_bson_wrappers)

    engine_class._decode_codec_payload = decode_codec_payload


def _patch_multikey_entry_lookup(engine_class) -> None:
    """Writes: find a document's multikey index entries by an index, not a table scan.

    Every update of a document deletes and rewrites its index entries. mongoeco looks
    its scalar entries up through an index on (collection_id, storage_key) but has no
    such index on `multikey_entries`, so each update of a photo scans every array entry
    of every index of the store (album_ids, search words...): the worker's completion
    took 47 ms per update at 1,000 photos and grew with the library. We add the same
    index to that table when the store opens (CREATE INDEX IF NOT EXISTS: a plain
    SQLite index, which the released mongoeco also maintains and may ignore).
    """
    original = engine_class._backfill_scalar_indexes_sync

    def backfill_scalar_indexes(self, connection):
        connection.execute("CREATE INDEX IF NOT EXISTS photoshare_multikey_entries_storage "
                           "ON multikey_entries (collection_id, storage_key)")
        return original(self, connection)

    engine_class._backfill_scalar_indexes_sync = backfill_scalar_indexes


def _patch_indexed_reads(engine_class) -> None:
    """Reads answered from mongoeco's own single-field index tables: an equality
    sorted by `_id` (the owner's newest-first page, an album page), a count by one
    equality (the dashboard count), and the one document an update by `_id` with more
    conditions may touch (the worker's claim and completion). See
    embedded_store_indexed_reads for the rules that keep them exact."""
    from .embedded_store_indexed_reads import install

    install(engine_class)


PATCHES = {
    "single_insert_id_scan": _patch_single_insert_id_scan,
    "decode_signature_lookup": _patch_decode_signature_lookup,
    "multikey_entry_lookup": _patch_multikey_entry_lookup,
    "indexed_reads": _patch_indexed_reads,
}


def apply_patches_to(engine_class) -> None:
    """Install every patch on `engine_class` (tests use a subclass of SQLiteEngine so
    that the released class stays as it is in their process)."""
    for patch in PATCHES.values():
        patch(engine_class)


def apply_patches() -> list[str]:
    """Apply every patch once (idempotent); returns the names in effect. Does nothing,
    loudly, under a mongoeco other than PATCHED_VERSION."""
    import mongoeco
    from mongoeco.engines.sqlite import SQLiteEngine

    if _applied:
        return applied_patches()
    if mongoeco.__version__ != PATCHED_VERSION:
        log.warning("mongoeco %s is not %s: the embedded store runs without photoshare's performance "
                    "patches (see docs/STORAGE.md)", mongoeco.__version__, PATCHED_VERSION)
        return []
    for name, patch in PATCHES.items():
        patch(SQLiteEngine)
        _applied.append(name)
    return applied_patches()
