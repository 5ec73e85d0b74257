"""The attention repository: the one module that reads and writes `photo_attention`.

{_id: photo id, owner_id, words: [{"word", "weights": H x W}]}: the per-word attention
maps of a photo's AI caption ("Why this caption"). Part of the photo, kept out of the
photo document because it is ~12 KB of floats per photo that every listing, scan and
count would otherwise decode; read only where it is shown. Written and removed only by
the photo repository's transitions (repositories.photos: complete, delete), so a photo
and its maps change together.
"""

from __future__ import annotations

import base64
import math
import struct

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.database import Database


# Stored packed: each map as unsigned 16-bit fixed point (1/10,000: exact for the
# captioner's weights, rounded to 4 decimals) in a base64 string, not as a nested list of
# floats. The embedded store encodes and decodes JSON value by value in Python: a photo's
# ~10 maps of 7x7 floats cost 18 ms per write there (a third of a captioned photo's store
# time in a worker profile); one string per map is nearly free. Maps with a value that
# does not fit (none from the captioner: softmax weights) are kept as lists.
SCALE = 10_000


def _pack(weights) -> dict:
    rows = [[float(value) for value in row] for row in weights]
    flat = [value for row in rows for value in row]
    if not rows or any(not math.isfinite(v) or not 0 <= v * SCALE <= 65535 for v in flat):
        return {"weights": rows}
    raw = struct.pack(f"<{len(flat)}H", *(round(v * SCALE) for v in flat))
    return {"shape": [len(rows), len(rows[0])], "u16": base64.b64encode(raw).decode("ascii")}


def _unpack(entry: dict) -> list[list[float]]:
    if "u16" not in entry:
        return entry.get("weights") or []  # kept as lists (or stored before packing)
    height, width = entry["shape"]
    flat = struct.unpack(f"<{height * width}H", base64.b64decode(entry["u16"]))
    return [[round(v / SCALE, 4) for v in flat[r * width:(r + 1) * width]] for r in range(height)]


def ensure_indexes(db: Database) -> None:
    db.photo_attention.create_index([("owner_id", ASCENDING)], name="owner")


def of_photo(db: Database, owner_id: ObjectId, photo_id: ObjectId) -> list[dict]:
    """The per-word attention maps of the owner's photo ([] when there are none)."""
    doc = db.photo_attention.find_one({"_id": photo_id, "owner_id": owner_id}, {"words": 1})
    return [{"word": entry["word"], "weights": _unpack(entry)} for entry in (doc or {}).get("words") or []]


def save(db: Database, photo_id: ObjectId, owner_id: ObjectId, words: list[dict]) -> None:
    packed = [{"word": entry["word"], **_pack(entry["weights"])} for entry in words]
    db.photo_attention.replace_one({"_id": photo_id}, {"_id": photo_id, "owner_id": owner_id, "words": packed},
                                   upsert=True)


def delete(db: Database, photo_id: ObjectId) -> None:
    db.photo_attention.delete_one({"_id": photo_id})


def delete_all_of_owner(db: Database, owner_id: ObjectId) -> None:
    db.photo_attention.delete_many({"owner_id": owner_id})
