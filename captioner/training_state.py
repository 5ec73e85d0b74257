"""Resumable training state: weights, optimizer slots and bookkeeping in one file, written atomically.

    save(path, {"model": model.weights, "optimizer": optimizer.variables}, info)
    info = restore(path, {"model": model.weights, "optimizer": optimizer.variables})

One `.npz` holds every array plus `info` (JSON), so a run killed while writing leaves the previous
state intact (the new file replaces the old one only once complete), and weights and step
counter can never disagree. Variables are matched by position within each group: Keras 3 names
are not unique across an optimizer's slots.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

INFO_KEY = "__info__"


def save(path: str | Path, groups: dict[str, list], info: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {INFO_KEY: np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)}
    for group, variables in groups.items():
        for index, variable in enumerate(variables):
            arrays[f"{group}/{index}"] = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
    partial = path.with_name(path.name + ".part.npz")
    np.savez(partial, **arrays)
    partial.replace(path)
    return path


def read_info(path: str | Path) -> dict:
    with np.load(path) as arrays:
        return json.loads(arrays[INFO_KEY].tobytes().decode())


def restore(path: str | Path, groups: dict[str, list]) -> dict:
    """Assign the saved arrays to `groups` (same order and shapes as when saved); return the info."""
    with np.load(path) as arrays:
        for group, variables in groups.items():
            saved = sorted((k for k in arrays.files if k.startswith(group + "/")), key=lambda k: int(k.rsplit("/", 1)[1]))
            if len(saved) != len(variables):
                raise ValueError(f"{path}: {len(saved)} saved {group} arrays, the run has {len(variables)}")
            for key, variable in zip(saved, variables):
                value = arrays[key]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(f"{path}: {key} has shape {value.shape}, expected {tuple(variable.shape)}")
                variable.assign(value)
        return json.loads(arrays[INFO_KEY].tobytes().decode())
