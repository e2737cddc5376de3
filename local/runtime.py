"""Lambda's Python runtime, locally: handlers imported from their CodeUri and layer; the
context.

Every function of a stack runs in this one process, with plain imports. What a Lambda
instance keeps (settings, clients, repositories: twittnow.instance) each stack keeps
apart, so a second stack in the process (tests start one) never uses the first's.
"""

import importlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import Function
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
    """The handlers of one stack, each loaded once, by logical id, and what the stack's
    functions keep between invocations."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._loading = threading.Lock()
        self._kept: Kept = {}

    def load_handler(self, function: Function) -> Handler:
        with self._loading:
            if function.logical_id not in self._handlers:
                module = import_from(function.code_uri, function.handler_module)
                self._handlers[function.logical_id] = getattr(module, function.handler_function)
            return self._handlers[function.logical_id]

    def kept(self) -> AbstractContextManager[None]:
        """Runs a block with what this stack's functions keep (to call the layer directly)."""
        return scope(self._kept)

    def invoke(self, function: Function, event: dict) -> Any:
        """Runs the function's handler on `event` with a fresh context, as one invocation."""
        handler = self.load_handler(function)
        started = time.monotonic()
        try:
            with self.kept():
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


def import_from(code_dir: Path, module_name: str) -> ModuleType:
    """`module_name` from a function's code root, beside the layer (local/__init__.py puts
    both on the path, as Lambda has /var/task and /opt/python)."""
    if str(code_dir.resolve()) not in sys.path:
        sys.path.append(str(code_dir.resolve()))
    return importlib.import_module(module_name)
