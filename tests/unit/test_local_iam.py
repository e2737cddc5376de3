"""local.iam: what each AWS call asks IAM for, the policies SAM would give each function,
and the hook that refuses, before it is sent, a call a running function may not make."""

import json
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError

from local import iam
from local.template import DEFAULT_TEMPLATE, REPO_ROOT, Deployment, load_template

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"


def requested(service: str, operation: str, **params) -> list[tuple[str, str]]:
    return iam.requested(service, operation, params, REGION, ACCOUNT)


def test_a_table_call_asks_for_its_action_on_the_table_or_index():
    assert requested("dynamodb", "GetItem", TableName="Users", Key={}) == [
        ("dynamodb:GetItem", f"{ARN}/Users")
    ]
    assert requested("dynamodb", "Query", TableName="Users", IndexName="by_entity") == [
        ("dynamodb:Query", f"{ARN}/Users/index/by_entity")
    ]
    assert requested("dynamodb", "ListTables") == [("dynamodb:ListTables", "*")]


def test_each_item_of_a_transaction_asks_for_its_own_action():
    items = [
        {"Put": {"TableName": "Users", "Item": {}}},
        {"Update": {"TableName": "Tokens", "Key": {}}},
        {"Delete": {"TableName": "Claims", "Key": {}}},
        {"ConditionCheck": {"TableName": "Audit", "Key": {}}},
    ]
    assert requested("dynamodb", "TransactWriteItems", TransactItems=items) == [
        ("dynamodb:PutItem", f"{ARN}/Users"),
        ("dynamodb:UpdateItem", f"{ARN}/Tokens"),
        ("dynamodb:DeleteItem", f"{ARN}/Claims"),
        ("dynamodb:ConditionCheckItem", f"{ARN}/Audit"),
    ]
    gets = [{"Get": {"TableName": "Users", "Key": {}}}]
    assert requested("dynamodb", "TransactGetItems", TransactItems=gets) == [
        ("dynamodb:GetItem", f"{ARN}/Users")
    ]


def test_a_batch_asks_for_the_batch_action_on_every_table_it_names():
    assert requested("dynamodb", "BatchWriteItem", RequestItems={"A": [], "B": []}) == [
        ("dynamodb:BatchWriteItem", f"{ARN}/A"),
        ("dynamodb:BatchWriteItem", f"{ARN}/B"),
    ]


def test_sqs_calls_ask_for_the_queue_of_their_url_and_batches_for_their_single_action():
    url = f"http://127.0.0.1:5000/{ACCOUNT}/twittnow-local-InboundQueue.fifo"
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:twittnow-local-InboundQueue.fifo"
    assert requested("sqs", "SendMessageBatch", QueueUrl=url, Entries=[]) == [
        ("sqs:SendMessage", queue)
    ]
    assert requested("sqs", "ChangeMessageVisibility", QueueUrl=url) == [
        ("sqs:ChangeMessageVisibility", queue)
    ]
    assert requested("sqs", "GetQueueUrl", QueueName="q") == [
        ("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")
    ]


def test_secrets_are_asked_for_by_id_and_a_new_one_by_its_name():
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:stack/x/1-AbCdEf"
    assert requested("secretsmanager", "GetSecretValue", SecretId=secret) == [
        ("secretsmanager:GetSecretValue", secret)
    ]
    new = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:stack/x/2-??????"
    assert requested("secretsmanager", "CreateSecret", Name="stack/x/2") == [
        ("secretsmanager:CreateSecret", new)
    ]
    # Tags at creation need TagResource as well.
    assert requested("secretsmanager", "CreateSecret", Name="stack/x/2", Tags=[{}]) == [
        ("secretsmanager:CreateSecret", new),
        ("secretsmanager:TagResource", new),
    ]
    assert requested("monitoring", "PutMetricData", Namespace="n") == [
        ("cloudwatch:PutMetricData", "*")
    ]


def policies(*statements: dict) -> iam.FunctionPolicies:
    return iam.FunctionPolicies(
        logical_id="Fn",
        role="stack-FnRole",
        policies=(iam.Policy("Statement", 0, {"Statement": list(statements)}),),
        account_id=ACCOUNT,
        region=REGION,
        template="test.yaml",
    )


