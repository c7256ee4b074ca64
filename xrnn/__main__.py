"""``python -m xrnn``: the same command line as the ``xrnn`` script (see :mod:`xrnn.cli`)."""

from __future__ import annotations

import sys

from xrnn.cli import main

if __name__ == "__main__":
    sys.exit(main())
