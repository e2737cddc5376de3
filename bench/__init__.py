"""The benchmarks (README, "Benchmarks"); what they measured is in bench/RESULTS.md.

They share helpers with the tests (tests/api/desks.py), which import the layer's package:
it goes on the path as pytest puts it there (pyproject's pythonpath)."""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "layers" / "common"))
