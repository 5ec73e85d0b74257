"""A stand-in Captioner, only for tests that inject a failure the real model would not
produce on demand: a refusal, a crash, a hang. Every other test captions with the real
Captioner on the tiny checkpoint (conftest.py: `tiny_captioner`, `worker`), and a test
that only needs one failing call among good ones wraps the real captioner instead
(`worker.use(on_call)`).

Same interface as captioner.Captioner: caption(images) returns one result per image, or
an exception instance (with .reason) for an image it cannot caption.
"""

from __future__ import annotations

import time


class FakeCaptionError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class FailingCaptioner:
    """Every call fails: after `delay_s`, it raises `raises`, or else refuses each image
    with the reason `refuses` (as captioner.CaptionError does)."""

    model_version = "failing-1"

    def __init__(self, *, raises: BaseException | None = None, refuses: str | None = None, delay_s: float = 0):
        assert raises is not None or refuses is not None or delay_s, "which failure?"
        self.raises, self.refuses, self.delay_s = raises, refuses, delay_s
        self.calls = 0

    def caption(self, images):
        self.calls += 1
        time.sleep(self.delay_s)
        if self.raises is not None:
            raise self.raises
        return [FakeCaptionError(self.refuses or "refused") for _ in images]
