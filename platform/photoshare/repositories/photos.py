"""The photo repository: the one module that reads and writes the `photos` collection.

Every change of a photo document is a named operation here, and every caption state
transition of the state machine below is one conditional update, so its rule (who may
move a photo from which state to which) is written once:

    pending ──claim──▶ processing ──complete──▶ done
       ▲                   │  └──────fail─────▶ failed
       │                   └──retry_later──▶ pending       (RQ retries left)
       ├──requeue (reconciliation: no live job; counts requeue_count)
       └──request_recaption (done | failed only: "caption again")
    pending | processing ──give_up──▶ failed  (re-queued too often)

Writes made on behalf of a job (claim, complete, fail, retry_later) match the photo's
current `job_id`: a job superseded by "caption again" or by reconciliation changes
nothing. Functions return None (or False) when nothing matched; the services decide
whether that is a 404, a conflict or a quiet end. Owner filters are the caller's
argument on every read and write that a user makes, so another user's photo is simply
not found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Iterator

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from ..clock import utcnow
from .search_tokens import TOKEN_INPUTS, photo_tokens
from . import photo_attention

# caption_status values
PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
IN_PROGRESS = (PENDING, PROCESSING)
CAPTION_STATUSES = (PENDING, PROCESSING, DONE, FAILED)

# Projections. The grid never needs the model's alternatives; the API shows them. The
# bulky attention maps are not in the photo document at all (repositories.photo_attention).
LIST_FIELDS = {"attention": 0, "alternatives": 0}
DETAIL_FIELDS = {"attention": 0}
# Newest upload first by `_id` (made at upload) alone: one key both stores serve from an
# index (docs/STORAGE.md); cursors (services.pagination) are `_id < last` on that key.
NEWEST_FIRST = [("_id", DESCENDING)]


def _photos(db: Database):
    return db.photos


def ensure_indexes(db: Database) -> None:
    photos = _photos(db)
    # Grid and cursor pages: a user's photos, newest upload first (NEWEST_FIRST).
    photos.create_index([("owner_id", ASCENDING), ("_id", DESCENDING)], name="owner_id_desc")
    # An album's photos, newest first (album_ids is an array: multikey index).
    photos.create_index([("owner_id", ASCENDING), ("album_ids", ASCENDING), ("_id", DESCENDING)],
                        name="owner_album_id_desc")
    # Search (repositories.search_tokens): the owner's, and /explore's over public photos.
    # Multikey indexes; a query requires all its tokens, bounded by one of them.
    photos.create_index([("owner_id", ASCENDING), ("search_tokens", ASCENDING)], name="owner_search")
    photos.create_index([("visibility", ASCENDING), ("caption_tokens", ASCENDING)], name="public_search")
    # Public listings, newest upload first: /explore and a profile.
    photos.create_index([("visibility", ASCENDING), ("_id", DESCENDING)], name="visibility_id")
    photos.create_index([("owner_id", ASCENDING), ("visibility", ASCENDING), ("_id", DESCENDING)],
                        name="owner_visibility_id")
    # Single-field indexes: the only kind the embedded store reads (docs/STORAGE.md); on
    # MongoDB they are cheap. A search walks its rarest token's entries in _id order.
    photos.create_index([("search_tokens", ASCENDING)], name="search_tokens")
    photos.create_index([("caption_tokens", ASCENDING)], name="caption_tokens")
    photos.create_index([("visibility", ASCENDING)], name="visibility")
    # Exact duplicates (find_duplicate): the sha256 of the uploaded bytes, nearly unique on
    # its own, so one single-field index serves the owner's lookup on both stores.
    photos.create_index([("sha256", ASCENDING)], name="sha256")
    photos.create_index([("owner_id", ASCENDING)], name="owner")
    photos.create_index([("album_ids", ASCENDING)], name="album_ids")
    # Reconciliation: photos left pending or processing.
    photos.create_index([("caption_status", ASCENDING), ("caption_requested_at", ASCENDING)],
                        name="caption_status")
    # The system page: captioned photos of another model version than the current one.
    photos.create_index([("caption_status", ASCENDING), ("model_version", ASCENDING)], name="status_version")
    photo_attention.ensure_indexes(db)
    for retired in set(photos.index_information()) & {"owner_newest", "owner_album_newest"}:
        photos.drop_index(retired)  # by created_at: replaced by the _id-ordered ones above


# -- Reading ----------------------------------------------------------------------

def find_owned(db: Database, owner_id: ObjectId, photo_id: ObjectId, projection=None) -> dict | None:
    return _photos(db).find_one({"_id": photo_id, "owner_id": owner_id}, projection)


def find_visible(db: Database, photo_id: ObjectId, visibility: str, projection=None) -> dict | None:
    """The photo if its visibility is `visibility` (the public share page)."""
    return _photos(db).find_one({"_id": photo_id, "visibility": visibility}, projection)


def exists(db: Database, photo_id: ObjectId, owner_id: ObjectId | None = None) -> bool:
    query = {"_id": photo_id} if owner_id is None else {"_id": photo_id, "owner_id": owner_id}
    return _photos(db).count_documents(query, limit=1) > 0


def count(db: Database, query: dict) -> int:
    # The `count` command: count_documents is an aggregation, which the embedded store runs
    # by decoding every match (seconds at 10,000 photos), while `count` of one indexed
    # equality is counted in its index there; on MongoDB both are exact here (unsharded).
    return _photos(db).database.command("count", _photos(db).name, query=query)["n"]


def page(db: Database, query: dict, *, skip: int, limit: int, projection=LIST_FIELDS) -> list[dict]:
    """Photos matching `query`, newest first, from offset `skip`."""
    return list(_photos(db).find(query, projection).sort(NEWEST_FIRST).skip(skip).limit(limit))


def newest(db: Database, query: dict, *, limit: int, projection=LIST_FIELDS) -> list[dict]:
    """The first `limit` photos matching `query`, newest first (cursor pages add `_id < last`)."""
    return list(_photos(db).find(query, projection).sort(NEWEST_FIRST).limit(limit))


def existing_ids(db: Database, photo_ids: Iterable[ObjectId]) -> set[ObjectId]:
    """Which of `photo_ids` have a document (the orphan sweep)."""
    return {p["_id"] for p in _photos(db).find({"_id": {"$in": list(photo_ids)}}, {"_id": 1})}


def in_progress_before(db: Database, cutoff: datetime) -> Iterator[dict]:
    """Photos pending or processing whose caption was requested before `cutoff`."""
    return _photos(db).find(
        {"caption_status": {"$in": list(IN_PROGRESS)}, "caption_requested_at": {"$lte": cutoff}},
        {"job_id": 1, "requeue_count": 1},
    )


def files_of_owner(db: Database, owner_id: ObjectId) -> Iterator[dict]:
    """The `files` of each of the owner's photos (account deletion)."""
    return ((p.get("files") or {}) for p in _photos(db).find({"owner_id": owner_id}, {"files": 1}))


