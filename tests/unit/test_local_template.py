"""template.yaml -> the local stack's resources: short tags, intrinsic functions, Globals."""

import ast
import json
import re
import textwrap

import pytest

from local.gateway import Router
from local.template import (
    DEFAULT_TEMPLATE,
    Deployment,
    TemplateError,
    load_template,
    read_template,
)

FIXTURE_TEMPLATE = DEFAULT_TEMPLATE.parent / "tests" / "fixtures" / "queue_stack" / "template.yaml"
ENDPOINT = "http://127.0.0.1:4566"
DEPLOYMENT = Deployment(aws_endpoint_url=ENDPOINT, stack_name="unit", region="eu-west-1")


def write_template(tmp_path, text: str):
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------- short tags


def test_short_tags_read_as_their_long_forms(tmp_path):
    raw = read_template(
        write_template(
            tmp_path,
            """
            a: !Ref Thing
            b: !GetAtt Queue.Arn
            c: !GetAtt [Queue, QueueName]
            d: !Sub "${AWS::Region}-x"
            e: !Join [",", [x, !Ref Y]]
            f: !If [Cond, on-value, off-value]
            g: !Select [1, [p, q]]
            h: !Equals [!Ref P, v]
            i: !Condition Cond
            j: !FindInMap [M, k1, k2]
            k: !Base64 text
            """,
        )
    )

    assert raw == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::GetAtt": ["Queue", "QueueName"]},
        "d": {"Fn::Sub": "${AWS::Region}-x"},
        "e": {"Fn::Join": [",", ["x", {"Ref": "Y"}]]},
        "f": {"Fn::If": ["Cond", "on-value", "off-value"]},
        "g": {"Fn::Select": [1, ["p", "q"]]},
        "h": {"Fn::Equals": [{"Ref": "P"}, "v"]},
        "i": {"Condition": "Cond"},
        "j": {"Fn::FindInMap": ["M", "k1", "k2"]},
        "k": {"Fn::Base64": "text"},
    }


# ---------------------------------------------------------------- the fixture stack


@pytest.fixture(scope="module")
def fixture_stack():
    return load_template(DEPLOYMENT, FIXTURE_TEMPLATE)


def test_queues_get_local_names_urls_and_arns(fixture_stack):
    work = fixture_stack.queue("WorkQueue")
    ordered = fixture_stack.queue("OrderedQueue")

    assert work.name == "unit-WorkQueue"
    assert work.url == f"{ENDPOINT}/123456789012/unit-WorkQueue"
    assert work.arn == "arn:aws:sqs:eu-west-1:123456789012:unit-WorkQueue"
    assert ordered.name == "unit-OrderedQueue.fifo"
    assert fixture_stack.queue("OrderedDeadLetterQueue").name == "unit-OrderedDeadLetterQueue.fifo"


def test_queue_attributes_follow_the_template(fixture_stack):
    work = fixture_stack.queue("WorkQueue")
    ordered = fixture_stack.queue("OrderedQueue")

    assert (work.fifo, work.visibility_timeout, work.max_receive_count) == (False, 1, 2)
    assert work.dead_letter_queue == "WorkDeadLetterQueue"
    assert json.loads(work.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:unit-WorkDeadLetterQueue",
        "maxReceiveCount": 2,
    }
    assert ordered.fifo and ordered.content_based_deduplication
    assert ordered.attributes["FifoQueue"] == "true"
    assert ordered.attributes["ContentBasedDeduplication"] == "true"
    dead_letters = fixture_stack.queue("WorkDeadLetterQueue")
    assert dead_letters.message_retention_period == 1209600
    assert dead_letters.visibility_timeout == 30  # SQS's default
    assert dead_letters.dead_letter_queue is None


def test_tables_keep_keys_indexes_and_ttl(fixture_stack):
    (table,) = fixture_stack.tables

    assert table.name == "unit-NotesTable"
    assert table.arn == "arn:aws:dynamodb:eu-west-1:123456789012:table/unit-NotesTable"
    assert table.key_schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert [index["IndexName"] for index in table.global_secondary_indexes] == ["by_author"]
    assert table.ttl_attribute == "expires_at"


