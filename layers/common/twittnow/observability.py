"""The one logger, the metrics and the tracer every function uses. Events are never logged
whole: they carry passwords and tokens. Metrics go to CloudWatch in the embedded metric
format, flushed by the handlers that count. Traces go to X-Ray: the handler, each queued
message, every AWS SDK call and every call to X and ServiceNow, with the tenant's user id
as an annotation; never a secret, nor a call's headers or bodies.

The service and namespace are named here, not by POWERTOOLS_* variables: Powertools reads
those when this module is imported, which the local stack's tests may do before any
stack's variables are set."""

import gc
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.shared.functions import strtobool

SERVICE = "twittnow"
METRICS_NAMESPACE = "Twittnow"
# What the X-Ray SDK patches: the AWS SDK alone, so that every DynamoDB, SQS and Secrets
# Manager call is a subsegment with its operation (and its table or queue: the SDK records
# only the parameters its whitelist names, never an item, a message or a SecretString).
# Not requests or httplib, which patch_all would add: calls to X and ServiceNow have
# subsegments of their own (outgoing_call), and those patches would trace each one again,
# named and recorded by its URL (ids, query, the tenant's instance); httplib would trace
# every AWS call twice, and patching requests would import it at every cold start.
TRACED_LIBRARIES = ("botocore",)

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE)


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Powertools' rule: on in Lambda (the template has Tracing: Active), off under `sam
    local`, off wherever POWERTOOLS_TRACE_DISABLED is true; and POWERTOOLS_TRACE_DISABLED
    false turns it on outside Lambda too (the local stack, asked to: README)."""
    setting = environ.get("POWERTOOLS_TRACE_DISABLED")
    if setting:
        return not strtobool(setting)
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not environ.get("AWS_SAM_LOCAL")


def make_tracer() -> Tracer | None:
    """Powertools' Tracer when tracing is on, else None. Even a disabled Tracer loads the
    X-Ray SDK and makes its recorder (outside Lambda with two botocore clients, about
    150 ms), which the local stack and the tests do not need."""
    if not tracing_enabled():
        return None
    return Tracer(service=SERVICE, disabled=False, patch_modules=TRACED_LIBRARIES)


tracer = make_tracer()
# A Lambda instance runs one function: what its init makes lives as long as the instance.
IN_LAMBDA = bool(os.environ.get("LAMBDA_TASK_ROOT"))


def freeze_what_init_made() -> None:
    """In a Lambda instance, at the end of init: moves every object made so far to the
    garbage collector's permanent generation (gc.freeze), where no collection walks it
    again, and turns the collector back on (twittnow's package turned it off when init
    began). Modules, classes, functions, Powertools' and the X-Ray SDK's objects,
    pydantic's schemas and the like live as long as the instance; the garbage init makes
    among them (about 440 objects, bench/RESULTS.md) stays, frozen. gc.freeze() also
    resets the collector's counts, so collections start afresh with the first call.

    Not outside Lambda (the local stack, the tests): one process there imports many
    functions and runs on, so it is decided once, at import, as tracing is."""
    if IN_LAMBDA:
        gc.freeze()
        gc.enable()


def traced_handler(handler: F) -> F:
    """The Lambda handler in Powertools' "## lambda_handler" subsegment, with its ColdStart
    and Service annotations, when tracing is on (decided once, at import, as Powertools
    does).

    Neither the response nor the error is added as metadata: a response can carry a token
    (a login's, a new API key). Without capture_error the X-Ray SDK still records an
    exception that leaves the handler (type, message, stack) as the subsegment's cause, as
    it does for every subsegment; few leave one (the HTTP functions answer every error
    themselves, the queue processors report a failed message rather than raise), and no
    message of ours carries a secret: the X and ServiceNow clients scrub credentials from
    their errors."""
    # A function's handler is the last thing its init makes.
    freeze_what_init_made()
    if tracer is None:
        return handler
    return cast(
        F, tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False)
    )


def traced(function: F) -> F:
    """`function` in a subsegment of its own ("## <module>.<name>") when tracing is on: a
    queue processor's handling of one message, so that each carries its own tenant. Its
    return value and error stay out of metadata, as the handler's do."""
    if tracer is None:
        return function
    return tracer.capture_method(capture_response=False, capture_error=False)(function)


def annotate_tenant(tenant_id: str) -> None:
    """Marks the current subsegment with the tenant's user id, an annotation X-Ray indexes
    (filter expression: annotation.tenant = "<id>"). Ids only: whoever may read the traces
    can search annotations."""
    if tracer is not None:
        tracer.put_annotation("tenant", tenant_id)


@contextmanager
def outgoing_call(service: str, method: str, route: str) -> Iterator[Callable[[int], None]]:
    """A subsegment around one HTTP call to X or ServiceNow, when tracing is on, named
    "<service> <method> <route>" after the route's template ("/2/webhooks/{webhook_id}"): no
    id, no query. Yields what records the answer's HTTP status, from which X-Ray flags
    errors (4xx), throttling (429) and faults (5xx).

    The method and status are all it records of the call: not the URL (ids, query, the
    tenant's instance), the headers (credentials) or the bodies (customers' words). An
    exception that leaves the block is recorded with its message: the clients turn
    requests' exceptions, whose messages can hold the URL, into their own errors inside
    it, with every credential scrubbed."""
    if tracer is None:
        yield _unrecorded
        return
    with tracer.provider.in_subsegment(name=f"{service} {method} {route}") as subsegment:
        # The X-Ray SDK's subsegment (Powertools' BaseSegment does not declare HTTP
        # metadata); None outside any segment, as the local stack's own calls are.
        call: Any = subsegment
        if call is None:
            yield _unrecorded
            return
        call.put_http_meta("method", method)
        yield lambda status: call.put_http_meta("status", status)


def _unrecorded(status: int) -> None:
    """What outgoing_call yields when tracing is off."""


def count(name: str, value: int = 1) -> None:
    # Disabled metrics (the local stack's default) are not even added: Powertools would
    # still print a metric's values every hundredth one.
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_failure(kind: str) -> None:
    """One failed attempt at a queued message, by kind (the error's class)."""
    with single_metric(
        name="Failures", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
    ) as metric:
        metric.add_dimension(name="kind", value=kind)


# botocore logs every request's parameters at DEBUG, Secrets Manager's SecretString
# among them, and Lambda's log level controls can set the root logger to DEBUG: the
# AWS SDK's loggers never go below INFO, whatever the root logger says.
for _sdk_logger in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_sdk_logger).setLevel(logging.INFO)

# An invocation that counts nothing (a refused delivery, or metrics disabled) is normal, and
# Powertools would warn about it on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")
