"""Search and public listings at 10,000 photos, on the embedded store (or MONGO_URI).

    .venv/bin/python bench/bench_search.py [--photos 10000] [--repeat 15] [--mongo-uri URI]

Seeds one owner with --photos photos and ten other owners with --others photos each
(documents as repositories.photos writes them, token arrays by its own photo_tokens),
30% of them public, captions from Flickr8k when it is beside the repository. Then times, through the services the pages
and the API call (median and p95 of --repeat runs after a warm-up):

- the dashboard search (services.photos.list_photos: page + count) and the API's
  cursor search (services.photos.feed), for a frequent and a rare two-word query;
- /explore, without and with a query (services.discovery.explore); a profile page;
- for comparison, the regex search the app used before search tokens.

Writes JSON to --out (default bench/results/search.json).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from bson import ObjectId  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from photoshare import repositories  # noqa: E402
from photoshare.embedded_store import start_process, stop_process  # noqa: E402
from photoshare.repositories import photos as photo_repo  # noqa: E402
from photoshare.repositories.search_tokens import photo_tokens  # noqa: E402
from photoshare.repositories import users as user_repo  # noqa: E402
from photoshare.services import discovery  # noqa: E402
from photoshare.services import photos as photo_service  # noqa: E402

FLICKR_TOKENS = ROOT.parent / "shared" / "flickr8k" / "Flickr8k.token.txt"
FALLBACK = ("a dog runs through the grass", "two children play on the beach", "a man rides a bike",
            "a girl in a pink dress climbs stairs", "a brown dog jumps over a log", "people walk in the snow",
            "a black and white dog plays with a ball", "a skier jumps off a ramp", "a boy swims in a pool")


def captions() -> list[str]:
    if not FLICKR_TOKENS.exists():
        return list(FALLBACK)
    return [line.split("\t", 1)[1].strip() for line in FLICKR_TOKENS.read_text().splitlines() if "\t" in line]


def seed(db, owner_id, count: int, texts: list[str], rng: random.Random) -> None:
    """Captioned photos as the app stores them: the document insert_pending writes, with
    the AI caption complete() adds and the token arrays both compute (photo_tokens),
    inserted in batches (one round trip per photo would take most of an hour here)."""
    batch = []
    for _ in range(count):
        photo_id = ObjectId()
        photo = {
            "_id": photo_id, "owner_id": owner_id, "filename": f"IMG_{rng.randrange(10**6):06d}.jpg",
            "format": "JPEG", "mime_type": "image/jpeg", "width": 500, "height": 375, "size_bytes": 120_000,
            "display_size": [500, 375], "thumbnail_size": [400, 300], "files": {}, "album_ids": [],
            "album_tokens": [], "visibility": "public" if rng.random() < 0.3 else "private", "user_caption": None,
            "created_at": photo_id.generation_time, "caption_status": "done", "ai_caption": rng.choice(texts),
            "caption_error": None, "job_id": "bench", "requeue_count": 0, "model_version": "bench",
        }
        photo.update(photo_tokens(photo))
        batch.append(photo)
        if len(batch) == 500:
            db.photos.insert_many(batch)
            batch = []
    if batch:
        db.photos.insert_many(batch)


def timed(function, repeat: int, label: str = "") -> dict:
    function()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    result = {"median_ms": round(statistics.median(samples), 1),
              "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1)}
    if label:
        print(f"{label}: {result}", flush=True)  # a long run shows its progress
    return result


def regex_filter(owner_id, query: str) -> dict:
    pattern = {"$regex": re.escape(query), "$options": "i"}
    return {"owner_id": owner_id, "$or": [{"ai_caption": pattern}, {"user_caption": pattern}, {"filename": pattern}]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--others", type=int, default=100, help="photos of each of the ten other owners")
    parser.add_argument("--no-regex", action="store_true", help="skip the (slow) regex search of before")
    parser.add_argument("--mongo-uri", default=None, help="a real MongoDB (default: an embedded store)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = parser.parse_args(argv)

    process = None
    uri = args.mongo_uri
    if uri is None:
        process, uri = start_process(Path(tempfile.mkdtemp()) / "search.sqlite")
    try:
        client = MongoClient(uri)
        db = client[f"bench_search_{ObjectId()}"]
        repositories.ensure_indexes(db)
        rng, texts = random.Random(9), captions()
        owner = user_repo.insert(db, "owner@example.com", "Owner", "x", handle="owner")
        start = time.perf_counter()
        seed(db, owner["_id"], args.photos, texts, rng)
        for number in range(10):
            other = user_repo.insert(db, f"other{number}@example.com", None, "x")
            seed(db, other["_id"], args.others, texts, rng)
        seeding_s = time.perf_counter() - start
        total = db.photos.estimated_document_count()
        owner_id = owner["_id"]
        queries = {"frequent": "dogs running", "rare": "skiers jumping"}
        results = {"photos_total": total, "owner_photos": args.photos, "seeding_s": round(seeding_s, 1),
                   "store": "embedded (mongoeco)" if process else uri.split("@")[-1], "queries": {}}
        print(f"seeded {total} photos in {seeding_s:.0f} s", flush=True)
        measured = results["queries"]

        def measure(label, function):
            measured[label] = timed(function, args.repeat, label)

        for label, query in queries.items():
            matches = photo_repo.count(db, photo_service.photo_filter(owner_id, search=query))
            measure(f"dashboard search, {label} ({query!r}: {matches} matches)",
                    lambda q=query: photo_service.list_photos(db, owner_id, page=1, per_page=24, search=q))
            measure(f"API search page, {label}", lambda q=query: photo_service.feed(db, owner_id, limit=25, search=q))
            measure(f"explore search, {label}", lambda q=query: discovery.explore(db, q, 1))
            if not args.no_regex:
                measure(f"before: regex search page + count, {label}",
                        lambda q=query.split()[0]: (photo_repo.count(db, regex_filter(owner_id, q)),
                                                    photo_repo.page(db, regex_filter(owner_id, q), skip=0, limit=24)))
        measure("explore, page 1", lambda: discovery.explore(db, None, 1))
        measure("explore, page 20", lambda: discovery.explore(db, None, 20))
        measure("profile, page 1", lambda: discovery.profile(db, "owner", 1))
        print(json.dumps(results, indent=2), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        client.drop_database(db.name)
    finally:
        if process is not None:
            stop_process(process)


if __name__ == "__main__":
    main()