def test_secrets_keep_their_value_or_how_to_generate_it(fixture_stack):
    secrets = {secret.logical_id: secret for secret in fixture_stack.secrets}

    assert secrets["PlainSecret"].secret_string == "plain value"
    assert secrets["BotSecret"].generate["GenerateStringKey"] == "password"
    # Until the secret exists, its ARN is the partial one (no random suffix yet).
    assert (
        secrets["BotSecret"].arn
        == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:unit-BotSecret"
    )


def test_function_environment_resolves_every_intrinsic(fixture_stack):
    environment = fixture_stack.function("WorkFunction").environment

    assert environment == {
        "GREETING": "hello",
        "MOOD": "cheerful",
        "WORK_QUEUE_URL": f"{ENDPOINT}/123456789012/unit-WorkQueue",
        "ORDERED_QUEUE_NAME": "unit-OrderedQueue.fifo",
        "NOTES_TABLE": "unit-NotesTable",
        "NOTES_TABLE_ARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/unit-NotesTable",
        "BOT_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:unit-BotSecret",
        "WHERE": "eu-west-1/unit/unit-NotesTable",
        "FIRST_ZONE": "eu-west-1a",
        "QUEUE_NAMES": "unit-WorkQueue,unit-PlainQueue",
    }


def test_function_settings_merge_with_globals(fixture_stack):
    plain = fixture_stack.function("PlainFunction")
    ordered = fixture_stack.function("OrderedFunction")
    echo = fixture_stack.function("EchoFunction")

    assert plain.environment["GREETING"] == "overridden"
    assert plain.environment["PLAIN_ONLY"] == "yes"
    assert plain.environment["NOTES_TABLE"] == "unit-NotesTable"
    assert (ordered.timeout, ordered.memory_size) == (7, 128)
    assert (echo.timeout, echo.memory_size) == (5, 256)
    assert echo.code_uri == FIXTURE_TEMPLATE.parent / "functions"
    assert (echo.handler_module, echo.handler_function) == ("echo", "lambda_handler")
    assert echo.arn == "arn:aws:lambda:eu-west-1:123456789012:function:unit-EchoFunction"


def test_sqs_events_become_queue_triggers(fixture_stack):
    (work,) = fixture_stack.function("WorkFunction").queue_triggers
    (ordered,) = fixture_stack.function("OrderedFunction").queue_triggers
    (plain,) = fixture_stack.function("PlainFunction").queue_triggers

    assert (work.queue, work.batch_size, work.report_batch_item_failures) == ("WorkQueue", 5, True)
    assert (ordered.queue, ordered.batch_size) == ("OrderedQueue", 10)  # SAM's default size
    assert (plain.queue, plain.report_batch_item_failures) == ("PlainQueue", False)


def test_api_events_become_routes_with_upper_case_methods(fixture_stack):
    routes = {(r.method, r.path) for r in fixture_stack.function("EchoFunction").api_routes}

    assert routes == {
        ("GET", "/things/{thing_id}"),
        ("PUT", "/things/{thing_id}/owner"),
        ("GET", "/things/mine"),
        ("ANY", "/files/{path+}"),
    }


def test_known_secret_arns_replace_the_partial_ones():
    full_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:unit-BotSecret-AbCdEf"
    deployment = Deployment(
        aws_endpoint_url=ENDPOINT,
        stack_name="unit",
        region="eu-west-1",
        secret_arns={"BotSecret": full_arn},
    )

    template = load_template(deployment, FIXTURE_TEMPLATE)

    assert template.function("WorkFunction").environment["BOT_SECRET_ARN"] == full_arn
    assert {secret.logical_id: secret.arn for secret in template.secrets}["BotSecret"] == full_arn


def test_parameters_can_be_overridden():
    template = load_template(DEPLOYMENT, FIXTURE_TEMPLATE, parameters={"Greeting": "goodbye"})

    assert template.parameters["Greeting"] == "goodbye"
    assert template.function("WorkFunction").environment["MOOD"] == "wistful"


@pytest.mark.parametrize(
    ("parameters", "complaint"),
    [({"Greeting": "hi"}, "not one of"), ({"Nope": "x"}, "Unknown template parameters")],
)
def test_bad_parameters_are_refused(parameters, complaint):
    with pytest.raises(TemplateError, match=complaint):
        load_template(DEPLOYMENT, FIXTURE_TEMPLATE, parameters=parameters)


