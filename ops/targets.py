"""Where an operator command acts: the environment a deployed function runs with (read
from CloudFormation and Lambda), or the local stack's (from its state file)."""

import json
import os
from pathlib import Path

import boto3

LOCAL_STATE_FILE = Path(__file__).resolve().parent.parent / ".local" / "stack.json"
# Any function of the auth folder runs with the variables the auth domain needs.
REFERENCE_FUNCTION = "CreateUserFunction"


class TargetError(Exception):
    pass


def use_deployed_stack(stack_name: str) -> None:
    """Points this process at a deployed stack: its function's environment variables, and
    the caller's own AWS credentials and region."""
    try:
        resource = boto3.client("cloudformation").describe_stack_resource(
            StackName=stack_name, LogicalResourceId=REFERENCE_FUNCTION
        )
    except Exception as error:  # botocore raises many kinds; each means "no such stack here"
        raise TargetError(f"Cannot read stack {stack_name!r}: {error}") from error
    function_name = resource["StackResourceDetail"]["PhysicalResourceId"]
    configuration = boto3.client("lambda").get_function_configuration(FunctionName=function_name)
    os.environ.update(configuration.get("Environment", {}).get("Variables", {}))


def use_local_stack(state_file: Path = LOCAL_STATE_FILE) -> None:
    """Points this process at the running local stack (`make run`)."""
    if not state_file.exists():
        raise TargetError(f"No local stack: {state_file} is missing. Start one with `make run`.")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    os.environ.update(state["environment"])
