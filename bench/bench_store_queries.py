"""The app's hot queries against the embedded store, straight through pymongo, as the
photo library grows: what docs/STORAGE.md reports.

    .venv/bin/python bench/bench_store_queries.py [--sizes 100,1000,10000] [--modes unpatched,patched]

One store file is grown size by size (seeded in process, see seeding_client), and at
each size served by the embedded store process with and without photoshare's
embedded_store_patches (the modes) in turn:
the measured owner has N photos and ten other owners N/10 each (so the collection holds
2N documents, as in bench_scale), small documents of the shape services.photos inserts,
after captioning (attention maps live elsewhere). At each size every query runs
`--repeat` times after a warm-up (fewer past `--budget` seconds; the writes on fresh
photos each time) and its median and p95 in ms are kept.

Queries come in two forms where the app's choice matters: "today" is what the app asks
now, "proposed" what docs/STORAGE.md recommends (same results on MongoDB).
Writes JSON to --out (default bench/results/store_queries.json).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from bson import ObjectId  # noqa: E402
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument  # noqa: E402

from photoshare.embedded_store import start_process, stop_process  # noqa: E402

NEWEST_FIRST = [("created_at", -1), ("_id", -1)]
NEWEST_FIRST_BY_ID = [("_id", -1)]
LIST_PROJECTION = {"attention": 0, "alternatives": 0}
STATUS_PROJECTION = {"caption_status": 1, "ai_caption": 1, "user_caption": 1, "caption_error": 1,
                     "model_version": 1}
OTHER_OWNERS = 10
ALBUMS = 5
WORDS = ("a dog runs through the grass", "two children play on the beach", "a man rides a bike",
         "a girl in a pink dress climbs stairs", "a brown dog jumps over a log", "people walk in the snow",
         "a black and white dog plays with a ball", "a skier jumps off a ramp", "a boy swims in a pool")


def captions_from(data_dir: Path) -> list[str]:
    token_file = data_dir / "Flickr8k.token.txt"
    if not token_file.exists():
        return list(WORDS)
    return [line.split("\t", 1)[1].strip() for line in token_file.read_text().splitlines()[:20000] if "\t" in line]


def ensure_indexes(db) -> None:
    """photoshare.store.ensure_indexes for the photos collection (what the app has today),
    plus the two single-field indexes the proposed queries use (docs/STORAGE.md)."""
    db.photos.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
                           name="owner_newest")
    db.photos.create_index([("owner_id", ASCENDING), ("album_ids", ASCENDING), ("created_at", DESCENDING)],
                           name="owner_album_newest")
    db.photos.create_index([("caption_status", ASCENDING), ("caption_requested_at", ASCENDING)],
                           name="caption_status")
    db.photos.create_index([("owner_id", ASCENDING)], name="owner")
    db.photos.create_index([("album_ids", ASCENDING)], name="album")
    db.photos.create_index([("search_words", ASCENDING)], name="search_words")


def photo_document(owner_id, created_at, captions, albums, rng) -> dict:
    photo_id = ObjectId.from_datetime(created_at)
    photo_id = ObjectId(str(photo_id)[:8] + ObjectId().binary.hex()[8:])  # ordered by time, unique
    caption, filename = rng.choice(captions), f"IMG_{rng.randrange(10**6):06d}.jpg"
    return {
        "_id": photo_id, "owner_id": owner_id, "filename": filename,
        "format": "JPEG", "mime_type": "image/jpeg", "width": 500, "height": 375, "size_bytes": 120_000,
        "display_size": [500, 375], "thumbnail_size": [400, 300],
        "files": {v: f"{photo_id}/{v}" for v in ("original", "display", "thumbnail")},
        "album_ids": [rng.choice(albums)] if albums and rng.random() < 0.2 else [],
        "visibility": "private", "created_at": created_at, "user_caption": None,
        "ai_caption": caption, "caption_status": "done",
        # Proposed: the distinct lower-case words of the captions and file name (search).
        "search_words": sorted(set(re.findall(r"[a-z0-9]+", f"{caption} {filename}".lower()))),
        "caption_error": None,
        "caption_requested_at": created_at, "job_id": f"photoshare-{ObjectId()}", "requeue_count": 0,
        "model_version": "vgg16-attn-2026-11", "caption_started_at": created_at,
        "caption_finished_at": created_at, "caption_worker": "worker-1",
        "caption_timings": {"queue_wait_s": 0.01, "read_ms": 2.0, "caption_ms": 250.0},
        "alternatives": [{"caption": rng.choice(captions), "score": -3.2} for _ in range(2)],
    }


class Library:
    """The seeded collection: grows in place from one size to the next."""

    def __init__(self, db, captions, seed=7):
        self.db, self.captions, self.rng = db, captions, random.Random(seed)
        self.owner = ObjectId()
        self.others = [ObjectId() for _ in range(OTHER_OWNERS)]
        self.albums = [ObjectId() for _ in range(ALBUMS)]
        self.count = 0
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.seed_seconds = 0.0

    def _next_time(self) -> datetime:
        self.clock += timedelta(seconds=37)
        return self.clock

    def grow_to(self, size: int) -> float:
        """Add photos until the owner has `size` (others size/10 each); return docs/s."""
        added, started = 0, time.perf_counter()
        while self.count < size:
            batch = []
            for _ in range(min(500, size - self.count)):
                batch.append(photo_document(self.owner, self._next_time(), self.captions, self.albums, self.rng))
                # One photo of another owner per photo of the measured one, in turn:
                # each of the ten others ends with size/10.
                other = self.others[self.count % OTHER_OWNERS]
                batch.append(photo_document(other, self._next_time(), self.captions, [], self.rng))
                self.count += 1
            self.db.photos.insert_many(batch, ordered=False)
            added += len(batch)
        elapsed = time.perf_counter() - started
        self.seed_seconds += elapsed
        return added / elapsed if elapsed else 0.0

    def fresh_photo(self) -> dict:
        return photo_document(self.owner, self._next_time(), self.captions, self.albums, self.rng)


def search_query(owner, term) -> dict:
    pattern = {"$regex": re.escape(term), "$options": "i"}
    return {"owner_id": owner, "$or": [{"ai_caption": pattern}, {"user_caption": pattern}, {"filename": pattern}]}


def queries(lib: Library) -> dict:
    """name -> a callable running one request's worth of store calls."""
    db, owner, album = lib.db, lib.owner, lib.albums[0]
    photos = db.photos
    sample_ids = [p["_id"] for p in photos.find({"owner_id": owner}, {"_id": 1}).limit(50)]
    # The position a client holds after four pages (the 96th newest photo).
    page4_last = next(photos.find({"owner_id": owner}, {"_id": 1}).sort(NEWEST_FIRST_BY_ID).skip(95).limit(1))["_id"]
    rng = random.Random(3)

    def claim_complete():
        # The worker on a fresh upload: claim (pending -> processing), then complete.
        photo = lib.fresh_photo()
        photo.update(caption_status="pending", ai_caption=None)
        photos.insert_one(photo)
        started = time.perf_counter()
        claim = {"_id": photo["_id"], "caption_status": {"$in": ["pending", "processing"]}, "job_id": photo["job_id"]}
        photos.find_one_and_update(claim, {"$set": {"caption_status": "processing"}},
                                   projection={"files": 1, "caption_requested_at": 1},
                                   return_document=ReturnDocument.AFTER)
        photos.update_one({"_id": photo["_id"], "job_id": photo["job_id"]},
                          {"$set": {"caption_status": "done", "ai_caption": "a dog"}})
        return time.perf_counter() - started

    return {
        "insert_one (upload)": lambda: photos.insert_one(lib.fresh_photo()),
        "owner page 1 today (created_at,_id desc)":
            lambda: list(photos.find({"owner_id": owner}, LIST_PROJECTION).sort(NEWEST_FIRST).limit(24)),
        "owner page 1 proposed (_id desc)":
            lambda: list(photos.find({"owner_id": owner}, LIST_PROJECTION).sort(NEWEST_FIRST_BY_ID).limit(24)),
        "owner page 5 today (skip 96)":
            lambda: list(photos.find({"owner_id": owner}, LIST_PROJECTION).sort(NEWEST_FIRST).skip(96).limit(24)),
        "owner page 5 proposed (_id < cursor)":
            lambda: list(photos.find({"owner_id": owner, "_id": {"$lt": page4_last}}, LIST_PROJECTION)
                         .sort(NEWEST_FIRST_BY_ID).limit(24)),
        "album page today":
            lambda: list(photos.find({"owner_id": owner, "album_ids": album}, LIST_PROJECTION)
                         .sort(NEWEST_FIRST).limit(24)),
        "album page proposed (_id desc)":
            lambda: list(photos.find({"owner_id": owner, "album_ids": album}, LIST_PROJECTION)
                         .sort(NEWEST_FIRST_BY_ID).limit(24)),
        "count owner today (count_documents)": lambda: photos.count_documents({"owner_id": owner}),
        "count owner proposed (count command)":
            lambda: db.command("count", "photos", query={"owner_id": owner}),
        "count album today (count_documents)":
            lambda: photos.count_documents({"owner_id": owner, "album_ids": album}),
        "count album proposed (count command)":
            lambda: db.command("count", "photos", query={"album_ids": album}),
        "search page today (sorted + count)": lambda: (
            list(photos.find(search_query(owner, "dog"), LIST_PROJECTION).sort(NEWEST_FIRST).limit(24)),
            photos.count_documents(search_query(owner, "dog"))),
        "search page proposed (_id desc, no count)":
            lambda: list(photos.find(search_query(owner, "dog"), LIST_PROJECTION).sort(NEWEST_FIRST_BY_ID).limit(25)),
        "search rare word proposed (_id desc, no count)":
            lambda: list(photos.find(search_query(owner, "skateboard"), LIST_PROJECTION)
                         .sort(NEWEST_FIRST_BY_ID).limit(25)),
        "search word proposed (search_words, _id desc)":
            lambda: list(photos.find({"owner_id": owner, "search_words": "dog"}, LIST_PROJECTION)
                         .sort(NEWEST_FIRST_BY_ID).limit(25)),
        "search rare word proposed (search_words, _id desc)":
            lambda: list(photos.find({"owner_id": owner, "search_words": "skateboard"}, LIST_PROJECTION)
                         .sort(NEWEST_FIRST_BY_ID).limit(25)),
        "status poll (find_one _id+owner)":
            lambda: photos.find_one({"_id": rng.choice(sample_ids), "owner_id": owner}, STATUS_PROJECTION),
        "worker claim + complete": claim_complete,
    }


