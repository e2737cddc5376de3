"""The webhook remembers for a minute that an X account is held, and never that it is not:
a stale "not held" would drop deliveries X does not send again."""

from functools import partial
from types import SimpleNamespace

import pytest

from twitter_activity import deliveries as deliveries_module
from twittnow import instance


class Claims:
    """holds_account answered from a set, counting the reads."""

    def __init__(self, held: set[str]):
        self.held = held
        self.reads = 0

    def holds_account(self, account_id: str) -> bool:
        self.reads += 1
        return account_id in self.held


@pytest.fixture
def deliveries(monkeypatch):
    module = deliveries_module
    instance.forget(module._held_until)
    claims = Claims({"1500"})
    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    held = partial(module._held, SimpleNamespace(credentials=claims))
    return held, module, claims, now


def test_held_is_remembered_for_a_minute(deliveries):
    held, module, claims, now = deliveries

    assert held("1500") and held("1500")
    assert claims.reads == 1

    claims.held.clear()  # disconnected: the webhook still says held until the minute is up
    now[0] += module.HELD_FOR_SECONDS - 1
    assert held("1500") and claims.reads == 1
    now[0] += 2
    assert not held("1500") and claims.reads == 2


def test_not_held_is_asked_again_every_time(deliveries):
    held, _, claims, _ = deliveries

    assert not held("2600") and not held("2600")
    assert claims.reads == 2

    claims.held.add("2600")  # connected: the next delivery goes through at once
    assert held("2600")
