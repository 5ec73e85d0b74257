"""A stand-in Captioner for tests that must not load TensorFlow.

Same interface as captioner.Captioner: caption(images) returns one result per image,
a result object or an exception instance (with .reason) for an unreadable image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image


class FakeCaptionError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class FakeResult:
    caption: str
    alternatives: list = field(default_factory=list)
    attention: list = field(default_factory=list)
    model_version: str = "fake-1"
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"caption": self.caption, "alternatives": self.alternatives, "attention": self.attention,
                "model_version": self.model_version}


class FakeCaptioner:
    """Captions an image by its dominant colour; `fail_with` makes every call raise."""

    model_version = "fake-1"

    def __init__(self, fail_with: BaseException | None = None):
        self.fail_with = fail_with
        self.calls = 0

    def caption(self, images):
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        results = []
        for image in images:
            try:
                picture = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image
                red, green, blue = picture.convert("RGB").resize((1, 1)).getpixel((0, 0))
            except Exception as error:
                results.append(FakeCaptionError(f"cannot read image: {error}"))
                continue
            colour = max((red, "red"), (green, "green"), (blue, "blue"))[1]
            caption = f"a {colour} picture"
            results.append(FakeResult(
                caption=caption,
                alternatives=[{"caption": caption, "score": -0.1}, {"caption": "a picture", "score": -0.5}],
                attention=[{"word": word, "weights": [[0.25, 0.25], [0.25, 0.25]]} for word in caption.split()],
            ))
        return results
