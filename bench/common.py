"""What the benchmarks share: a fresh local stack, a tenant on its sandboxes, percentiles."""

import math
import os
import platform
import time
from collections.abc import Callable

from local.stack import LocalStack, Settings
from tests.api.client import ApiClient
from tests.api.desks import Desk, open_desk

ADMIN_USERNAME = "admin@example.com"
ADMIN_PASSWORD = "bench-admin-password"


def start_stack() -> LocalStack:
    """A local stack of its own (free port, in-process embedded AWS, both sandboxes), as
    `make run` starts it."""
    return LocalStack(
        Settings(port=0, admin_username=ADMIN_USERNAME, admin_password=ADMIN_PASSWORD)
    ).start()


def api_of(stack: LocalStack) -> ApiClient:
    """An in-process API client logged in as the admin."""
    api = ApiClient(stack, over_http=False)
    api.admin_token = api.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    return api


def new_desk(stack: LocalStack) -> Desk:
    """A tenant whose ServiceNow and X account are the stack's sandboxes."""
    return open_desk(api_of(stack))


def timed(call: Callable[[], object]) -> float:
    """How long `call` takes, in milliseconds."""
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample at or above `fraction` of them."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()} on {platform.machine()}"
