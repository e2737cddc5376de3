"""A tenant's conversations and their messages: the endpoints, the domain module, models."""

# First: in Lambda, no garbage collection during init (see twittnow's docstring).
import twittnow  # noqa: F401
