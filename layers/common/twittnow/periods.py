"""Date-range query parameters (start_date, end_date) as the API takes them."""

from datetime import UTC, date, datetime, time

from twittnow import clock
from twittnow.errors import InvalidInput

_BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)


def period(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime]:
    """ISO dates or datetimes (UTC when no offset is given). A date alone starts at its
    first moment as a start, and includes its whole day as an end."""
    start = _moment("start_date", start_date, time.min) if start_date else _BEGINNING
    end = _moment("end_date", end_date, time.max) if end_date else None
    if end is not None and start > end:
        raise InvalidInput.for_field("start_date", "Must not be after end_date.")
    return start, end or max(start, clock.now())


def _moment(field: str, text: str, time_of_day: time) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time_of_day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput.for_field(
            field, "Use an ISO date or datetime, like 2026-11-22 or 2026-11-22T14:30:00Z."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