def with_legacy_files(db: Database) -> Iterator[dict]:
    """Photos whose files are still GridFS file ids (stores from before the blob store)."""
    query = {"$or": [{f"files.{variant}": {"$type": "objectId"}} for variant in ("original", "display", "thumbnail")]}
    return _photos(db).find(query, {"files": 1, "mime_type": 1})


def replace_file_ref(db: Database, photo_id: ObjectId, variant: str, old_ref, new_ref: dict) -> bool:
    """Point one file of the photo at its new place, if it still names `old_ref`."""
    result = _photos(db).update_one({"_id": photo_id, f"files.{variant}": old_ref},
                                    {"$set": {f"files.{variant}": new_ref}})
    return result.matched_count > 0


def find_duplicate(db: Database, owner_id: ObjectId, sha256: str) -> dict | None:
    """The owner's photo whose uploaded bytes have this sha256, if any (photos stored
    before uploads were hashed have no sha256 and are never found)."""
    return _photos(db).find_one({"sha256": sha256, "owner_id": owner_id}, {"_id": 1, "filename": 1})


def count_in_album(db: Database, album_id: ObjectId) -> int:
    # By album id alone (one indexed equality, see count): an album id is unique across
    # owners and add_to_album only ever files the album owner's photos under it.
    return count(db, {"album_ids": album_id})