def measure(fn, repeat: int, budget_s: float) -> dict:
    """Median and p95 of `repeat` runs after a warm-up; a query slower than the budget
    runs fewer times (once more, or only the warm-up when that alone took longer), so
    that the unpatched store's worst cases finish. `runs` says how many were timed."""
    started = time.perf_counter()
    fn()  # warm-up: the first call after a write may fill the store's caches
    warm_up = time.perf_counter() - started
    # Past the budget already: the warm-up is the one measurement.
    times = [warm_up] if warm_up > budget_s else []
    while len(times) < repeat and (not times or sum(times) + warm_up < budget_s):
        started = time.perf_counter()
        inner = fn()
        elapsed = time.perf_counter() - started
        times.append(inner if isinstance(inner, float) else elapsed)
    times.sort()
    return {"p50_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 2), "runs": len(times)}


def measure_mode(mode: str, path: Path, lib: Library, size: int, repeat: int, budget_s: float,
                 too_slow: set) -> dict:
    """Start the store on the seeded file in `mode` and run every query."""
    # A large file under load may take a while to open (mongoeco checks its indexes).
    process, uri = start_process(path, patches=(mode == "patched"), timeout=600)
    try:
        with MongoClient(uri, tz_aware=True) as client:
            lib.db = client.bench
            row = {"documents": lib.db.photos.estimated_document_count()}
            print(f"[{mode}] owner has {size} photos ({row['documents']} documents)", flush=True)
            for name, fn in queries(lib).items():
                if name in too_slow:  # already past the budget at a smaller size
                    row[name] = {"skipped": f"slower than {budget_s:.0f} s at a smaller size"}
                    print(f"    {name:50s} skipped (past the budget at a smaller size)", flush=True)
                    continue
                row[name] = measure(fn, repeat, budget_s)
                if row[name]["p50_ms"] > budget_s * 1000:
                    too_slow.add(name)
                print(f"    {name:50s} p50 {row[name]['p50_ms']:9.2f} ms  p95 {row[name]['p95_ms']:9.2f} ms",
                      flush=True)
            return row
    finally:
        stop_process(process)


def seeding_client(path: Path):
    """mongoeco in this process on the store file, with the patches (on a subclass):
    its insert_many is a real batch, unlike the wire's one insert per document, and
    the file is the same one the store process then serves."""
    import mongoeco
    from mongoeco.engines.sqlite import SQLiteEngine

    from photoshare.embedded_store_patches import apply_patches_to

    class PatchedEngine(SQLiteEngine):
        pass

    apply_patches_to(PatchedEngine)
    return mongoeco.MongoClient(PatchedEngine(str(path)))


def run(sizes: list[int], modes: list[str], repeat: int, budget_s: float, captions: list[str],
        workdir: Path, save) -> dict:
    """Grow one store file size by size; at each size measure it in every mode. Seeding
    goes through mongoeco in this process (seeding_client): through the unpatched wire
    it costs O(N^2) document decodes (see docs/STORAGE.md)."""
    path = workdir / "store.sqlite"
    results: dict = {mode: {} for mode in modes}
    too_slow: dict = {mode: set() for mode in modes}
    lib = Library(None, captions)
    for size in sizes:
        client = seeding_client(path)
        try:
            lib.db = client.bench
            ensure_indexes(lib.db)
            rate = lib.grow_to(size)
        finally:
            try:
                client.close()
            except Exception as error:  # e.g. a change-stream heartbeat meeting a busy file
                print(f"(closing the seeding client: {error!r}; the inserts are committed)", flush=True)
        print(f"seeded to {size} photos for the measured owner at {rate:.0f} docs/s", flush=True)
        for mode in modes:
            results[mode][str(size)] = {"seed_docs_per_s": round(rate, 1),
                                        **measure_mode(mode, path, lib, size, repeat, budget_s, too_slow[mode])}
            save(results)  # as it goes: a long run that fails late keeps what it measured
    return results


def markdown_table(report: dict) -> str:
    """The report as a Markdown table: p50 ms per query, per size, per mode."""
    modes, sizes = list(report["modes"]), [str(size) for size in report["sizes"]]
    header = "| query | " + " | ".join(f"{mode} {int(size):,}" for mode in modes for size in sizes) + " |"
    lines = [header, "|---" * (1 + len(modes) * len(sizes)) + "|"]
    names = [name for name, value in report["modes"][modes[0]][sizes[0]].items() if isinstance(value, dict)]
    for name in names:
        cells = []
        for mode in modes:
            for size in sizes:
                value = report["modes"][mode].get(size, {}).get(name)
                cells.append("—" if value is None else f"> {report['budget_s'] * 1000:,.0f}" if "skipped" in value
                             else f"{value['p50_ms']:,.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--modes", default="unpatched,patched")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per query and size (see measure)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "flickr8k"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "store_queries.json"))
    parser.add_argument("--table", metavar="JSON", help="print a results file as a Markdown table, and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(Path(args.table).read_text())))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    captions = captions_from(Path(args.data))
    report = {"sizes": sizes, "repeat": args.repeat, "budget_s": args.budget, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "modes": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(results: dict) -> None:
        report["modes"] = results
        out.write_text(json.dumps(report, indent=1) + "\n")

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        run(sizes, args.modes.split(","), args.repeat, args.budget, captions, Path(tmp), save)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
