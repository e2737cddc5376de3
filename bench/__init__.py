"""The benchmarks (README, "Benchmarks"); what they measured is in bench/RESULTS.md.

They share helpers with the tests (tests/api/desks.py), which import the layer's package."""

import local  # noqa: F401  (puts the functions and the layer on the path, as the stack has them)
