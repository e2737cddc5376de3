"""The createadmin operator command, against the local stack and a (stubbed) deployed one."""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import requests
from botocore.stub import Stubber

from ops import targets

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_createadmin(state_file: Path, username: str, password: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "ops", "createadmin", "--local", "--state-file", str(state_file), "--username", username],
        cwd=REPO_ROOT, env={**environment, "ADMIN_PASSWORD": password},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_createadmin_adds_an_admin_to_the_local_stack_who_can_log_in(local_stack):
    done = run_createadmin(local_stack.state_file, "ops-admin@example.com", "an ops password")

    assert done.returncode == 0, done.stderr
    assert "ops-admin@example.com" in done.stdout
    assert "an ops password" not in done.stdout + done.stderr
    login = requests.post(f"{local_stack.base_url}/auth/login/", json={"username": "ops-admin@example.com", "password": "an ops password"}, timeout=10)
    assert login.status_code == 200
    assert login.json()["user"]["is_admin"] is True

    again = run_createadmin(local_stack.state_file, "OPS-ADMIN@example.com", "another password")
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_createadmin_refuses_bad_input_and_a_missing_stack(local_stack, tmp_path):
    weak = run_createadmin(local_stack.state_file, "weak@example.com", "short")
    assert weak.returncode == 2 and "password" in weak.stderr

    nowhere = run_createadmin(tmp_path / "missing.json", "x@example.com", "long enough password")
    assert nowhere.returncode == 2 and "make run" in nowhere.stderr


def test_a_deployed_stack_is_found_through_cloudformation_and_its_functions_environment(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    cloudformation, lambda_client = boto3.client("cloudformation"), boto3.client("lambda")
    with Stubber(cloudformation) as stacks, Stubber(lambda_client) as functions:
        stacks.add_response(
            "describe_stack_resource",
            {"StackResourceDetail": {"LogicalResourceId": "CreateUserFunction", "PhysicalResourceId": "twittnow-dev-CreateUser-abc",
                                     "ResourceType": "AWS::Lambda::Function", "LastUpdatedTimestamp": "2026-11-22T00:00:00Z",
                                     "ResourceStatus": "CREATE_COMPLETE"}},
            {"StackName": "twittnow-dev", "LogicalResourceId": "CreateUserFunction"},
        )
        functions.add_response(
            "get_function_configuration",
            {"Environment": {"Variables": {"USERS_TABLE": "twittnow-dev-UsersTable-XYZ"}}},
            {"FunctionName": "twittnow-dev-CreateUser-abc"},
        )
        monkeypatch.setattr(targets.boto3, "client", {"cloudformation": cloudformation, "lambda": lambda_client}.get)
        monkeypatch.delenv("USERS_TABLE", raising=False)
        targets.use_deployed_stack("twittnow-dev")
        assert os.environ["USERS_TABLE"] == "twittnow-dev-UsersTable-XYZ"


def run_webhooks(state_file: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "X_"))}
    return subprocess.run(
        [sys.executable, "-m", "ops", "webhooks", *arguments, "--local", "--state-file", str(state_file)],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_webhooks_register_list_validate_and_delete_against_the_sandbox(local_stack):
    url = f"{local_stack.public_base_url}/activity/"  # the seed's alias; X's CRC reaches it too
    registered = run_webhooks(local_stack.state_file, "register", "--url", url)
    assert registered.returncode == 0, registered.stderr
    assert "valid: True" in registered.stdout
    webhook_id = registered.stdout.split()[2]

    listed = run_webhooks(local_stack.state_file, "list")
    assert f"{webhook_id}  {url}  valid=True" in listed.stdout

    validated = run_webhooks(local_stack.state_file, "validate", "--id", webhook_id)
    assert validated.returncode == 0, validated.stderr

    assert run_webhooks(local_stack.state_file, "delete", "--id", webhook_id).returncode == 0
    assert webhook_id not in run_webhooks(local_stack.state_file, "list").stdout

    unknown = run_webhooks(local_stack.state_file, "validate", "--id", "123")
    assert unknown.returncode == 1 and "X refused" in unknown.stderr
    assert run_webhooks(local_stack.state_file, "register").returncode == 2  # --url missing
