"""Lambda's Python runtime, locally: handlers loaded with their CodeUri and layer; the context.

Every function runs in this one process, but each gets its own copy of its folder's
modules and of the layer, as each Lambda function has its own instance: several folders
have a `logic.py`, and the layer caches settings and clients it reads once.
"""

import importlib
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import REPO_ROOT, Function

logger = logging.getLogger(__name__)

LAYER_DIRS = (REPO_ROOT / "layers" / "common",)

Handler = Callable[[dict, "LambdaContext"], Any]

_importing = threading.Lock()  # imports juggle sys.modules and sys.path


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
    """The handlers of one stack, each loaded once, by logical id.

    Per stack, not per process: a handler's layer copy caches the settings and clients
    of the stack it first ran in.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._loading = threading.Lock()

    def load_handler(self, function: Function) -> Handler:
        with self._loading:
            if function.logical_id not in self._handlers:
                module = load_module(function.code_uri, function.handler_module)
                self._handlers[function.logical_id] = getattr(module, function.handler_function)
            return self._handlers[function.logical_id]

    def invoke(self, function: Function, event: dict) -> Any:
        """Runs the function's handler on `event` with a fresh context, as one invocation."""
        handler = self.load_handler(function)
        started = time.monotonic()
        try:
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


def load_module(code_dir: Path | str, module_name: str) -> ModuleType:
    """A module of a function folder (functions/auth, "logic"), imported as a handler is.

    It gets its own copy of its folder's modules and of the layer, so it does not mix
    with the functions' copies or with the caller's own imports.
    """
    with _importing:
        return _import_isolated(Path(code_dir).resolve(), module_name)


def _import_isolated(code_dir: Path, module_name: str) -> ModuleType:
    private_dirs = (code_dir, *LAYER_DIRS)
    for layer_dir in LAYER_DIRS:  # like /opt/python: stays on the path for imports at call time
        if str(layer_dir) not in sys.path:
            sys.path.append(str(layer_dir))
    # Modules already imported from these folders belong to someone else (another
    # function, or the caller): set them aside so this import makes its own copies.
    others = _remove_modules_under(private_dirs)
    sys.path.insert(0, str(code_dir))
    importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(str(code_dir))
        # The loaded module keeps references to its copies; nobody else should see them.
        _remove_modules_under(private_dirs)
        sys.modules.update(others)


def _remove_modules_under(directories: Iterable[Path]) -> dict[str, ModuleType]:
    prefixes = tuple(os.path.join(directory, "") for directory in directories)
    removed = {
        name: module for name, module in list(sys.modules.items()) if _lives_under(module, prefixes)
    }
    for name in removed:
        del sys.modules[name]
    return removed


def _lives_under(module: ModuleType, prefixes: tuple[str, ...]) -> bool:
    # Namespace packages have no __file__, only the folders in __path__.
    locations = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
    return any(
        isinstance(location, str) and os.path.abspath(location).startswith(prefixes)
        for location in locations
    )
