"""``python -m scorelab``: the ``scorelab`` command (see :mod:`scorelab.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
