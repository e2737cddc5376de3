"""What a function loads at its cold start: the packages that only some calls need stay
out until those calls (bench/cold_start.py measures what they would cost)."""

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
# Never needed: requests-oauthlib would also load oauthlib's OAuth 2.
NEVER_LOADED = ("requests_oauthlib", "oauthlib.oauth2")
# Run in a fresh, isolated process, as Lambda's would be: prints the heavy modules loaded.
PROGRAM = """
import importlib, json, sys
code_dir, layer_dir, handler, watched = sys.argv[1:]
sys.path[:0] = [code_dir, layer_dir]
module_name, _, function_name = handler.rpartition(".")
getattr(importlib.import_module(module_name), function_name)
print(json.dumps([name for name in json.loads(watched) if name in sys.modules]))
"""


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_a_handler_loads_no_package_that_only_some_calls_need(function):
    environment = {
        "PATH": os.environ["PATH"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        **function.environment,
    }
    watched = json.dumps([*LOADED_ON_FIRST_USE, *NEVER_LOADED])
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
    assert json.loads(done.stdout) == []
