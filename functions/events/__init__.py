"""ServiceNow's case events and the replies they send to X: the endpoint, the sender, the domain modules, models."""

# First: in Lambda, no garbage collection during init (see twittnow's docstring).
import twittnow  # noqa: F401
