"""A tenant's ServiceNow details and custom fields: one module per endpoint, the domain modules, models."""

# First: in Lambda, no garbage collection during init (see twittnow's docstring).
import twittnow  # noqa: F401