def test_only_what_a_statement_allows_is_allowed_and_a_deny_wins():
    judge = policies(
        {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": f"{ARN}/Users"},
        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{ARN}/Users/index/*"},
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": f"{ARN}/*"},
        {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": f"{ARN}/Audit"},
    )
    allowed, grants = judge.decide("dynamodb:GetItem", f"{ARN}/Users")
    assert allowed and [(g.action, g.resource) for g in grants] == [
        ("dynamodb:GetItem", f"{ARN}/Users")
    ]
    assert judge.decide("dynamodb:Query", f"{ARN}/Users/index/by_entity")[0]
    assert not judge.decide("dynamodb:Query", f"{ARN}/Users")[0]  # the index only
    assert not judge.decide("dynamodb:GetItem", f"{ARN}/Tokens")[0]
    assert judge.decide("dynamodb:PutItem", f"{ARN}/Users")[0]
    assert judge.decide("dynamodb:PutItem", f"{ARN}/Audit") == (False, ())


@pytest.fixture
def dynamodb():
    """A client whose calls never leave: the hook refuses them first, or the test's
    stub answers them."""
    iam.install()
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # nothing listens there
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sent: list[str] = []

    def answer(request, **_):
        sent.append(json.loads(request.body)["TableName"])
        raise ConnectionAbortedError("stub: the call was sent")

    client.meta.events.register("before-send", answer)
    return client, sent


def test_a_running_function_is_refused_what_its_policies_do_not_allow(dynamodb):
    client, sent = dynamodb
    judge = policies({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"{ARN}/Users"})
    with iam.acting_as("stack-Fn", judge), pytest.raises(ClientError) as refused:
        client.get_item(TableName="Tokens", Key={"k": {"S": "v"}})
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/stack-FnRole/stack-Fn is not authorized "
        f"to perform: dynamodb:GetItem on resource: {ARN}/Tokens because no identity-based "
        "policy allows the dynamodb:GetItem action"
    )
    assert sent == []  # refused before it was sent
    with iam.acting_as("stack-Fn", judge), pytest.raises(ConnectionAbortedError):
        client.get_item(TableName="Users", Key={"k": {"S": "v"}})
    assert sent == ["Users"]


def test_calls_made_outside_a_function_are_not_checked(dynamodb):
    client, sent = dynamodb
    with pytest.raises(ConnectionAbortedError):
        client.get_item(TableName="Tokens", Key={"k": {"S": "v"}})
    with iam.acting_as("stack-Fn", None), pytest.raises(ConnectionAbortedError):
        client.get_item(TableName="Tokens", Key={"k": {"S": "v"}})
    assert sent == ["Tokens", "Tokens"]


def test_used_calls_are_recorded_once_with_the_grants_that_allowed_them(
    dynamodb, tmp_path, monkeypatch
):
    client, _ = dynamodb
    record = tmp_path / "used.jsonl"
    monkeypatch.setenv(iam.USED_CALLS_VARIABLE, str(record))
    judge = policies({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"{ARN}/*"})
    judge.logical_id = f"Fn-{tmp_path.name}"  # the recorder keeps what it wrote per process
    with iam.acting_as("stack-Fn", judge):
        for table in ("Users", "Users", "Tokens"):
            with pytest.raises(ConnectionAbortedError):
                client.get_item(TableName=table, Key={"k": {"S": "v"}})
        with pytest.raises(ClientError):
            client.delete_item(TableName="Users", Key={"k": {"S": "v"}})
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(line["action"], line["resource"], line["allowed"]) for line in lines] == [
        ("dynamodb:GetItem", f"{ARN}/Users", True),
        ("dynamodb:GetItem", f"{ARN}/Tokens", True),
        ("dynamodb:DeleteItem", f"{ARN}/Users", False),
    ]
    assert lines[0]["grants"] == [["Statement", 0, "dynamodb:GetItem", 0]]


def test_the_template_is_expanded_as_sam_deploy_would_with_local_arns():
    deployment = Deployment(aws_endpoint_url="http://127.0.0.1:1", stack_name="iam-unit")
    expanded = iam.expand_policies(load_template(deployment), deployment)
    login = expanded["LoginFunction"]
    sources = [policy.source for policy in login.policies]
    assert "Policies[0] DynamoDBCrudPolicy(UsersTable)" in sources
    # What SAM adds on its own: logs, and X-Ray for Tracing: Active.
    assert "AWSLambdaBasicExecutionRole (added by SAM)" in sources
    assert "AWSXrayWriteOnlyAccess (added by SAM)" in sources
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/iam-unit-UsersTable"
    assert login.decide("dynamodb:UpdateItem", table)[0]
    assert login.decide("dynamodb:Query", f"{table}/index/by_entity")[0]
    assert not login.decide("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*")[0]
    # An SQS event brings the poller's rights (AWSLambdaSQSQueueExecutionRole).
    processor = expanded["ProcessInboundFunction"]
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:iam-unit-InboundQueue.fifo"
    assert processor.decide("sqs:ReceiveMessage", queue)[0]
    assert not expanded["LoginFunction"].decide("sqs:ReceiveMessage", queue)[0]


@pytest.mark.parametrize(("value", "on"), [(None, True), ("", True), ("1", True), ("0", False)])
def test_enforcement_is_on_unless_the_variable_turns_it_off(value, on):
    environ = {} if value is None else {iam.ENFORCEMENT_VARIABLE: value}
    assert iam.enforcement_on(environ) is on


def test_a_mistyped_enforcement_setting_is_refused():
    with pytest.raises(ValueError, match="TWITTNOW_IAM_ENFORCEMENT must be 1"):
        iam.enforcement_on({iam.ENFORCEMENT_VARIABLE: "off"})


@pytest.fixture(scope="module")
def deployed() -> dict[str, iam.FunctionPolicies]:
    """template.yaml's policies, as sam deploy makes them, on a stack named twittnow."""
    deployment = Deployment(aws_endpoint_url="http://127.0.0.1:1", stack_name="twittnow")
    return iam.expand_policies(load_template(deployment), deployment)


def resource(kind: str, name: str) -> str:
    if kind == "table":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/twittnow-{name}"
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:twittnow/{name}-AbCdEf"


@pytest.mark.parametrize(
    ("function", "action", "kind", "name"),
    [
        # What `python -m ops permissions` showed no code path uses (README, "Least
        # privilege, enforced locally"): a login only adds its token, a new custom field
        # and a new authorization only write, the sender only writes what it sent, ...
        ("LoginFunction", "dynamodb:GetItem", "table", "TokensTable"),
        ("LoginFunction", "dynamodb:DeleteItem", "table", "TokensTable"),
        ("CreateCustomFieldFunction", "dynamodb:DeleteItem", "table", "CustomFieldsTable"),
        ("GetAuthUrlFunction", "dynamodb:GetItem", "table", "OAuthRequestsTable"),
        ("SendRepliesFunction", "dynamodb:GetItem", "table", "EchoesTable"),
        # ... no secret is tagged, and a revoked account's tokens are deleted unread.
        ("CreateServiceNowDetailsFunction", "secretsmanager:TagResource", "secret", "servicenow/1"),
        ("ConfirmTwitterConnectionFunction", "secretsmanager:TagResource", "secret", "x/1"),
        ("RevokeTwitterFunction", "secretsmanager:GetSecretValue", "secret", "x/1"),
    ],
)
def test_grants_no_code_path_needs_stay_out_of_the_template(deployed, function, action, kind, name):
    assert not deployed[function].decide(action, resource(kind, name))[0]


@pytest.mark.parametrize(
    ("function", "action", "kind", "name"),
    [
        ("LoginFunction", "dynamodb:PutItem", "table", "TokensTable"),
        ("CreateCustomFieldFunction", "dynamodb:PutItem", "table", "CustomFieldsTable"),
        ("GetAuthUrlFunction", "dynamodb:PutItem", "table", "OAuthRequestsTable"),
        ("SendRepliesFunction", "dynamodb:PutItem", "table", "EchoesTable"),
        (
            "CreateServiceNowDetailsFunction",
            "secretsmanager:CreateSecret",
            "secret",
            "servicenow/1",
        ),
        ("ConfirmTwitterConnectionFunction", "secretsmanager:DeleteSecret", "secret", "x/1"),
        ("RevokeTwitterFunction", "secretsmanager:DeleteSecret", "secret", "x/1"),
    ],
)
def test_what_they_do_need_is_still_granted(deployed, function, action, kind, name):
    assert deployed[function].decide(action, resource(kind, name))[0]


@pytest.mark.parametrize("value", ["1", "0"])
def test_the_banner_says_whether_policies_are_enforced(value):
    from local.stack import LocalStack, Settings

    settings = Settings.from_environment({iam.ENFORCEMENT_VARIABLE: value})
    assert settings.iam_enforcement is (value == "1")
    banner = LocalStack(settings).banner()
    expected = "each function under its own policies" if value == "1" else "NOT enforced"
    assert expected in banner
    assert "TWITTNOW_IAM_ENFORCEMENT=0" in banner


SAM_CLI_PYTHON = REPO_ROOT / ".venv-tools" / "bin" / "python"


@pytest.mark.skipif(
    not SAM_CLI_PYTHON.exists(), reason="SAM CLI's environment comes with make lint"
)
def test_the_roles_are_those_sam_clis_own_translator_makes():
    """The test environment's aws-sam-translator is older than SAM CLI's (pydantic pins):
    both must give every function the same role."""
    program = (
        "import json; from local import iam; from local.template import DEFAULT_TEMPLATE; "
        "print(json.dumps(iam.sam_translate(DEFAULT_TEMPLATE, 'us-east-1', {})[0]))"
    )
    answer = subprocess.run(
        [SAM_CLI_PYTHON, "-c", program], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )

    def roles(translated: dict) -> dict:
        resources = translated["Resources"]
        return {key: value for key, value in resources.items() if value["Type"] == "AWS::IAM::Role"}

    theirs = roles(json.loads(answer.stdout))
    assert theirs
    assert roles(iam.sam_translate(DEFAULT_TEMPLATE, "us-east-1", {})[0]) == theirs
