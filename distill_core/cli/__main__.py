"""`python -m distill_core.cli`: the same as `distill` (the app's background processes use it)."""

import sys

from distill_core.cli import main

sys.exit(main())
