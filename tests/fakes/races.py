"""Two requests racing, over the fakes: what another request does between a domain
function's read and its write."""

from collections.abc import Callable
from typing import Any


def racing(
    monkeypatch, target: Any, method: str, other_request: Callable[[], Any], *, after: bool = False
) -> None:
    """The next call of `target.method` lets `other_request` run to its end before it does
    its work (or, `after`, right after it): two requests racing."""
    original = getattr(target, method)
    waiting = [other_request]

    def call(*args: Any, **kwargs: Any) -> Any:
        if waiting and not after:
            waiting.pop()()
        result = original(*args, **kwargs)
        if waiting:
            waiting.pop()()
        return result

    monkeypatch.setattr(target, method, call)
