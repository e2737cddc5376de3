"""The embedded AWS creates the template's tables, queues and secrets as CloudFormation would."""

import json
import os
import uuid

import boto3
import pytest

from local.aws import EmbeddedAws
from local.environment import EnvironmentChanges
from local.template import DEFAULT_TEMPLATE, Deployment, load_template

FIXTURE_TEMPLATE = DEFAULT_TEMPLATE.parent / "tests" / "fixtures" / "queue_stack" / "template.yaml"


@pytest.fixture(scope="module")
def aws():
    aws = EmbeddedAws()
    aws.start()
    yield aws
    aws.stop()


@pytest.fixture(scope="module")
def deployed(aws):
    deployment = Deployment(
        aws_endpoint_url=aws.endpoint_url, stack_name=f"a{uuid.uuid4().hex[:10]}", region=aws.region
    )
    template = load_template(deployment, FIXTURE_TEMPLATE)
    secret_arns = aws.create_resources(template)
    return template, secret_arns


def test_tables_have_their_indexes_and_ttl(aws, deployed):
    template, _ = deployed
    (table,) = template.tables
    dynamodb = aws.client("dynamodb")

    described = dynamodb.describe_table(TableName=table.name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]

    assert described["TableArn"] == table.arn
    assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == ["by_author"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_queues_exist_where_the_template_says_with_their_redrive(aws, deployed):
    template, _ = deployed
    sqs = aws.client("sqs")
    work = template.queue("WorkQueue")
    ordered = template.queue("OrderedQueue")

    assert sqs.get_queue_url(QueueName=work.name)["QueueUrl"] == work.url
    work_attributes = sqs.get_queue_attributes(QueueUrl=work.url, AttributeNames=["All"])
    ordered_attributes = sqs.get_queue_attributes(QueueUrl=ordered.url, AttributeNames=["All"])

    assert work_attributes["Attributes"]["QueueArn"] == work.arn
    assert work_attributes["Attributes"]["VisibilityTimeout"] == "1"
    assert json.loads(work_attributes["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": template.queue("WorkDeadLetterQueue").arn,
        "maxReceiveCount": 2,
    }
    assert ordered_attributes["Attributes"]["FifoQueue"] == "true"
    assert ordered_attributes["Attributes"]["ContentBasedDeduplication"] == "true"


def test_secrets_are_created_or_generated(aws, deployed):
    _, secret_arns = deployed
    secretsmanager = aws.client("secretsmanager")

    generated = json.loads(
        secretsmanager.get_secret_value(SecretId=secret_arns["BotSecret"])["SecretString"]
    )
    plain = secretsmanager.get_secret_value(SecretId=secret_arns["PlainSecret"])

    assert generated["username"] == "bot"
    assert len(generated["password"]) == 24 and generated["password"].isalnum()
    assert plain["SecretString"] == "plain value"


def test_the_partial_arn_of_a_secret_finds_it_too(aws, deployed):
    template, secret_arns = deployed
    partial = next(secret.arn for secret in template.secrets if secret.logical_id == "PlainSecret")

    assert secret_arns["PlainSecret"].startswith(partial + "-")
    value = aws.client("secretsmanager").get_secret_value(SecretId=partial)["SecretString"]
    assert value == "plain value"


def test_configure_clients_points_boto3_here_until_restored(aws, deployed, monkeypatch):
    template, _ = deployed
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a-real-looking-key")
    changes = EnvironmentChanges()

    aws.configure_clients(changes)
    try:
        tables = boto3.client("dynamodb").list_tables()["TableNames"]
        assert template.tables[0].name in tables
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    finally:
        changes.restore()

    assert "AWS_ENDPOINT_URL" not in os.environ
    assert os.environ["AWS_ACCESS_KEY_ID"] == "a-real-looking-key"
