"""Operator commands for a deployed stack or the local one: python -m ops --help."""
