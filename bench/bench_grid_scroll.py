"""The dashboard grid at 10,000 photos: numbered pages (offset) versus the infinite
scroll's cursor pages (GET /photos/grid), on the embedded store (or MONGO_URI).

    .venv/bin/python bench/bench_grid_scroll.py [--photos 10000] [--repeat 9] [--mongo-uri URI]

Seeds one owner with --photos captioned photos (bench_search's documents), then times,
through the services the views call (median and p95 after a warm-up), the first page, a
page in the middle and the last page of 24, each as the page-number pager reads it
(services.photos.list_photos: skip + count) and as the infinite scroll reads it
(services.photos.feed after the cursor of the photo before it). Writes JSON to --out
(default bench/results/grid_scroll.json).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import ROOT, captions, seed, timed  # noqa: E402
from bson import ObjectId  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from photoshare import repositories  # noqa: E402
from photoshare.embedded_store import start_process, stop_process  # noqa: E402
from photoshare.repositories import users as user_repo  # noqa: E402
from photoshare.services import photos as photo_service  # noqa: E402
from photoshare.services.pagination import encode_cursor  # noqa: E402

PER_PAGE = 24


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--mongo-uri", default=None, help="a real MongoDB (default: an embedded store)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grid_scroll.json")
    args = parser.parse_args(argv)

    process, uri = None, args.mongo_uri
    if uri is None:
        process, uri = start_process(Path(tempfile.mkdtemp()) / "grid.sqlite")
    try:
        db = MongoClient(uri)[f"bench_grid_{ObjectId()}"]
        repositories.ensure_indexes(db)
        owner = user_repo.insert(db, "owner@example.com", "Owner", "x")
        started = time.perf_counter()
        seed(db, owner["_id"], args.photos, captions(), random.Random(7))
        results = {"photos": args.photos, "per_page": PER_PAGE, "seeding_s": round(time.perf_counter() - started, 1),
                   "store": "embedded (mongoeco)" if process else uri.split("@")[-1], "pages": {}}
        print(f"seeded {args.photos} photos in {results['seeding_s']} s", flush=True)
        # Newest first by _id, as the listings are: the photo before page p is the cursor.
        ordered = [doc["_id"] for doc in db.photos.find({"owner_id": owner["_id"]}, {"_id": 1}).sort("_id", -1)]
        last = (len(ordered) - 1) // PER_PAGE + 1
        for page in (1, last // 2, last):
            before = ordered[(page - 1) * PER_PAGE - 1] if page > 1 else None
            cursor = encode_cursor({"_id": before}) if before else None
            offset = timed(lambda p=page: photo_service.list_photos(db, owner["_id"], page=p, per_page=PER_PAGE),
                           args.repeat, f"page {page}, offset + count")
            scroll = timed(lambda c=cursor: photo_service.feed(db, owner["_id"], limit=PER_PAGE, cursor=c),
                           args.repeat, f"page {page}, cursor")
            results["pages"][str(page)] = {"offset_and_count": offset, "cursor": scroll}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results, indent=2))
    finally:
        if process is not None:
            stop_process(process)


if __name__ == "__main__":
    main()
