"""Users, logins, API keys and the audit log: one module per endpoint, logic (the domain), models."""

# First: in Lambda, no garbage collection during init (see twittnow's docstring).
import twittnow  # noqa: F401
