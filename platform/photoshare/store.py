"""The MongoDB connection: client, database and liveness check.

The application speaks only pymongo, whether the server is MongoDB or the embedded
mongoeco store (photoshare.embedded_store). Features the embedded store lacks are
avoided: no `$text` (search uses an escaped case-insensitive `$regex`) and no
`buildinfo` (health uses `ping`). Collections are read and written only by
photoshare.repositories, which also create their indexes.
"""

from __future__ import annotations

from pymongo import MongoClient
from pymongo.database import Database

DEFAULT_DBNAME = "photoshare"


def connect(uri: str, dbname: str | None = None, timeout_ms: int = 3000,
            socket_timeout_ms: int | None = None) -> tuple[MongoClient, Database]:
    """Return (client, database). The database is `dbname`, else the URI's, else the default.
    `socket_timeout_ms`: longest wait for one answer (None: for ever)."""
    client = MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=socket_timeout_ms,
        tz_aware=True,  # datetimes come back as aware UTC, like the ones we write
        appname="photoshare",
    )
    database = client[dbname] if dbname else client.get_default_database(DEFAULT_DBNAME)
    return client, database


def ping(db: Database) -> None:
    """Raise if the store does not answer."""
    db.client.admin.command("ping")
