"""Where the captioner keeps what is never committed: encoder weights and feature caches."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The shipped decoder (weights, vocabulary, config, model card) lives in the repo.
DEFAULT_MODEL_DIR = PACKAGE_DIR / "models" / "attention-v1"


def cache_dir() -> Path:
    """Cache outside git, shared by every clone on the machine (set-up runs once)."""
    base = os.environ.get("CAPTIONER_CACHE")
    if base:
        path = Path(base)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "photocaption"
    path.mkdir(parents=True, exist_ok=True)
    return path


def encoder_weights_path() -> Path:
    return cache_dir() / "vgg16_imagenet_conv.weights.h5"


def features_dir() -> Path:
    path = cache_dir() / "features"
    path.mkdir(parents=True, exist_ok=True)
    return path
