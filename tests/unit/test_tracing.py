"""Tracing (twittnow.observability): calls to X and ServiceNow are subsegments named by
their route, in a trace annotated with the tenant, with no secret, id, URL or body in it;
AWS SDK calls are subsegments without their secrets; and with tracing off nothing is
recorded. The traces go to an in-memory emitter: nothing leaves the process."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import responses
from aws_lambda_powertools import Tracer

from local.runtime import Runtime
from local.template import Function
from twittnow import observability
from twittnow.clients.servicenow import ServiceNowClient, ServiceNowNotFound
from twittnow.clients.x import UserCredentials, XClient, XConnectionBroken
from twittnow.x_app import AppCredentials

X_API = "https://api.x.test"
APP = AppCredentials("consumer-key-k3y", "consumer-secret-S3CR3T")
USER = UserCredentials("1500-access-token-T0K3N", "access-token-secret-T0K3NS3CR3T")
CUSTOMER_ID = "4815162342"
DM_TEXT = "my order number is 77"
INSTANCE = "https://acme-tracing.service-now.com"
SERVICENOW_USER = "twittnow.integration"
PASSWORD = "servicenow-Pa55word"
BASIC_AUTH = base64.b64encode(f"{SERVICENOW_USER}:{PASSWORD}".encode()).decode()
CASE_SYS_ID = "46d44a5dc611227501d1f4bb2b39e6c7"
TENANT_ID = "tenant-3f2a"
SECRETS = (
    APP.consumer_secret,
    USER.access_token,
    USER.access_token_secret,
    PASSWORD,
    BASIC_AUTH,
)
REPO = Path(__file__).resolve().parents[2]


class MemoryEmitter:
    """Keeps what the X-Ray SDK would send its daemon, serialized as it would be."""

    def __init__(self):
        self.documents: list[str] = []

    def send_entity(self, entity):
        self.documents.append(entity.serialize())

    def set_daemon_address(self, address):
        pass


def entities(documents) -> list[dict]:
    """The segments and subsegments of X-Ray documents, each before those it holds."""
    found = []
    for entity in documents:
        found.append(entity)
        found.extend(entities(entity.get("subsegments", ())))
    return found


class Traces:
    """A recorder of this test's own, behind observability.tracer, and what it recorded."""

    def __init__(self, recorder, emitter: MemoryEmitter):
        self.recorder = recorder
        self.emitter = emitter

    def segment(self, name: str = "TestFunction"):
        return self.recorder.in_segment(name, sampling=1)

    def serialized(self) -> str:
        return "\n".join(self.emitter.documents)

    def segments(self) -> list[dict]:
        return [json.loads(document) for document in self.emitter.documents]

    def subsegments(self) -> list[dict]:
        """Every subsegment recorded, each before those it holds."""
        return [
            entity for entity in entities(self.segments()) if entity.get("type") == "subsegment"
        ]


@pytest.fixture
def traces(monkeypatch):
    """Tracing on, as in Lambda, into memory; botocore is left unpatched in this process
    (test_aws_sdk_calls_are_subsegments_without_their_secrets patches its own)."""
    from aws_xray_sdk.core import AWSXRayRecorder

    emitter = MemoryEmitter()
    recorder = AWSXRayRecorder()
    recorder.configure(emitter=emitter, context_missing="RUNTIME_ERROR")
    tracer = Tracer(
        service=observability.SERVICE, disabled=False, auto_patch=False, provider=recorder
    )
    monkeypatch.setattr(observability, "tracer", tracer)
    yield Traces(recorder, emitter)
    Tracer._reset_config()  # Powertools keeps a Tracer's provider for the next ones


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def assert_nothing_secret_in(serialized: str, *more: str) -> None:
    for value in (*SECRETS, *more):
        assert value not in serialized


# ---------------------------------------------------------------- X


def send_dm_as_tenant(event, context):
    """A handler that, like the processors, learns its tenant, then calls X."""
    observability.annotate_tenant(TENANT_ID)
    client = XClient(X_API, APP)
    client.send_dm(USER, CUSTOMER_ID, DM_TEXT)
    return {"token": "a-token-the-response-carries"}


