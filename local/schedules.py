"""EventBridge schedules, locally: each scheduled function invoked at its template rate,
with a Scheduled Event, as an EventBridge rule does.

`every` overrides the template's rate (the local stack's SCHEDULE_EVERY_SECONDS; 0: never
on a timer), and `run_now` runs every scheduled function at once and answers what each
returned: tests need not wait five minutes, nor have a run come in the middle of them.
"""

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.template import Function, Template

logger = logging.getLogger(__name__)

Invoke = Callable[[Function, dict], Any]


class SchedulePollers:
    """One thread per scheduled function of the template."""

    def __init__(
        self,
        template: Template,
        invoke: Invoke,
        *,
        region: str,
        account_id: str,
        every: float | None = None,
    ):
        self._invoke = invoke
        self._region = region
        self._account_id = account_id
        self._stopping = threading.Event()
        # One run at a time per function, whether the timer or run_now started it (a
        # Lambda function may overlap itself, but its runs are written to tolerate that,
        # and the local stack's tests want each run whole).
        self._running = {
            function.logical_id: threading.Lock()
            for function in template.functions
            if function.schedules
        }
        self._threads = [
            threading.Thread(
                target=self._run_every,
                args=(function, every or min(function.schedules)),
                name=f"schedule-{function.logical_id}",
                daemon=True,
            )
            for function in template.functions
            if function.schedules and every != 0
        ]
        self._functions = [function for function in template.functions if function.schedules]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def run_now(self) -> dict[str, Any]:
        """Runs each scheduled function once, now; answers {logical id: what it returned}.
        A function's failure is raised, as an invocation's error would show."""
        return {function.logical_id: self._run(function) for function in self._functions}

    def _run_every(self, function: Function, seconds: float) -> None:
        # The first run comes one period after the start, as a new rule's does.
        while not self._stopping.wait(seconds):
            try:
                self._run(function)
            except Exception:
                # EventBridge would retry the invocation; the next period comes anyway.
                logger.exception("Scheduled %s failed.", function.logical_id)

    def _run(self, function: Function) -> Any:
        with self._running[function.logical_id]:
            return self._invoke(function, self._scheduled_event(function))

    def _scheduled_event(self, function: Function) -> dict:
        """What an EventBridge rule sends (a "Scheduled Event")."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [
                f"arn:aws:events:{self._region}:{self._account_id}:rule/{function.name}-Schedule"
            ],
            "detail": {},
        }


def seconds_setting(value: str | None) -> float | None:
    """SCHEDULE_EVERY_SECONDS: seconds (0: never on a timer), or None (the template's)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(
            f"SCHEDULE_EVERY_SECONDS must be a number of seconds (0: off), not {value!r}."
        )
    return seconds
