"""What a Lambda instance builds once and keeps: its settings, clients and repositories.

On AWS a process is one instance of one function, so "once" means once per process. The
local stack runs every function of a stack in one process, and tests run a second stack
beside the first: each stack then keeps its own (`scope`), as its functions' instances
would, and no stack's functions use another's tables, queues or endpoints.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, ParamSpec, TypeVar

Kept = dict[tuple[Callable[..., Any], tuple[Any, ...]], Any]

_PROCESS: Kept = {}
_current: ContextVar[Kept | None] = ContextVar("twittnow_instance", default=None)

P = ParamSpec("P")
T = TypeVar("T")


def kept(build: Callable[P, T]) -> Callable[P, T]:
    """`build`'s answer for these (hashable) arguments, built at its first call in the
    current scope and kept there; like functools.cache, per scope."""

    @wraps(build)
    def get(*args: P.args, **kwargs: P.kwargs) -> T:
        store = _store()
        key = (build, (*args, *sorted(kwargs.items())))
        try:
            return store[key]
        except KeyError:
            # Two first calls at once may both build; the first one stored is kept.
            return store.setdefault(key, build(*args, **kwargs))

    return get


def forget(*builds: Callable[..., Any]) -> None:
    """Drops what the current scope keeps: all of it, or only what `builds` built."""
    store = _store()
    unwrapped = {getattr(build, "__wrapped__", build) for build in builds}
    for key in list(store):
        if not builds or key[0] in unwrapped:
            store.pop(key, None)


@contextmanager
def scope(store: Kept) -> Iterator[None]:
    """Runs the block with `store` as what the instance keeps (the local stack's, per stack)."""
    token = _current.set(store)
    try:
        yield
    finally:
        _current.reset(token)


def _store() -> Kept:
    store = _current.get()
    return _PROCESS if store is None else store
