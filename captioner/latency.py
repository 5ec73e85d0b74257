"""Warm single-photo latency (decode the JPEG, encode, beam search) of several models, in one run.

    python -m captioner latency captioner/models/attention-v1 captioner/models/attention-v2 [A+B ...]

The machine is shared, so absolute times drift; the models are measured interleaved (round
robin, photo by photo) on one shared encoder, and each is reported as a ratio to the first.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path


def compare_latency(models: list[list[str | Path]], data: str | Path, photos: int = 20, rounds: int = 5) -> dict:
    """`models`: one list of checkpoint folders per model (more than one: an ensemble)."""
    from captioner.data import load_flickr8k
    from captioner.ensemble import load_ensemble

    dataset = load_flickr8k(data)
    images = [dataset.image_path(name).read_bytes() for name in dataset.split("test")[:photos]]
    captioners = []
    encoder = None                                    # the default encoder runtime, loaded once, shared
    for folders in models:
        captioner = load_ensemble(folders, encoder=encoder, eager=True)
        encoder = encoder or captioner.encoder
        captioners.append(captioner)
    for captioner in captioners:                      # warm: graph tracing, first allocations
        captioner.caption(images[:2])
        captioner.caption(images[:1])
    seconds: list[list[float]] = [[] for _ in captioners]
    for _ in range(rounds):
        for image in images:
            for index, captioner in enumerate(captioners):
                started = time.perf_counter()
                captioner.caption([image])
                seconds[index].append(time.perf_counter() - started)
    medians = [statistics.median(s) for s in seconds]
    return {
        "photos": len(images), "rounds": rounds, "encoder_runtime": getattr(captioners[0], "encoder_runtime", None),
        "models": [{"model": "+".join(Path(f).name for f in folders), "version": c.model_version,
                    "block_ngram": c.block_ngram, "p50_s": round(m, 4),
                    "ratio_to_first": round(m / medians[0], 3)}
                   for folders, c, m in zip(models, captioners, medians)],
    }
