"""The captioning worker: `python worker.py` (see photoshare/jobs.py; --help for options)."""

import sys

from photoshare.jobs import main

if __name__ == "__main__":
    sys.exit(main())