def test_a_call_to_x_is_a_subsegment_named_by_its_route_in_the_tenants_trace(traces, http):
    http.post(
        f"{X_API}/2/dm_conversations/with/{CUSTOMER_ID}/messages",
        json={"data": {"dm_conversation_id": "c-1", "dm_event_id": "9"}},
    )
    handler = observability.traced_handler(send_dm_as_tenant)

    with traces.segment():
        handler({}, None)

    handler_subsegment, x_call = traces.subsegments()
    assert handler_subsegment["name"] == "## send_dm_as_tenant"
    assert handler_subsegment["annotations"]["tenant"] == TENANT_ID
    assert x_call["name"] == "X POST /2/dm_conversations/with/{participant_id}/messages"
    assert x_call["http"] == {"request": {"method": "POST"}, "response": {"status": 200}}
    assert x_call in handler_subsegment["subsegments"]
    # No id, URL, body or response either.
    assert_nothing_secret_in(
        traces.serialized(), CUSTOMER_ID, X_API, DM_TEXT, "a-token-the-response-carries"
    )


def test_a_refused_call_to_x_is_flagged_without_what_x_echoed_of_the_credentials(traces, http):
    # X's error echoes the access token; the client scrubs it from its error, which the
    # trace records.
    http.post(
        f"{X_API}/2/dm_conversations/with/{CUSTOMER_ID}/messages",
        status=401,
        json={"title": "Unauthorized", "detail": f"Invalid token {USER.access_token}"},
    )
    handler = observability.traced_handler(send_dm_as_tenant)

    with traces.segment(), pytest.raises(XConnectionBroken):
        handler({}, None)

    handler_subsegment, x_call = traces.subsegments()
    assert x_call["error"] is True  # a 4xx
    assert x_call["cause"]["exceptions"][0]["type"] == "XConnectionBroken"
    assert handler_subsegment["annotations"]["tenant"] == TENANT_ID
    assert_nothing_secret_in(traces.serialized(), CUSTOMER_ID, DM_TEXT)


def test_app_calls_to_x_are_named_by_route_and_their_bearer_token_is_not_recorded(traces, http):
    http.post(
        f"{X_API}/oauth2/token",
        json={"token_type": "bearer", "access_token": "AAAA-bearer-T0K3N"},
    )
    http.delete(f"{X_API}/2/webhooks/1146654567674912769", json={"data": {"deleted": True}})

    with traces.segment():
        XClient(X_API, APP).delete_webhook("1146654567674912769")

    assert [subsegment["name"] for subsegment in traces.subsegments()] == [
        "X POST /oauth2/token",
        "X DELETE /2/webhooks/{webhook_id}",
    ]
    assert_nothing_secret_in(traces.serialized(), "AAAA-bearer-T0K3N", "1146654567674912769")


# ---------------------------------------------------------------- ServiceNow


def test_a_call_to_servicenow_is_a_subsegment_named_by_its_route(traces, http):
    http.put(
        f"{INSTANCE}/api/sn_customerservice/case/{CASE_SYS_ID}",
        json={"result": {"sys_id": CASE_SYS_ID, "number": "CS0001005", "state": "10"}},
    )
    http.get(f"{INSTANCE}/api/sn_customerservice/case", json={"result": []})
    client = ServiceNowClient(INSTANCE, SERVICENOW_USER, PASSWORD)

    with traces.segment():
        observability.annotate_tenant(TENANT_ID)
        client.add_comment(CASE_SYS_ID, DM_TEXT)
        client.find_case_by_correlation_id("twittnow:conversation-1:4815162342")

    comment, query = traces.subsegments()
    assert comment["name"] == "ServiceNow PUT /api/sn_customerservice/case/{sys_id}"
    assert comment["http"] == {"request": {"method": "PUT"}, "response": {"status": 200}}
    assert query["name"] == "ServiceNow GET /api/sn_customerservice/case"
    (segment,) = traces.segments()
    assert segment["annotations"]["tenant"] == TENANT_ID
    # Not the instance, the ids, the query or the comment either.
    assert_nothing_secret_in(
        traces.serialized(),
        "acme-tracing",
        CASE_SYS_ID,
        "conversation-1",
        DM_TEXT,
    )


def test_a_servicenow_error_is_flagged_on_its_subsegment(traces, http):
    http.get(
        f"{INSTANCE}/api/sn_customerservice/case/{CASE_SYS_ID}",
        status=404,
        json={"error": {"message": "No Record found", "detail": f"as {PASSWORD}"}},
    )

    with traces.segment(), pytest.raises(ServiceNowNotFound):
        ServiceNowClient(INSTANCE, SERVICENOW_USER, PASSWORD).get_case(CASE_SYS_ID)

    (call,) = traces.subsegments()
    assert call["name"] == "ServiceNow GET /api/sn_customerservice/case/{sys_id}"
    assert call["error"] is True
    assert_nothing_secret_in(traces.serialized(), CASE_SYS_ID)


