"""Every function's init, as in a Lambda instance: the garbage collector is off while it
runs (twittnow's package) and on again, with what init made frozen, once the handler is in
hand (twittnow.observability.traced_handler). A function whose init left it off would
never collect a cycle for the instance's whole life."""

import os
import subprocess
import sys

import pytest

from local import LAYER_DIR
from local.template import Deployment, load_template

FUNCTIONS = load_template(Deployment(aws_endpoint_url="http://127.0.0.1:9")).functions
PROGRAM = """
import gc, importlib, sys
code_dir, handler = sys.argv[1:]
sys.path[:0] = [code_dir, LAYER_DIR]
module_name, _, function_name = handler.rpartition(".")
collections_before = sum(stat["collections"] for stat in gc.get_stats())
getattr(importlib.import_module(module_name), function_name)
during_init = sum(stat["collections"] for stat in gc.get_stats()) - collections_before
print(gc.isenabled(), gc.get_freeze_count() > 0, during_init)
""".replace("LAYER_DIR", repr(str(LAYER_DIR)))


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_init_runs_without_collections_and_leaves_the_collector_on(function):
    environment = {
        "PATH": os.environ["PATH"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        **function.environment,
        "LAMBDA_TASK_ROOT": str(function.code_uri),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", PROGRAM, str(function.code_uri), function.handler],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    enabled, frozen, collections = done.stdout.split()
    assert (enabled, frozen, collections) == ("True", "True", "0")