def test_what_cannot_run_locally_is_refused(tmp_path):
    path = write_template(
        tmp_path,
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Environment:
                Variables:
                  SHARED: !ImportValue other-stack-output
        """,
    )

    with pytest.raises(TemplateError, match="ImportValue"):
        load_template(DEPLOYMENT, path)


def test_settings_the_local_stack_does_not_use_may_name_what_has_no_local_value(tmp_path):
    path = write_template(
        tmp_path,
        """
        Resources:
          Table:
            Type: AWS::DynamoDB::Table
            Properties:
              AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
              KeySchema: [{AttributeName: pk, KeyType: HASH}]
              SSESpecification:
                SSEEnabled: true
                KMSMasterKeyId: !ImportValue shared-key-arn
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              KmsMasterKeyId: !ImportValue shared-key-arn
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Policies:
                - SNSPublishMessagePolicy: {TopicName: !ImportValue alarm-topic}
              Events:
                Alarmed:
                  Type: SNS
                  Properties: {Topic: !ImportValue alarm-topic}
        """,
    )

    template = load_template(DEPLOYMENT, path)

    assert template.queue("Queue").attributes == {}
    assert template.function("Fn").api_routes == ()


def test_schedule_events_run_at_their_rate_and_other_schedules_are_refused(tmp_path):
    function = """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Events:
                Often: {Type: Schedule, Properties: {Schedule: rate(5 minutes)}}
                Daily: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
        """
    template = load_template(DEPLOYMENT, write_template(tmp_path, function))

    assert template.function("Fn").schedules == (300, 86400)

    cron = function.replace("rate(1 day)", '"cron(0 2 * * ? *)"')
    with pytest.raises(TemplateError, match="only rate"):
        load_template(DEPLOYMENT, write_template(tmp_path, cron))


def test_conditions_drop_resources(tmp_path):
    path = write_template(
        tmp_path,
        """
        Parameters:
          Stage: {Type: String, Default: dev}
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
          IsNotProd: !Not [!Condition IsProd]
        Resources:
          ProdOnlyQueue:
            Type: AWS::SQS::Queue
            Condition: IsProd
          DevQueue:
            Type: AWS::SQS::Queue
            Condition: IsNotProd
            Properties:
              DelaySeconds: !If [IsProd, 0, 2]
        """,
    )

    template = load_template(DEPLOYMENT, path)

    assert [queue.logical_id for queue in template.queues] == ["DevQueue"]
    assert template.queue("DevQueue").attributes == {"DelaySeconds": "2"}


# ---------------------------------------------------------------- the real template


@pytest.fixture(scope="module")
def real_template():
    return load_template(Deployment(aws_endpoint_url=ENDPOINT))


def test_the_real_template_resolves_to_plain_values(real_template):
    assert real_template.parameters["StageName"] == "dev"
    assert real_template.api_stage == "dev"
    assert real_template.tables, "the template defines tables"
    for function in real_template.functions:
        for name, value in function.environment.items():
            assert isinstance(value, str), f"{function.logical_id}.{name}"
        assert function.name == f"twittnow-local-{function.logical_id}"


def test_every_function_has_its_handler(real_template):
    # Read, not imported: importing is the local stack's start-up, tested end to end.
    for function in real_template.functions:
        module_file = function.code_uri / (function.handler_module.replace(".", "/") + ".py")
        assert module_file.is_file(), f"{function.logical_id}: no {module_file}"
        assert function.handler_function in _top_level_names(module_file), function.handler


def _top_level_names(module_file) -> set[str]:
    names = set()
    for node in ast.parse(module_file.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def test_every_api_event_maps_to_its_function(real_template):
    router = Router(real_template.functions)
    for function in real_template.functions:
        for route in function.api_routes:
            path = re.sub(r"\{[^}]+\}", "some-id", route.path)
            method = "GET" if route.method == "ANY" else route.method
            for sent in (path, path + "/"):
                matched = router.match(method, sent)
                assert matched is not None, f"{route.method} {sent}"
                assert matched[0].function.logical_id == function.logical_id
