"""The one source of "now", so tests can move time instead of sleeping."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, the format every timestamp of the API uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sortable(moment: datetime) -> str:
    """Fixed width (microseconds always written) in UTC: strings that sort as times, for
    DynamoDB sort keys. isoformat() drops a zero fraction and would sort it wrongly."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
