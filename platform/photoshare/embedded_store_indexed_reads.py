"""Index-served reads for mongoeco 4.11.0's SQLite engine, inside the embedded store
process only (installed by embedded_store_patches; reasons in docs/STORAGE.md).

mongoeco keeps a physical SQLite index (`scalar_index_entries`, `multikey_entries`:
collection, index, type, value, storage key) for every single-field index, but its
planner uses it only for a lone equality or range without sort. Anything else, e.g.
"this owner's photos, newest first, 24 of them", parses every document of the
collection in SQL, or decodes every one in Python, after "feature probes" that scan
the collection again and are forgotten at every write. These paths answer three
shapes, and one write check, from the index instead, and hand the query back to
mongoeco's own path whenever exactness is not certain:

1. find(filter) where the filter is, or is an $and containing, an equality
   `{field: value}` on a top-level field with a plain single-field index and a string
   or ObjectId value. With an `_id` equality among the clauses (the status poll),
   the one document that can match is read by storage key. Otherwise the
   candidates come from the index; each is decoded and matched against the whole
   filter by mongoeco's own matcher. Sorted by `_id` (±1): streamed in storage-key
   order, which is `_id` order when every candidate `_id` is an ObjectId (checked in
   the index), and reading stops once skip + limit documents matched. Unsorted: the
   same, in any order. Sorted otherwise: only when there are at most SMALL_SET
   candidates, which mongoeco's own code then sorts (an album by date, the chunks of
   one GridFS file by n).
2. count(filter) for a filter that is exactly such an equality: counted in the index.
3. The one document an update or findAndModify may touch when its filter is an
   $and containing `_id: <ObjectId or string>`: read by storage key, then matched
   by mongoeco's matcher (the `_id` is unique, so no other document can match).
4. The check of a compound unique index on insert and update (GridFS's
   `fs.chunks (files_id, n)`, which mongoeco checks by decoding every chunk of every
   file): on the documents that share the first field's value, found through a
   single-field index on that field (`_compound_unique_conflict`).

The candidates are complete: a document whose field equals the value has a scalar
index entry; one whose field is an array holding it has a multikey entry, which
mongoeco keeps only for indexes flagged multikey, so for other indexes we require
that every document of the collection has a scalar entry (an array has none).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import UTC

# How often each path answered (and when it gave the query back to mongoeco), for tests.
usage: Counter = Counter()

_OBJECT_ID_KEY = re.compile(r"\(<class '[\w.]+ObjectId'>, ObjectId\('[0-9a-f]{24}'\)\)")


def _plain_equalities(plan, *, EqualsCondition, AndCondition) -> list:
    """The top-level equality clauses of a plan (itself one, or an $and of clauses)."""
    clauses = plan.clauses if isinstance(plan, AndCondition) else (plan,)
    return [c for c in clauses if isinstance(c, EqualsCondition) and "." not in c.field
            and not c.null_matches_undefined]


def _usable_index(engine, db_name, coll_name, field):
    for index in engine._load_indexes(db_name, coll_name):
        if (index["fields"] == [field] and engine._supports_scalar_index(index)
                and index.get("scalar_physical_name") and not index.get("unique")
                and not index.get("sparse") and not index.get("hidden")
                and index.get("partial_filter_expression") is None and index.get("collation") is None):
            return index
    return None


class _Candidates:
    """The storage keys an equality can match, read from the physical index tables:
    the scalar entries, plus the multikey ones (array elements) when mongoeco keeps
    them for the index. Every statement seeks the index (collection, index, type,
    value) and walks its storage keys in order: no document is read here."""

    def __init__(self, engine, conn, db_name, coll_name, clause):
        from mongoeco.types import ObjectId

        self.ok = False
        if not isinstance(clause.value, (str, ObjectId)) or isinstance(clause.value, bool):
            return
        index = _usable_index(engine, db_name, coll_name, clause.field)
        collection_id = engine._lookup_collection_id(conn, db_name, coll_name)
        if index is None or collection_id is None:
            return
        signatures = engine._multikey_signatures_for_query_value(clause.value)
        if len(signatures) != 1:
            return
        element_type, element_key = signatures[0]
        self.params = (collection_id, str(index["name"]), engine._multikey_type_score(element_type), element_key)
        where = "WHERE collection_id = ? AND index_name = ? AND type_score = ? AND element_key = ?"
        self.sources = [f"SELECT storage_key FROM scalar_index_entries INDEXED BY "
                        f"{engine._quote_identifier(str(index['scalar_physical_name']))} {where}"]
        if index.get("multikey") and index.get("multikey_physical_name"):
            self.sources.append(f"SELECT storage_key FROM multikey_entries INDEXED BY "
                                f"{engine._quote_identifier(str(index['multikey_physical_name']))} {where}")
        else:
            # No multikey entries are kept: only sound if no document holds an array
            # (or nothing) there, i.e. every document has its one scalar entry.
            entries = conn.execute("SELECT COUNT(*) FROM scalar_index_entries WHERE collection_id = ? "
                                   "AND index_name = ?", self.params[:2]).fetchone()[0]
            documents = conn.execute("SELECT COUNT(*) FROM documents WHERE db_name = ? AND coll_name = ?",
                                     (db_name, coll_name)).fetchone()[0]
            if entries != documents:
                return
        # Only the tables that hold this value (one index seek each): a single source
        # is counted and walked without a UNION.
        self.sources = [source for source in self.sources
                        if conn.execute(f"{source} LIMIT 1", self.params).fetchone() is not None]
        self.ok = True

    @property
    def _union(self) -> tuple[str, tuple]:
        # UNION: a document in both tables (or twice in an array) counts once.
        return " UNION ".join(self.sources), self.params * len(self.sources)

    def count(self, conn, cap: int | None = None) -> int:
        if not self.sources:
            return 0
        sql, params = self._union
        limit = f" LIMIT {int(cap)}" if cap else ""
        return conn.execute(f"SELECT COUNT(*) FROM (SELECT storage_key FROM ({sql}){limit})", params).fetchone()[0]

    def object_id_band(self, conn) -> tuple[str, str] | None:
        """(low, high) bounds holding every candidate key if all are ObjectId keys of one
        class (so that their string order is their `_id` order), else None. Four index
        seeks per source, whatever the number of candidates."""
        ends = [row[0] for source in self.sources for order in ("ASC", "DESC")
                for row in conn.execute(f"{source} ORDER BY storage_key {order} LIMIT 1", self.params)]
        if not ends:
            return "", ""  # nothing matches: any order is right
        if not all(_OBJECT_ID_KEY.fullmatch(key) for key in ends):
            return None
        prefixes = {key[: key.index("ObjectId('")] for key in ends}
        if len(prefixes) != 1:
            return None
        prefix = prefixes.pop()
        # Every key between the smallest and the largest that starts with the prefix
        # and "ObjectId('" is such a key: only these two ends needed checking.
        return prefix + "ObjectId('", prefix + "ObjectId('~"

    def keys(self, conn_of, descending: bool, bounds: list[tuple[str, str]]):
        """Candidate keys in order, without repeats, within `bounds` ((operator, key)
        pairs), read BATCH at a time from each source and merged."""
        import heapq

        order, step = ("DESC", "<") if descending else ("ASC", ">")
        extra = "".join(f" AND storage_key {operator} ?" for operator, _ in bounds)
        extra_params = tuple(key for _, key in bounds)

        def walk(source):
            last = None
            while True:
                after = f" AND storage_key {step} ?" if last is not None else ""
                rows = conn_of().execute(f"{source}{extra}{after} ORDER BY storage_key {order} LIMIT {BATCH}",
                                         self.params + extra_params + ((last,) if last is not None else ())
                                         ).fetchall()
                yield from (key for (key,) in rows)
                if len(rows) < BATCH:
                    return
                last = rows[-1][0]

        previous = None
        for key in heapq.merge(*(walk(source) for source in self.sources), reverse=descending):
            if key != previous:
                yield key
            previous = key


def _best_candidates(engine, conn, db_name, coll_name, equalities, *, need_count: bool):
    """Of the filter's usable equalities, the one with the fewest candidates (counted
    up to a cap: past it, any of them is as good), and that count. With one usable
    equality there is nothing to compare: it is counted only if the caller needs the
    count (a sort on another field than `_id`), not on every page of the dashboard
    (up to 2,000 index entries walked for a page of 24)."""
    usable = [c for c in (_Candidates(engine, conn, db_name, coll_name, clause) for clause in equalities) if c.ok]
    if len(usable) == 1 and not need_count:
        return usable[0], None
    best, best_count = None, None
    for candidates in usable:
        count = candidates.count(conn, cap=COUNT_CAP)
        if best is None or count < best_count:
            best, best_count = candidates, count
    return best, best_count


BATCH = 64  # keys, then documents, read per statement while streaming a page
COUNT_CAP = 2000
# At most this many candidates are read whole to be sorted on another field than _id
# (an album, a GridFS file's chunks by n); beyond, mongoeco's own path runs.
SMALL_SET = 200
# A compound unique index is checked on at most this many documents (else: mongoeco).
UNIQUE_CHECK_CAP = 1000


def _documents_by_keys(engine, reader, keys):
    """The documents of `keys`, in that order, read a batch at a time on the reader's
    connection (each batch runs inside one fetch, under mongoeco's own guard). A
    document deleted since its key was read is skipped, as a later batch of a
    MongoDB cursor would."""
    import itertools

    keys = iter(keys)
    while batch := list(itertools.islice(keys, BATCH)):
        conn = engine._require_connection(reader.context)
        placeholders = ", ".join("?" for _ in batch)
        payloads = dict(conn.execute(
            f"SELECT storage_key, document FROM documents WHERE db_name = ? AND coll_name = ? "
            f"AND storage_key IN ({placeholders})", (reader.db_name, reader.coll_name, *batch)))
        for key in batch:
            if key in payloads:
                yield engine._deserialize_document(payloads[key])


def _id_bounds(engine, band: tuple[str, str], clauses) -> list[tuple[str, str]]:
    """The `_id` range of the filter (a page after a cursor) as storage-key bounds, so
    the keys outside it are not even read; the filter still checks every document."""
    from mongoeco.core.query_plan import (GreaterThanCondition, GreaterThanOrEqualCondition, LessThanCondition,
                                          LessThanOrEqualCondition)
    from mongoeco.types import ObjectId

    operators = {LessThanCondition: "<", LessThanOrEqualCondition: "<=", GreaterThanCondition: ">",
                 GreaterThanOrEqualCondition: ">="}
    bounds = []
    for clause in clauses:
        operator = operators.get(type(clause))
        if operator and clause.field == "_id" and isinstance(clause.value, ObjectId):
            key = engine._storage_key(clause.value)
            if band[0] and band[0] <= key < band[1]:
                bounds.append((operator, key))
    return bounds


def _compound_unique_conflict(engine, conn, collection_id, index, document, exclude_storage_key):
    """A compound unique index (GridFS's `fs.chunks (files_id, n)`), checked on the few
    documents sharing the new document's first-field value, found through that field's
    single-field index; None (mongoeco's full scan runs) when that is not possible.
    A conflict needs an equal first value, so every conflicting document is among them;
    each is compared exactly as mongoeco's own scan compares."""
    from mongoeco.core.paths import get_document_value
    from mongoeco.core.query_plan import EqualsCondition
    from mongoeco.engines import sqlite as engine_module

    fields = index["fields"]
    if len(fields) < 2 or index.get("collation") is not None or "." in fields[0]:
        return None
    found, value = get_document_value(document, fields[0])
    if not found:
        return None
    row = conn.execute("SELECT db_name, coll_name FROM collections WHERE collection_id = ?", (collection_id,)).fetchone()
    if row is None:
        return None
    db_name, coll_name = row
    candidates = _Candidates(engine, conn, db_name, coll_name, EqualsCondition(fields[0], value))
    if not candidates.ok or candidates.count(conn, cap=UNIQUE_CHECK_CAP + 1) > UNIQUE_CHECK_CAP:
        return None
    keys = [key for key in candidates.keys(lambda: conn, False, []) if key != exclude_storage_key]
    key = tuple(engine._index_value(document, field) for field in fields)
    for start in range(0, len(keys), BATCH):
        batch = keys[start:start + BATCH]
        placeholders = ", ".join("?" for _ in batch)
        for (payload,) in conn.execute(f"SELECT document FROM documents WHERE db_name = ? AND coll_name = ? "
                                       f"AND storage_key IN ({placeholders})", (db_name, coll_name, *batch)):
            existing = engine._deserialize_document(payload)
            if not engine_module.document_in_virtual_index(existing, index):
                continue
            if tuple(engine._index_value(existing, field) for field in fields) == key:
                return True
    return False


def install(engine_class) -> None:
    from mongoeco.core.query_plan import AndCondition, EqualsCondition
    from mongoeco.engines._sqlite_connection import sqlite_read_scope
    from mongoeco.engines.semantic_core import compile_find_semantics, iter_filtered_documents

    def equalities(plan):
        return _plain_equalities(plan, EqualsCondition=EqualsCondition, AndCondition=AndCondition)

    def clauses_of(plan):
        return plan.clauses if isinstance(plan, AndCondition) else (plan,)

    from mongoeco.types import ObjectId

    original_open = engine_class._open_scan_documents_sync

    def open_scan_documents(self, reader):
        semantics = reader.semantics
        sort = semantics.sort
        by_id = bool(sort) and len(sort) == 1 and sort[0][0] == "_id" and sort[0][1] in (1, -1)
        if (semantics.text_query is not None or semantics.collation is not None or semantics.hint is not None
                or self._is_profile_namespace(reader.coll_name)):
            return original_open(self, reader)
        clauses = equalities(semantics.query_plan)
        if not clauses:
            return original_open(self, reader)
        by_key = [c for c in clauses if c.field == "_id" and isinstance(c.value, (str, ObjectId))]
        if by_key:
            if isinstance(semantics.query_plan, EqualsCondition):
                return original_open(self, reader)  # a lone `_id`: mongoeco reads it by key itself
            # `_id` and more (the status poll: `_id` and owner): the one document that
            # can match, read by storage key, then mongoeco's own filter and projection.
            usage["find_by_id"] += 1
            row = self._require_connection(reader.context).execute(
                "SELECT document FROM documents WHERE db_name = ? AND coll_name = ? AND storage_key = ?",
                (reader.db_name, reader.coll_name, self._storage_key(by_key[0].value))).fetchone()
            source = [] if row is None else [self._deserialize_document(row[0])]
            return self._finalize_scan_source(source, replace(semantics, compiled_query=None))
        conn = self._require_connection(reader.context)
        candidates, count = _best_candidates(self, conn, reader.db_name, reader.coll_name, clauses,
                                             need_count=bool(sort) and not by_id)
        if candidates is None or (sort and not by_id and count > SMALL_SET):
            usage["indexed_find_declined"] += 1
            return original_open(self, reader)
        if by_id:
            # Streamed in storage-key order, which must then be `_id` order.
            band = candidates.object_id_band(conn)
            if band is None:
                usage["indexed_find_declined"] += 1
                return original_open(self, reader)
            keys = candidates.keys(lambda: self._require_connection(reader.context), sort[0][1] == -1,
                                   _id_bounds(self, band, clauses_of(semantics.query_plan)))
            # mongoeco's own filter, skip, limit and projection, streamed: reading
            # stops at the limit.
            semantics = replace(semantics, sort=None)
        else:
            # No order asked (any order is right), or a small set: mongoeco's own
            # filter, then its sort, skip, limit and projection over the few documents.
            keys = candidates.keys(lambda: self._require_connection(reader.context), False, [])
        usage["indexed_find"] += 1
        source = _documents_by_keys(self, reader, keys)
        return self._finalize_scan_source(source, replace(semantics, compiled_query=None))

    engine_class._open_scan_documents_sync = open_scan_documents

    original_count = engine_class._count_matching_documents_sync

    def count_matching_documents(self, db_name, coll_name, semantics, context):
        plan = semantics.query_plan
        if (isinstance(plan, EqualsCondition) and semantics.skip == 0 and semantics.limit is None
                and semantics.hint is None and semantics.collation is None and semantics.text_query is None):
            clauses = equalities(plan)
            if clauses:
                self._ensure_session_can_use_engine(context)
                with self._lock:
                    conn = self._require_connection(context)
                    with self._bind_connection(conn):
                        # As mongoeco's count: expired TTL documents go first.
                        self._purge_expired_documents_sync(conn, db_name, coll_name, context=context,
                                                           now=semantics.variables.now.replace(tzinfo=UTC))
                        with sqlite_read_scope(conn):
                            candidates = _Candidates(self, conn, db_name, coll_name, clauses[0])
                            if candidates.ok:
                                usage["indexed_count"] += 1
                                return candidates.count(conn)
                usage["indexed_count_declined"] += 1
        return original_count(self, db_name, coll_name, semantics, context)

    engine_class._count_matching_documents_sync = count_matching_documents

    original_select_first = engine_class._select_first_document_for_plan

    def select_first_document_for_plan(self, db_name, coll_name, plan, *, hint=None, context=None):
        from mongoeco.types import ObjectId

        if hint is None and isinstance(plan, AndCondition):
            by_id = [c for c in equalities(plan) if c.field == "_id" and isinstance(c.value, (ObjectId, str))]
            if by_id:
                conn = self._require_connection(context)
                row = conn.execute(
                    "SELECT storage_key, document FROM documents WHERE db_name = ? AND coll_name = ? "
                    "AND storage_key = ?", (db_name, coll_name, self._storage_key(by_id[0].value))).fetchone()
                usage["select_by_id"] += 1
                if row is None:
                    return None
                document = self._deserialize_document(row[1])
                matched = next(iter(iter_filtered_documents([document], compile_find_semantics({}, plan=plan,
                                                                                                 limit=1))), None)
                return (row[0], document) if matched is not None else None
        return original_select_first(self, db_name, coll_name, plan, hint=hint, context=context)

    engine_class._select_first_document_for_plan = select_first_document_for_plan

    original_unique_check = engine_class._unique_index_conflict_via_scalar_entries

    def unique_index_conflict(self, conn, collection_id, index, document, *, exclude_storage_key):
        found = original_unique_check(self, conn, collection_id, index, document,
                                      exclude_storage_key=exclude_storage_key)
        if found is not None or collection_id is None:
            return found
        conflict = _compound_unique_conflict(self, conn, collection_id, index, document, exclude_storage_key)
        if conflict is not None:
            usage["compound_unique_check"] += 1
        return conflict

    engine_class._unique_index_conflict_via_scalar_entries = unique_index_conflict
