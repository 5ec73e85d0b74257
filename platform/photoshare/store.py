"""The MongoDB data layer: client, database, GridFS bucket and indexes.

The application speaks only pymongo, whether the server is MongoDB or the embedded
mongoeco store (photoshare.embedded_store). Features the embedded store lacks are
avoided here: no `$text` (search uses an escaped case-insensitive `$regex`) and no
`buildinfo` (health uses `ping`).
"""

from __future__ import annotations

import gridfs
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.database import Database

DEFAULT_DBNAME = "photoshare"


def connect(uri: str, dbname: str | None = None, timeout_ms: int = 3000) -> tuple[MongoClient, Database]:
    """Return (client, database). The database is `dbname`, else the URI's, else the default."""
    client = MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,  # datetimes come back as aware UTC, like the ones we write
        appname="photoshare",
    )
    database = client[dbname] if dbname else client.get_default_database(DEFAULT_DBNAME)
    return client, database


def files_bucket(db: Database) -> gridfs.GridFSBucket:
    """The GridFS bucket holding originals and derived images (collections fs.files / fs.chunks)."""
    return gridfs.GridFSBucket(db)


def ping(db: Database) -> None:
    """Raise if the store does not answer."""
    db.client.admin.command("ping")


def ensure_indexes(db: Database) -> None:
    """Create the index behind every query the services run (idempotent)."""
    db.users.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    # Accounts whose deletion was interrupted (services.reconciliation); few ever have it.
    db.users.create_index([("deleting_at", ASCENDING)], sparse=True, name="deleting")

    # Grid and pagination: a user's photos, newest first (_id breaks ties).
    db.photos.create_index(
        [("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="owner_newest",
    )
    # An album's photos, newest first (album_ids is an array: multikey index).
    db.photos.create_index(
        [("owner_id", ASCENDING), ("album_ids", ASCENDING), ("created_at", DESCENDING)],
        name="owner_album_newest",
    )
    # Reconciliation: photos left pending or processing.
    db.photos.create_index(
        [("caption_status", ASCENDING), ("caption_requested_at", ASCENDING)],
        name="caption_status",
    )

    db.albums.create_index(
        [("owner_id", ASCENDING), ("name_key", ASCENDING)], unique=True, name="owner_name_unique"
    )
    db.albums.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_newest")

    # GridFS creates these on first write; creating them up front keeps reads indexed
    # even on an empty database. The owner index serves account deletion.
    db.fs.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    db.fs.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
    db.fs.files.create_index([("metadata.owner_id", ASCENDING)], name="owner")

    # API keys: looked up by hash, listed per owner (services.api_keys).
    from .services.api_keys import ensure_indexes as ensure_api_key_indexes

    ensure_api_key_indexes(db)
