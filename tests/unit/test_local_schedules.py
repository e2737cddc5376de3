"""The local stack's EventBridge schedules (local.schedules): each scheduled function
invoked with a Scheduled Event at its rate, or at SCHEDULE_EVERY_SECONDS, or only when
asked (0); run_now runs them at once and answers what each returned."""

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.schedules import SchedulePollers, seconds_setting
from local.template import Function


def function(logical_id: str, schedules: tuple[int, ...]) -> Function:
    return Function(
        logical_id=logical_id,
        name=f"unit-{logical_id}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:unit-{logical_id}",
        code_uri=Path("."),
        handler="area.app.lambda_handler",
        timeout=3,
        memory_size=128,
        environment={},
        api_routes=(),
        queue_triggers=(),
        schedules=schedules,
    )


@dataclass
class Functions:
    functions: tuple[Function, ...]


class Invocations:
    def __init__(self, until: int = 1) -> None:
        self.events: list[tuple[str, dict]] = []
        self.enough = threading.Event()
        self.until = until

    def __call__(self, fn: Function, event: dict) -> dict:
        self.events.append((fn.logical_id, event))
        if len(self.events) >= self.until:
            self.enough.set()
        return {"ran": fn.logical_id}


TEMPLATE = Functions((function("Scheduled", (300,)), function("Api", ())))


def test_run_now_runs_each_scheduled_function_with_a_scheduled_event():
    invoked = Invocations()
    pollers = SchedulePollers(
        TEMPLATE,
        invoked,
        region="us-east-1",
        account_id="123456789012",
        every=0,  # type: ignore[arg-type]
    )

    assert pollers.run_now() == {"Scheduled": {"ran": "Scheduled"}}
    [(logical_id, event)] = invoked.events
    assert logical_id == "Scheduled"
    assert (event["detail-type"], event["source"], event["detail"]) == (
        "Scheduled Event",
        "aws.events",
        {},
    )
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:123456789012:rule/")


def test_a_timer_runs_them_every_period_until_stopped_and_0_runs_none():
    invoked = Invocations(until=2)
    pollers = SchedulePollers(
        TEMPLATE,
        invoked,
        region="us-east-1",
        account_id="123456789012",
        every=0.05,  # type: ignore[arg-type]
    )
    pollers.start()
    try:
        assert invoked.enough.wait(5)
    finally:
        pollers.stop()
    assert {logical_id for logical_id, _ in invoked.events} == {"Scheduled"}

    idle = Invocations()
    off = SchedulePollers(
        TEMPLATE,
        idle,
        region="us-east-1",
        account_id="123456789012",
        every=0,  # type: ignore[arg-type]
    )
    off.start()
    assert not idle.enough.wait(0.2)
    off.stop()


def test_schedule_every_seconds_is_a_number_of_seconds():
    assert seconds_setting(None) is None and seconds_setting("") is None
    assert seconds_setting("0") == 0 and seconds_setting("2.5") == 2.5
    for wrong in ("-1", "soon"):
        with pytest.raises(ValueError, match="SCHEDULE_EVERY_SECONDS"):
            seconds_setting(wrong)
