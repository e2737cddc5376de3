"""Loopback stand-ins for the external systems Twittnow talks to, for the local stack and
the tests. Never deployed."""
