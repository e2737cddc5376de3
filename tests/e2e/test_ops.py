"""The operator commands, against the local stack and a (stubbed) deployed one."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import requests
from botocore.stub import Stubber

from ops import targets
from tests.api.desks import drained

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_createadmin(state_file: Path, username: str, password: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "createadmin",
            "--local",
            "--state-file",
            str(state_file),
            "--username",
            username,
        ],
        cwd=REPO_ROOT,
        env={**environment, "ADMIN_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_createadmin_adds_an_admin_to_the_local_stack_who_can_log_in(local_stack):
    done = run_createadmin(local_stack.state_file, "ops-admin@example.com", "an ops password")

    assert done.returncode == 0, done.stderr
    assert "ops-admin@example.com" in done.stdout
    assert "an ops password" not in done.stdout + done.stderr
    login = requests.post(
        f"{local_stack.base_url}/auth/login/",
        json={"username": "ops-admin@example.com", "password": "an ops password"},
        timeout=10,
    )
    assert login.status_code == 200
    assert login.json()["user"]["is_admin"] is True

    again = run_createadmin(local_stack.state_file, "OPS-ADMIN@example.com", "another password")
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_createadmin_refuses_bad_input_and_a_missing_stack(local_stack, tmp_path):
    weak = run_createadmin(local_stack.state_file, "weak@example.com", "short")
    assert weak.returncode == 2 and "password" in weak.stderr
    common = run_createadmin(local_stack.state_file, "common@example.com", "12345678")
    assert common.returncode == 2 and "common" in common.stderr and "12345678" not in common.stderr

    nowhere = run_createadmin(tmp_path / "missing.json", "x@example.com", "long enough password")
    assert nowhere.returncode == 2 and "make run" in nowhere.stderr


def test_a_deployed_stack_is_found_through_cloudformation_and_its_functions_environment(
    monkeypatch,
):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    cloudformation, lambda_client = boto3.client("cloudformation"), boto3.client("lambda")
    with Stubber(cloudformation) as stacks, Stubber(lambda_client) as functions:
        stacks.add_response(
            "describe_stack_resource",
            {
                "StackResourceDetail": {
                    "LogicalResourceId": "CreateUserFunction",
                    "PhysicalResourceId": "twittnow-dev-CreateUser-abc",
                    "ResourceType": "AWS::Lambda::Function",
                    "LastUpdatedTimestamp": "2026-11-22T00:00:00Z",
                    "ResourceStatus": "CREATE_COMPLETE",
                }
            },
            {"StackName": "twittnow-dev", "LogicalResourceId": "CreateUserFunction"},
        )
        functions.add_response(
            "get_function_configuration",
            {"Environment": {"Variables": {"USERS_TABLE": "twittnow-dev-UsersTable-XYZ"}}},
            {"FunctionName": "twittnow-dev-CreateUser-abc"},
        )
        monkeypatch.setattr(
            targets.boto3, "client", {"cloudformation": cloudformation, "lambda": lambda_client}.get
        )
        monkeypatch.delenv("USERS_TABLE", raising=False)
        targets.use_deployed_stack("twittnow-dev")
        assert os.environ["USERS_TABLE"] == "twittnow-dev-UsersTable-XYZ"


def run_webhooks(state_file: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "X_"))
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "webhooks",
            *arguments,
            "--local",
            "--state-file",
            str(state_file),
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        # resubscribe goes through every account the session's stack holds (hundreds by
        # the end of the suite), each with X Chat keys to check and six subscriptions.
        timeout=300,
        stdin=subprocess.DEVNULL,
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


def run_ops(state_file: Path, command: str) -> subprocess.CompletedProcess:
    """An operator command that takes nothing but the local stack."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "ops", command, "--local", "--state-file", str(state_file)],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def stack_dynamodb(local_stack):
    """A DynamoDB client of the local stack's embedded AWS, to write what an older version
    of the service stored."""
    return boto3.client(
        "dynamodb",
        endpoint_url=local_stack.aws.endpoint_url,
        region_name=local_stack.aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_rekey_claims_moves_lowercased_claims_and_lists_look_alikes(local_stack):
    """Claims stored as before (lowercased, not case folded) move to their keys now; a
    pair that is one name now is reported, not merged."""
    api, marker = local_stack.base_url, uuid.uuid4().hex[:8]
    admin = requests.post(
        f"{api}/auth/login/",
        json={"username": local_stack.admin_username, "password": local_stack.admin_password},
        timeout=10,
    ).json()["token"]
    headers = {"Authorization": f"Token {admin}"}

    def create_user(username):
        body = {"username": username, "password": "rekeying passphrase", "company_name": "Rekey"}
        reply = requests.post(f"{api}/auth/users/", headers=headers, json=body, timeout=10)
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    dynamodb = stack_dynamodb(local_stack)
    users_table = local_stack.template.physical_names()["UsersTable"]

    def as_before(user_id, username):  # the claim as the service wrote it before
        dynamodb.delete_item(
            TableName=users_table,
            Key={"pk": {"S": f"USERNAME#{username.replace('ß', 'ss').lower()}"}},
        )
        dynamodb.put_item(
            TableName=users_table,
            Item={"pk": {"S": f"USERNAME#{username.lower()}"}, "user_id": {"S": user_id}},
        )

    old = f"straße-{marker}@example.com"
    old_id = create_user(old)
    as_before(old_id, old)
    taken = f"straße-taken-{marker}@example.com"
    taken_id = create_user(taken)
    as_before(taken_id, taken)
    look_alike_id = create_user(
        taken.replace("ß", "SS")
    )  # possible while the claim was the old one

    done = run_ops(local_stack.state_file, "rekey-claims")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 username moved" in done.stdout and "1 username taken" in done.stdout
    assert taken in done.stderr and taken_id in done.stderr and look_alike_id not in done.stderr
    login = requests.post(
        f"{api}/auth/login/",
        json={"username": old.replace("ß", "SS"), "password": "rekeying passphrase"},
        timeout=10,
    )
    assert login.status_code == 200 and login.json()["user"]["id"] == old_id
    again = run_ops(local_stack.state_file, "rekey-claims")
    assert "username moved" not in again.stdout and "1 username taken" in again.stdout


def test_recount_failures_counts_the_failures_from_before_counts_were_kept(
    local_stack, desk, customer
):
    desk.customer_dm(customer, "Where is my parcel?")
    drained(local_stack)
    conversation = desk.conversation_with(customer)
    names = local_stack.template.physical_names()
    dynamodb = stack_dynamodb(local_stack)
    # The acknowledgement as a reply that failed before the version that counts failures.
    [acknowledgement] = [
        item
        for item in dynamodb.query(
            TableName=names["MessagesTable"],
            KeyConditionExpression="conversation_id = :id",
            ExpressionAttributeValues={":id": {"S": conversation["id"]}},
        )["Items"]
        if item["author"]["S"] == "bot"
    ]
    dynamodb.update_item(
        TableName=names["MessagesTable"],
        Key={"conversation_id": acknowledgement["conversation_id"], "key": acknowledgement["key"]},
        UpdateExpression="SET #status = :failed, status_detail = :why",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":failed": {"S": "failed"}, ":why": {"S": "X refused it"}},
    )
    dynamodb.update_item(
        TableName=names["ConversationsTable"],
        Key={"id": {"S": conversation["id"]}},
        UpdateExpression="REMOVE failed_messages",
    )

    def failed_ones() -> list[dict]:
        reply = desk.api.get("/conversations/?failed=true&page_size=200", token=desk.token)
        assert reply.status == 200, reply.body
        return reply.body["results"]

    assert failed_ones() == []

    done = run_ops(local_stack.state_file, "recount-failures")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "corrected: 1." in done.stdout
    [listed] = failed_ones()
    assert (listed["id"], listed["failed_messages"]) == (conversation["id"], 1)
    again = run_ops(local_stack.state_file, "recount-failures")
    assert again.returncode == 0 and "corrected: 0." in again.stdout
