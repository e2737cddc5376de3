"""The one source of "now", so tests can move time instead of sleeping."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the format every timestamp of the API uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
