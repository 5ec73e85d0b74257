"""Checkpoints carry everything needed to rebuild the decoder: hyper-parameters, vocabulary
and weights (float16 to keep the shipped model small).

    <dir>/config.json   {"name", "model": ModelConfig, "train": TrainConfig, "metrics": {...}}
    <dir>/vocab.json    {"itos": [...]}
    <dir>/decoder.npz   variable path -> float16 array
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from captioner.data import Vocabulary
from captioner.model import ModelConfig, build_decoder

CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.json", "decoder.npz"


def save(directory: str | Path, model, vocab: Vocabulary, meta: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {v.path: np.asarray(v.numpy(), dtype=np.float16) for v in model.weights}
    tmp = directory / (WEIGHTS_FILE + ".part.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(directory / WEIGHTS_FILE)
    (directory / VOCAB_FILE).write_text(vocab.to_json())
    payload = dict(meta, model=model.config.to_dict())
    (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True))
    return directory


def read_meta(directory: str | Path) -> dict:
    return json.loads((Path(directory) / CONFIG_FILE).read_text())


def update_meta(directory: str | Path, **changes) -> dict:
    meta = read_meta(directory)
    meta.update(changes)
    (Path(directory) / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return meta


def weights_digest(directory: str | Path) -> str:
    return hashlib.sha256((Path(directory) / WEIGHTS_FILE).read_bytes()).hexdigest()


def load(directory: str | Path):
    """-> (decoder, vocabulary, meta). Raises FileNotFoundError / ValueError on a bad checkpoint."""
    directory = Path(directory)
    for name in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE):
        if not (directory / name).exists():
            raise FileNotFoundError(f"checkpoint {directory} has no {name}")
    meta = read_meta(directory)
    vocab = Vocabulary.from_json((directory / VOCAB_FILE).read_text())
    config = ModelConfig.from_dict(meta["model"])
    if config.vocab_size != len(vocab):
        raise ValueError(f"checkpoint vocab_size {config.vocab_size} != vocabulary size {len(vocab)}")
    model = build_decoder(config)
    with np.load(directory / WEIGHTS_FILE) as arrays:
        missing = [v.path for v in model.weights if v.path not in arrays]
        if missing:
            raise ValueError(f"checkpoint {directory} lacks weights {missing[:3]}...")
        for variable in model.weights:
            variable.assign(arrays[variable.path].astype(np.float32))
    return model, vocab, meta
