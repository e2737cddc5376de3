"""What a function loads at its cold start: the packages that only some calls need stay
out until those calls (bench/cold_start.py measures what they would cost); in Lambda its
handler is traced, with only the AWS SDK patched; untraced (the local stack, the tests),
the X-Ray SDK stays out."""

import json
import os
import subprocess
import sys

import pytest

from local import LAYER_DIR
from local.template import Deployment, load_template

FUNCTIONS = load_template(Deployment(aws_endpoint_url="http://127.0.0.1:9")).functions
# Loaded by the call that needs them: requests and oauthlib by the first X or ServiceNow
# client, email-validator (with dnspython) by the first e-mail address checked, argon2 by
# the first password hashed or checked, cryptography by the first pending X connection
# sealed or opened.
LOADED_ON_FIRST_USE = (
    "requests",
    "charset_normalizer",
    "oauthlib",
    "email_validator",
    "dns",
    "argon2",
    "cryptography",
)
# Never needed: requests-oauthlib would also load oauthlib's OAuth 2; Powertools' event
# handler and batch utility (with them every event source's data classes and parser
# models) would add about 20 and 35 ms, for what twittnow.rest and twittnow.job_records do;
# asyncio (about 8 ms) came with wrapt 2, which the layer pins below.
NEVER_LOADED = (
    "asyncio",
    "requests_oauthlib",
    "oauthlib.oauth2",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.parser",
)
# Loaded only when tracing is on.
TRACING = ("aws_xray_sdk", "wrapt")
# Run in a fresh, isolated process, as Lambda's would be: prints the heavy modules loaded,
# whether the handler is Powertools' traced one, and what the X-Ray SDK patched.
PROGRAM = """
import importlib, json, sys
code_dir, layer_dir, handler, watched = sys.argv[1:]
sys.path[:0] = [code_dir, layer_dir]
module_name, _, function_name = handler.rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)
wrappers = []  # the handler's decorators, outermost first (functools.wraps chains them)
while handler is not None:
    wrappers.append(handler.__code__.co_qualname)
    handler = getattr(handler, "__wrapped__", None)
patcher = sys.modules.get("aws_xray_sdk.core.patcher")
print(json.dumps({
    "loaded": [name for name in json.loads(watched) if name in sys.modules],
    "traced": "Tracer.capture_lambda_handler.<locals>.decorate" in wrappers,
    "patched": sorted(patcher._PATCHED_MODULES) if patcher else [],
}))
"""


def cold_start(function, watched, **environment):
    """What a fresh process importing the function's handler prints (PROGRAM), with the
    function's environment and `environment`."""
    environment = {
        "PATH": os.environ["PATH"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        **function.environment,
        **environment,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            PROGRAM,
            str(function.code_uri),
            str(LAYER_DIR),
            function.handler,
            watched,
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_in_lambda_a_handler_is_traced_and_loads_no_package_that_only_some_calls_need(function):
    # Lambda sets LAMBDA_TASK_ROOT, and the template has Tracing: Active.
    loaded = cold_start(
        function,
        json.dumps([*LOADED_ON_FIRST_USE, *NEVER_LOADED]),
        LAMBDA_TASK_ROOT=str(function.code_uri),
    )

    assert loaded == {"loaded": [], "traced": True, "patched": ["botocore"]}


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_untraced_a_handler_loads_no_x_ray_sdk(function):
    loaded = cold_start(
        function,
        json.dumps([*LOADED_ON_FIRST_USE, *NEVER_LOADED, *TRACING]),
        LAMBDA_TASK_ROOT=str(function.code_uri),
        POWERTOOLS_TRACE_DISABLED="true",
    )

    assert loaded == {"loaded": [], "traced": False, "patched": []}
