"""The Captioner of a worker process: loaded once, before the first job, and shared by
every job of the process (RQ's SimpleWorker runs jobs in this same process, so nothing
forks after TensorFlow is loaded). Tests inject a tiny or failing one."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from captioner.encoder_runtime import UnknownEncoderRuntime  # cheap: no TensorFlow

from .context import context

log = logging.getLogger("photoshare.worker")

MISSING_MODEL_HELP = "train it or set CAPTIONER_MODEL (see README: `python -m captioner train`)"

_captioner = None
_captioner_lock = threading.Lock()


class ModelMissing(RuntimeError):
    """The model cannot be loaded as configured: no checkpoint where the worker looks, an
    unknown CAPTION_ENCODER, or an encoder runtime that set-up has not built."""


def model_path(settings) -> Path:
    """The checkpoint the worker loads: CAPTIONER_MODEL, else the shipped model."""
    from captioner import DEFAULT_MODEL_DIR  # cheap: no TensorFlow

    return Path(settings.get("CAPTIONER_MODEL") or DEFAULT_MODEL_DIR)


def encoder_choice(settings) -> dict:
    """Captioner.load's encoder argument from CAPTION_ENCODER; nothing when unset, so the
    captioner's own default runtime applies (one place decides it: captioner.encoder_runtime)."""
    runtime = settings.get("CAPTION_ENCODER")
    return {"encoder_runtime": runtime} if runtime else {}


def get_captioner():
    """The process-wide Captioner, loaded on first use from model_path(settings)."""
    global _captioner
    with _captioner_lock:
        if _captioner is None:
            path = model_path(context().settings)
            if not path.exists():
                raise ModelMissing(f"no captioning model checkpoint at {path}: {MISSING_MODEL_HELP}")
            from captioner import Captioner  # TensorFlow: worker only

            started = time.perf_counter()
            try:
                _captioner = Captioner.load(path, **encoder_choice(context().settings))
            except (UnknownEncoderRuntime, FileNotFoundError) as error:
                raise ModelMissing(f"cannot load the captioner: {error}") from error
            log.info("captioner %s (encoder %s) loaded from %s in %.1f s", _captioner.model_version,
                     _captioner.encoder_runtime, path, time.perf_counter() - started)
        return _captioner


def set_captioner(captioner) -> None:
    """Use `captioner` in this process (tests inject a tiny or fake one)."""
    global _captioner
    with _captioner_lock:
        _captioner = captioner
