"""Clients of the external systems (ServiceNow, X): typed errors, timeouts, no retries inside."""