# ---------------------------------------------------------------- the AWS SDK

# Run in a fresh process, since patching botocore cannot be undone: tracing on outside
# Lambda (as the local stack has it when asked), Secrets Manager and DynamoDB in moto.
AWS_PROGRAM = """
import json, sys
import boto3
from moto import mock_aws
from aws_xray_sdk.core import xray_recorder
from twittnow import observability

class MemoryEmitter:
    documents = []
    def send_entity(self, entity):
        self.documents.append(entity.serialize())
    def set_daemon_address(self, address):
        pass

emitter = MemoryEmitter()
xray_recorder.configure(emitter=emitter, context_missing="RUNTIME_ERROR")
secret, item_value = sys.argv[1:]
with mock_aws():
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    with xray_recorder.in_segment("TestFunction", sampling=1):
        arn = secrets.create_secret(Name="stack/servicenow/1", SecretString=secret)["ARN"]
        secrets.get_secret_value(SecretId=arn)
        dynamodb.create_table(
            TableName="Users",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="Users", Item={"id": {"S": item_value}})
print(json.dumps(emitter.documents))
"""


def test_aws_sdk_calls_are_subsegments_without_their_secrets():
    secret = "servicenow-Pa55word-in-secrets-manager"
    done = subprocess.run(
        [sys.executable, "-c", AWS_PROGRAM, secret, "user-item-V4LU3"],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO / "layers" / "common"),
            "POWERTOOLS_TRACE_DISABLED": "false",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    documents = json.loads(done.stdout)
    serialized = "\n".join(documents)

    calls = [
        (entity["name"], entity["aws"]["operation"])
        for entity in entities(map(json.loads, documents))
        if entity.get("namespace") == "aws"
    ]
    assert calls == [
        ("secretsmanager", "CreateSecret"),
        ("secretsmanager", "GetSecretValue"),
        ("dynamodb", "CreateTable"),
        ("dynamodb", "PutItem"),
    ]
    assert '"table_name": "Users"' in serialized
    assert secret not in serialized
    assert "user-item-V4LU3" not in serialized


# ---------------------------------------------------------------- off


@pytest.mark.parametrize(
    ("environment", "enabled"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),  # Lambda, Tracing: Active
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),  # sam local
        ({}, False),  # the local stack and the tests
        ({"POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, True),  # the local stack, asked to
    ],
)
def test_tracing_is_on_in_lambda_and_where_asked_for(environment, enabled):
    assert observability.tracing_enabled(environment) is enabled


def test_with_tracing_disabled_nothing_is_recorded(traces, monkeypatch, http):
    # Even in Lambda.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setattr(observability, "tracer", observability.make_tracer())
    http.post(
        f"{X_API}/2/dm_conversations/with/{CUSTOMER_ID}/messages",
        json={"data": {"dm_conversation_id": "c-1", "dm_event_id": "9"}},
    )
    handler = observability.traced_handler(send_dm_as_tenant)

    with traces.segment():
        assert handler({}, None) == {"token": "a-token-the-response-carries"}

    assert observability.tracer is None
    assert handler is send_dm_as_tenant
    assert traces.subsegments() == []
    (segment,) = traces.segments()
    assert "annotations" not in segment


# ---------------------------------------------------------------- the local stack


def test_asked_to_trace_the_local_stack_opens_a_segment_per_invocation(traces, tmp_path):
    (tmp_path / "tracing_probe.py").write_text(
        "from twittnow import observability\n"
        "def lambda_handler(event, context):\n"
        "    observability.annotate_tenant(event['tenant'])\n"
        "    return {}\n"
    )
    function = Function(
        logical_id="ProbeFunction",
        name="twittnow-ProbeFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:twittnow-ProbeFunction",
        code_uri=tmp_path,
        handler="tracing_probe.lambda_handler",
        timeout=10,
        memory_size=256,
        environment={},
        api_routes=(),
        queue_triggers=(),
    )
    try:
        Runtime().invoke(function, {"tenant": TENANT_ID})
    finally:
        sys.path.remove(str(tmp_path.resolve()))
        sys.modules.pop("tracing_probe", None)

    (segment,) = traces.segments()
    assert segment["name"] == "twittnow-ProbeFunction"
    assert segment["annotations"] == {"tenant": TENANT_ID}
