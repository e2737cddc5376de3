"""Operator commands for a deployed stack or the local one: python -m ops --help."""

import local  # noqa: F401  (puts the functions and the layer on the path, as the stack has them)
