import pytest

from tests.fakes.clock import Clock


@pytest.fixture
def time(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock every domain module reads, stopped at NOW until the test moves it."""
    return Clock(monkeypatch)
