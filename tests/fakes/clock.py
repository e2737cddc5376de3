"""twittnow.clock.now, as a test moves it: expiries, windows and staleness without sleeps."""

from datetime import UTC, datetime, timedelta

import pytest

from twittnow import clock

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime = NOW):
        self.now = start
        monkeypatch.setattr(clock, "now", lambda: self.now)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Moves time on by `delta` or by timedelta's keywords (`minutes=5`)."""
        self.now += (delta or timedelta()) + timedelta(**parts)
        return self.now
