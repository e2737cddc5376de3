"""When a queued message that failed comes back: the queue processors' retry policy.

A failed message stays on its FIFO queue (holding back its conversation, so order holds)
and becomes visible again after the delay chosen here: what the other side asked for
(ServiceNow's Retry-After, X's rate-limit reset), a long wait when the tenant must fix
something, or exponential backoff. After the queue's maxReceiveCount attempts it goes to
the dead-letter queue, and its last failure is recorded where the tenant sees it.
"""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from twittnow import clock
from twittnow.clients.servicenow import (
    ServiceNowBadCredentials,
    ServiceNowError,
    ServiceNowMissingRole,
    ServiceNowThrottled,
)
from twittnow.clients.x import XConnectionBroken, XError, XRateLimited
from twittnow.instance_urls import InvalidInstanceUrl
from twittnow.job_records import JobRecord
from twittnow.observability import count_failure, logger
from twittnow.ports import Queue

BACKOFF_CAP_SECONDS = 15 * 60
# Until the tenant fixes its credentials or reconnects its account.
TENANT_ACTION_WAIT_SECONDS = 5 * 60


class RetryLater(Exception):
    """The message cannot be handled yet: try again in `seconds` (None: the backoff)."""

    def __init__(self, reason: str, seconds: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


def backoff_seconds(attempt: int) -> int:
    """2, 4, 8 ... seconds, at most 15 minutes."""
    return min(2 ** max(1, attempt), BACKOFF_CAP_SECONDS)


def delay_for(error: Exception, attempt: int) -> tuple[int, str]:
    """How long to wait before the next attempt, and the failure's reason as a person
    reads it (never a secret: the clients scrub their messages)."""
    match error:
        case RetryLater():
            seconds = error.seconds if error.seconds is not None else backoff_seconds(attempt)
            return seconds, error.reason
        case ServiceNowThrottled():
            return error.retry_after_seconds, f"ServiceNow is throttling: {error.message}"
        case XRateLimited():
            wait = math.ceil((error.reset_at - clock.now()).total_seconds())
            return max(1, wait), f"X is rate limiting: {error.message}"
        case ServiceNowBadCredentials() | ServiceNowMissingRole():
            return (
                TENANT_ACTION_WAIT_SECONDS,
                f"ServiceNow refused the credentials: {error.message}",
            )
        case InvalidInstanceUrl():
            return TENANT_ACTION_WAIT_SECONDS, f"The ServiceNow instance is not allowed: {error}"
        case XConnectionBroken():
            return (
                TENANT_ACTION_WAIT_SECONDS,
                f"The X account must be connected again: {error.message}",
            )
        case ServiceNowError():
            return backoff_seconds(attempt), f"ServiceNow failed: {error.message}"
        case XError():
            return backoff_seconds(attempt), f"X failed: {error.message}"
    return backoff_seconds(attempt), f"Unexpected error ({type(error).__name__})"


@contextmanager
def queued_attempt(
    queue: Queue,
    record: JobRecord,
    max_attempts: int,
    on_last_failure: Callable[[str], None],
) -> Iterator[None]:
    """Runs one attempt at a message `queue` delivered as `record` (SQS counts its receives:
    the attempt's number). A failure sets when the message comes back, records the reason
    on the last attempt, and is raised again for the batch to report."""
    attempt = int(record.attributes.approximate_receive_count)
    try:
        yield
    except Exception as error:
        seconds, reason = delay_for(error, attempt)
        known = isinstance(error, RetryLater | ServiceNowError | XError | InvalidInstanceUrl)
        log = logger.warning if known else logger.exception
        log("Attempt failed", extra={"attempt": attempt, "retry_in": seconds, "reason": reason})
        count_failure(type(error).__name__)
        if attempt >= max_attempts:
            on_last_failure(reason)
        else:
            queue.retry_after(record.receipt_handle, seconds)
        raise
