"""`python -m gate ...` (the same as `python -m reports gate ...`)."""

import sys

from . import main

sys.exit(main())
