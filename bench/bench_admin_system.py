"""The administrator's pages at library scale: the system page's counts (photos by
caption status, photos of another model version), the failed list, a re-captioning step
and the user list, against the embedded store holding N photos.

    .venv/bin/python bench/bench_admin_system.py [N]      # default 10000

Photos are inserted directly (documents of the shape services.photos writes): 1 in 100
failed, 1 in 37 pending, the rest done; two model versions ("v1" for 2/3, "v2" for 1/3);
20 owners. Each query runs once to warm up, then is timed once (ms).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))

from bson import ObjectId  # noqa: E402

from photoshare import repositories, store  # noqa: E402
from photoshare.clock import utcnow  # noqa: E402
from photoshare.config import load_settings  # noqa: E402
from photoshare.embedded_store import start_process, stop_process  # noqa: E402
from photoshare.services import admin, system  # noqa: E402


def main(n: int) -> None:
    process, uri = start_process(Path(tempfile.mkdtemp()) / "store.sqlite")
    try:
        _, db = store.connect(uri, "bench", 5000)
        repositories.ensure_indexes(db)
        owners = [ObjectId() for _ in range(20)]
        now = utcnow()
        db.users.insert_many([{"_id": o, "email": f"{o}@example.org", "created_at": now, "storage_used": 0,
                               "photo_count": n // 20} for o in owners])
        docs = []
        for i in range(n):
            status = "failed" if i % 100 == 0 else ("pending" if i % 37 == 0 else "done")
            docs.append({"owner_id": owners[i % 20], "created_at": now - timedelta(seconds=i), "filename": f"{i}.jpg",
                         "caption_status": status, "caption_requested_at": now - timedelta(seconds=i),
                         "model_version": "v1" if i % 3 else "v2",
                         "caption_error": "x" if status == "failed" else None})
        started = time.perf_counter()
        db.photos.insert_many(docs)
        print(f"{n} photos inserted in {time.perf_counter() - started:.0f} s")
        for name, query in [
            ("photos by status", lambda: system.status_counts(db)),
            ("outdated, v1 current (1/3 outdated)", lambda: system.outdated_count(db, "v1")),
            ("outdated, v2 current (2/3 outdated)", lambda: system.outdated_count(db, "v2")),
            ("50 failed photos", lambda: system.failed_photos(db)),
            ("re-caption step: next 21 outdated", lambda: repositories.photos.outdated_after(db, "v3", None, 21)),
            ("user list (20 accounts)", lambda: admin.list_users(db, load_settings({}), 1)),
            ("outdated, after every photo is re-captioned (none)", lambda: system.outdated_count(db, "v3")),
        ]:
            if name.startswith("outdated, after"):
                db.photos.update_many({}, {"$set": {"model_version": "v3"}})
            query()
            started = time.perf_counter()
            result = query()
            rows = result[0] if isinstance(result, tuple) else result  # list_users: (rows, total)
            shown = result if isinstance(result, (int, dict)) else len(rows)
            print(f"{name}: {(time.perf_counter() - started) * 1000:.0f} ms ({shown})")
    finally:
        stop_process(process)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
