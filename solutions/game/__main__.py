"""`python -m solutions.game record ...`: (re-)record a golden replay file."""

import sys

from .cli import main

sys.exit(main())
