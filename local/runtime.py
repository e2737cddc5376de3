"""Lambda's Python runtime, locally: handlers imported from their CodeUri and layer; the
context.

Every function of a stack runs in this one process, with plain imports. What a Lambda
instance keeps (settings, clients, repositories, secrets read: twittnow.instance) each
function of each stack keeps apart, as its own Lambda instance would: a second stack in
the process (tests start one) never uses the first's, and a secret one function read is
not in another's cache, so that each reads it under its own policies (local.iam).
"""

import importlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Tracer

from local import iam
from local.template import Function
from twittnow import observability
from twittnow.instance import Kept, scope

logger = logging.getLogger(__name__)

Handler = Callable[[dict, "LambdaContext"], Any]


class LambdaContext:
    """What Lambda passes as the handler's second argument (Powertools reads most of it)."""

    def __init__(self, function: Function):
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = function.memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Runtime:
    """The handlers of one stack, each loaded once, by logical id, and what each of the
    stack's functions keeps between invocations."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._loading = threading.Lock()
        self._kept: Kept = {}  # the stack's own calls and its tests' (kept)
        self._instances: dict[str, Kept] = {}  # each function's, by logical id
        # Each function's IAM policies, by logical id (enforce); None: calls unchecked.
        self.permissions: Mapping[str, iam.FunctionPolicies] | None = None
        if observability.tracer is not None:
            # The stack's own calls (its setup, its pollers' receives, the webhook's
            # registration) are in no invocation's segment, and need none.
            _recorder(observability.tracer).configure(context_missing="IGNORE_ERROR")
            logging.getLogger("aws_xray_sdk.core.recorder").addFilter(_in_invocations)

    def load_handler(self, function: Function) -> Handler:
        with self._loading:
            if function.logical_id not in self._handlers:
                module = import_from(function.code_uri, function.handler_module)
                self._handlers[function.logical_id] = getattr(module, function.handler_function)
            return self._handlers[function.logical_id]

    def enforce(self, permissions: Mapping[str, iam.FunctionPolicies]) -> None:
        """From now on, each function's AWS calls must be allowed by its own policies."""
        iam.install()
        self.permissions = permissions

    def kept(self) -> AbstractContextManager[None]:
        """Runs a block with what this stack keeps for calls outside its functions (its
        setup, and tests calling the layer directly): its settings, clients and
        repositories, none of which a function uses."""
        return scope(self._kept)

    def invoke(self, function: Function, event: dict) -> Any:
        """Runs the function's handler on `event` with a fresh context, as one invocation."""
        handler = self.load_handler(function)
        started = time.monotonic()
        try:
            kept = self._instances.setdefault(function.logical_id, {})
            with scope(kept), self._acting_as(function), _segment(function):
                return handler(event, LambdaContext(function))
        finally:
            elapsed = time.monotonic() - started
            if elapsed > function.timeout:
                # Lambda would have stopped it; locally it runs on, so say so.
                logger.warning(
                    "%s ran %.1f s, past its %d s timeout.",
                    function.logical_id,
                    elapsed,
                    function.timeout,
                )

    def _acting_as(self, function: Function) -> AbstractContextManager[None]:
        if self.permissions is None:
            return nullcontext()
        if function.logical_id not in self.permissions:
            raise RuntimeError(f"{function.logical_id} has no IAM policies to run under.")
        return iam.acting_as(function.name, self.permissions[function.logical_id])


def _segment(function: Function) -> AbstractContextManager[object]:
    """What Lambda opens around an invocation when tracing is on: the function's segment,
    which holds the handler's subsegments and goes to the X-Ray daemon when it ends."""
    if observability.tracer is None:
        return nullcontext()
    # Sampled, every one: the operator asked for traces.
    return _recorder(observability.tracer).in_segment(function.name, sampling=1)


def _in_invocations(record: logging.LogRecord) -> bool:
    """Drops the X-Ray SDK's warning about a call made in no segment."""
    return not record.getMessage().startswith("No segment found")


def _recorder(tracer: Tracer) -> Any:
    """The X-Ray SDK's recorder, Powertools' provider, whose segments and settings
    Powertools' own interface leaves out."""
    return tracer.provider


def import_from(code_dir: Path, module_name: str) -> ModuleType:
    """`module_name` from a function's code root, beside the layer (local/__init__.py puts
    both on the path, as Lambda has /var/task and /opt/python)."""
    if str(code_dir.resolve()) not in sys.path:
        sys.path.append(str(code_dir.resolve()))
    return importlib.import_module(module_name)
