"""Makes the sample package `textkit` importable for its tests without installing it."""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent)
if SRC not in sys.path:
    sys.path.insert(0, SRC)