# -- Creating and deleting -----------------------------------------------------------

def insert_pending(db: Database, photo: dict, job_id: str) -> dict:
    """Insert a new photo, pending its caption under `job_id`. The job id is written
    before the job exists, so the worker always finds it here."""
    now = utcnow()
    photo.update({
        "created_at": now,
        "ai_caption": None,
        "caption_status": PENDING,
        "caption_error": None,
        "caption_requested_at": now,
        "job_id": job_id,
        "requeue_count": 0,
    })
    if photo.get("user_caption"):
        photo["user_caption_updated_at"] = now
    photo.update(photo_tokens(photo))
    _photos(db).insert_one(photo)
    return photo


def delete(db: Database, photo_id: ObjectId, owner_id: ObjectId | None = None) -> dict | None:
    """Delete one photo document; returns it (its file ids are the caller's to remove)."""
    query = {"_id": photo_id} if owner_id is None else {"_id": photo_id, "owner_id": owner_id}
    photo = _photos(db).find_one_and_delete(query)
    if photo is not None:
        photo_attention.delete(db, photo_id)
    return photo


def delete_all_of_owner(db: Database, owner_id: ObjectId) -> int:
    deleted = _photos(db).delete_many({"owner_id": owner_id}).deleted_count
    photo_attention.delete_all_of_owner(db, owner_id)
    return deleted


# -- The owner's settings ------------------------------------------------------------

