"""`python -m gate ...` (the same as `python -m reports gate ...`)."""

import sys

from .cli import main

sys.exit(main())
