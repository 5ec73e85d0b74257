"""A live captioning worker for browser tests: `python -m tests.platform_worker`.

Runs the real worker loop (photoshare.jobs.run_worker: SimpleWorker, heartbeat,
reconciliation) with settings from the environment, against the tiny checkpoint when
captioner.testing and the encoder weights are available, else the stand-in captioner.
"""

from __future__ import annotations

import logging
import sys
import tempfile


def make_captioner():
    try:
        from captioner import Captioner
        from captioner.paths import encoder_weights_path
        from captioner.testing import tiny_checkpoint
    except ImportError:
        tiny_checkpoint = None
    if tiny_checkpoint is not None and encoder_weights_path().exists():
        return Captioner.load(tiny_checkpoint(tempfile.mkdtemp(prefix="tiny-captioner-")))
    from tests.platform_fakes import FakeCaptioner

    print("captioner.testing unavailable: using the stand-in captioner", file=sys.stderr)
    return FakeCaptioner()


def main() -> None:
    from photoshare import jobs

    logging.basicConfig(level=logging.INFO)
    jobs.set_captioner(make_captioner())
    jobs.run_worker()


if __name__ == "__main__":
    main()