def update_settings(db: Database, owner_id: ObjectId, photo_id: ObjectId, fields: dict,
                    projection=None) -> dict | None:
    """One atomic $set of the owner's settings (user caption, visibility, albums), each
    already checked by the service; the photo after the change, or None."""
    allowed = {"user_caption", "user_caption_updated_at", "visibility", "visibility_updated_at", "album_ids",
               "album_tokens", "show_camera", "show_date_taken"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not a photo setting: {sorted(unknown)}")
    photo = _photos(db).find_one_and_update(
        {"_id": photo_id, "owner_id": owner_id}, {"$set": fields},
        projection=projection, return_document=ReturnDocument.AFTER)
    if photo is not None and set(fields) & set(TOKEN_INPUTS):
        refresh_search_tokens(db, photo_id)
    return photo


def add_to_album(db: Database, owner_id: ObjectId, photo_id: ObjectId, album_id: ObjectId,
                 max_albums: int) -> bool:
    """Add one album to the photo unless it is already in `max_albums`. The limit is part
    of the update's condition (no element at the last allowed position yet), so two
    concurrent additions cannot pass it together. False when nothing matched."""
    result = _photos(db).update_one(
        {"_id": photo_id, "owner_id": owner_id, f"album_ids.{max_albums - 1}": {"$exists": False}},
        {"$addToSet": {"album_ids": album_id}},
    )
    return result.matched_count > 0


def remove_from_album(db: Database, owner_id: ObjectId, photo_id: ObjectId, album_id: ObjectId) -> bool:
    result = _photos(db).update_one({"_id": photo_id, "owner_id": owner_id}, {"$pull": {"album_ids": album_id}})
    return result.matched_count > 0


def remove_album_everywhere(db: Database, owner_id: ObjectId, album_id: ObjectId) -> None:
    """An album was deleted: take it out of every photo (the photos stay)."""
    _photos(db).update_many({"owner_id": owner_id, "album_ids": album_id}, {"$pull": {"album_ids": album_id}})


# -- Search tokens (repositories.search_tokens) -----------------------------------------

def refresh_search_tokens(db: Database, photo_id: ObjectId, attempts: int = 5) -> bool:
    """Recompute the photo's token arrays from its TOKEN_INPUTS. Every write of an input
    calls this afterwards; the write of the arrays is conditional on the inputs read, so
    of two concurrent changes the later refresh wins and the arrays never stay stale."""
    for _ in range(attempts):
        photo = _photos(db).find_one({"_id": photo_id}, dict.fromkeys(TOKEN_INPUTS, 1))
        if photo is None:
            return False
        unchanged = {"_id": photo_id, **{field: photo.get(field) for field in TOKEN_INPUTS}}
        if _photos(db).update_one(unchanged, {"$set": photo_tokens(photo)}).matched_count:
            return True
    return False


def set_album_tokens(db: Database, photo_id: ObjectId, album_ids: list[ObjectId], tokens: list[str]) -> bool:
    """Store the tokens of the photo's album names, computed for `album_ids`; nothing is
    written (False) if its albums changed meanwhile (the caller computes again)."""
    query = {"_id": photo_id, "album_ids": album_ids}
    if not _photos(db).update_one(query, {"$set": {"album_tokens": tokens}}).matched_count:
        return False
    refresh_search_tokens(db, photo_id)
    return True


def album_memberships(db: Database, owner_id: ObjectId, album_id: ObjectId) -> Iterator[dict]:
    """`album_ids` of each of the owner's photos in the album (an album was renamed)."""
    return _photos(db).find({"owner_id": owner_id, "album_ids": album_id}, {"album_ids": 1})


def without_search_tokens(db: Database, limit: int = 500) -> list[dict]:
    """Photos stored before search tokens existed (the backfill), with their owner and albums."""
    return list(_photos(db).find({"search_tokens": {"$exists": False}}, {"owner_id": 1, "album_ids": 1})
                .limit(limit))


# -- Caption state transitions -------------------------------------------------------

def _job_filter(photo_id: ObjectId, job_id: str | None) -> dict:
    # job_id None: a job run outside RQ (tests, tools) writes whatever job is current.
    return {"_id": photo_id} if job_id is None else {"_id": photo_id, "job_id": job_id}


def claim(db: Database, photo_id: ObjectId, job_id: str | None, worker_name: str | None) -> dict | None:
    """pending | processing → processing, for the photo's current job only. Returns the
    fields the job needs (its files, request time), or None: deleted or superseded."""
    query = {**_job_filter(photo_id, job_id), "caption_status": {"$in": list(IN_PROGRESS)}}
    return _photos(db).find_one_and_update(
        query,
        {"$set": {"caption_status": PROCESSING, "caption_started_at": utcnow(), "caption_worker": worker_name}},
        projection={"files": 1, "caption_requested_at": 1, "caption_started_at": 1},
        return_document=ReturnDocument.AFTER,
    )


def complete(db: Database, photo_id: ObjectId, job_id: str | None, result: dict) -> bool:
    """processing → done with the model's output. The attention maps are saved first
    (repositories.photo_attention): a reader that sees the photo done finds them."""
    result = dict(result)
    words = result.pop("attention", None)
    fields = {**result, "caption_status": DONE, "caption_error": None, "caption_finished_at": utcnow()}
    current = _photos(db).find_one(_job_filter(photo_id, job_id), {"owner_id": 1, **dict.fromkeys(TOKEN_INPUTS, 1)})
    if current is None:
        return False
    if words is not None:
        photo_attention.save(db, photo_id, current["owner_id"], words)
    # Result and search tokens in one write, if the tokens' other inputs are as read (else:
    # a caption or album changed meanwhile; the result alone, then the tokens recomputed).
    others = {field: current.get(field) for field in TOKEN_INPUTS if field != "ai_caption"}
    tokens = photo_tokens({**current, "ai_caption": fields["ai_caption"]})
    if _photos(db).update_one({**_job_filter(photo_id, job_id), **others},
                              {"$set": {**fields, **tokens}}).matched_count:
        return True
    if _photos(db).update_one(_job_filter(photo_id, job_id), {"$set": fields}).matched_count == 0:
        return False
    refresh_search_tokens(db, photo_id)
    return True


def fail(db: Database, photo_id: ObjectId, job_id: str | None, reason: str) -> bool:
    """→ failed with a reason for the user (the model cannot read the image, or the last
    retry failed)."""
    fields = {"caption_status": FAILED, "caption_error": reason, "caption_finished_at": utcnow()}
    return _photos(db).update_one(_job_filter(photo_id, job_id), {"$set": fields}).matched_count > 0


def retry_later(db: Database, photo_id: ObjectId, job_id: str, note: str) -> bool:
    """An attempt failed and RQ will retry the same job: → pending, with a note."""
    fields = {"caption_status": PENDING, "caption_error": note}
    return _photos(db).update_one(_job_filter(photo_id, job_id), {"$set": fields}).matched_count > 0


def _new_request(job_id: str) -> dict:
    # Status, job id, request time and error change in one update: no reader ever sees
    # the photo pending under an old job.
    return {"caption_status": PENDING, "caption_error": None, "job_id": job_id, "caption_requested_at": utcnow()}


def request_recaption(db: Database, owner_id: ObjectId, photo_id: ObjectId, job_id: str) -> bool:
    """done | failed → pending under a new job ("caption again"). Not while a caption is
    on its way, so two clicks cannot queue two jobs."""
    query = {"_id": photo_id, "owner_id": owner_id, "caption_status": {"$nin": list(IN_PROGRESS)}}
    return _photos(db).update_one(query, {"$set": _new_request(job_id)}).matched_count > 0


def requeue(db: Database, photo_id: ObjectId, old_job_id: str | None, job_id: str) -> bool:
    """Reconciliation: pending | processing under `old_job_id` → pending under a new job
    (a photo captioned or given a new job meanwhile is left alone)."""
    query = {"_id": photo_id, "job_id": old_job_id, "caption_status": {"$in": list(IN_PROGRESS)}}
    update = {"$set": _new_request(job_id), "$inc": {"requeue_count": 1}}
    return _photos(db).update_one(query, update).matched_count > 0


def give_up(db: Database, photo_id: ObjectId, old_job_id: str | None, reason: str) -> bool:
    """Reconciliation: pending | processing under `old_job_id` → failed (re-queued too often)."""
    query = {"_id": photo_id, "job_id": old_job_id, "caption_status": {"$in": list(IN_PROGRESS)}}
    fields = {"caption_status": FAILED, "caption_finished_at": utcnow(), "caption_error": reason}
    return _photos(db).update_one(query, {"$set": fields}).matched_count > 0


# -- Administration (services.system) ----------------------------------------------------

def outdated_after(db: Database, model_version: str, after_id: ObjectId | None, limit: int) -> list[dict]:
    """Captioned photos whose AI caption came from another model than `model_version`, in
    _id order after `after_id` (a walk that ends, even if some never change version)."""
    query: dict = {"caption_status": DONE, "model_version": {"$ne": model_version}}
    if after_id is not None:
        query["_id"] = {"$gt": after_id}
    return list(_photos(db).find(query, {"owner_id": 1}).sort([("_id", ASCENDING)]).limit(limit))


def estimated_total(db: Database) -> int:
    """All photos, from the collection's metadata (no scan)."""
    return _photos(db).estimated_document_count()


def count_outdated(db: Database, model_version: str) -> int:
    """Captioned photos of another model: index ranges around it (and none), so the cost
    follows the outdated photos, not the library (index status_version)."""
    return sum(count(db, {"caption_status": DONE, "model_version": condition})
               for condition in ({"$lt": model_version}, {"$gt": model_version}, None))


def set_stored_bytes(db: Database, photo_id: ObjectId, stored_bytes: int) -> None:
    """Photos from before quotas: record what they count for (services.quota.recount)."""
    _photos(db).update_one({"_id": photo_id, "stored_bytes": None}, {"$set": {"stored_bytes": stored_bytes}})
