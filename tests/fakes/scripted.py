"""What the fakes of the other side (X, ServiceNow, a queue) share: every call recorded,
and failures a test scripts, raised by the calls they name."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    error: Exception
    method: str | None
    times: int | None


class Scripted:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: list[_Failure] = []

    def fail(self, error: Exception, method: str | None = None, times: int | None = 1) -> None:
        """The next `times` calls of `method` (of any method when None) raise `error`
        instead of doing anything; `times=None`: every call from now on. Failures scripted
        earlier come first."""
        if method is not None and not callable(getattr(self, method, None)):
            # A misspelt name would never fail, and the test would pass for nothing.
            raise ValueError(f"{type(self).__name__} has no method {method!r}")
        self._failures.append(_Failure(error, method, times))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The arguments of each call of `method`, failed ones included, oldest first."""
        return [call.args for call in self.calls if call.method == method]

    def _called(self, method: str, **args: Any) -> None:
        """Records the call; raises the first failure scripted for it."""
        self.calls.append(Call(method, args))
        for failure in self._failures:
            if failure.method not in (None, method):
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
            raise failure.error
