"""The captioning worker: `python worker.py` (see photoshare/worker/; --help for options)."""

import sys

from photoshare.worker.process import main

if __name__ == "__main__":
    sys.exit(main())
