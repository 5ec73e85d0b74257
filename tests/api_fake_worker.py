"""A live captioning worker with the stand-in captioner (no TensorFlow), for API tests
that need jobs done while a request waits: `python -m tests.api_fake_worker`.

Runs the real worker loop (photoshare.jobs.run_worker) with settings from the
environment; stop it with SIGTERM.
"""

from __future__ import annotations

import logging


def main() -> None:
    from photoshare import jobs
    from tests.platform_fakes import FakeCaptioner

    logging.basicConfig(level=logging.WARNING)
    jobs.set_captioner(FakeCaptioner())
    jobs.run_worker()


if __name__ == "__main__":
    main()
