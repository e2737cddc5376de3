"""The template's tables in moto, for tests of the layer's repositories in this process."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws

from local.template import Deployment, Table, load_template
from twittnow import instance
from twittnow.settings import Settings


@contextmanager
def template_tables(monkeypatch, stack_name: str, *logical_ids: str) -> Iterator[dict[str, Table]]:
    """Creates the template's tables `logical_ids` in moto (and Secrets Manager with it),
    points the settings at them, and answers them by logical id."""
    for name, setting in Settings.model_fields.items():
        if setting.is_required():
            monkeypatch.setenv(name.upper(), "unused")
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    template = load_template(Deployment(aws_endpoint_url="", stack_name=stack_name))
    tables = {
        table.logical_id: table for table in template.tables if table.logical_id in logical_ids
    }
    with mock_aws():
        for table in tables.values():
            indexes = {"GlobalSecondaryIndexes": table.global_secondary_indexes}
            boto3.client("dynamodb").create_table(
                TableName=table.name,
                KeySchema=table.key_schema,
                AttributeDefinitions=table.attribute_definitions,
                BillingMode="PAY_PER_REQUEST",
                **(indexes if table.global_secondary_indexes else {}),
            )
            monkeypatch.setenv(_setting_of(table.logical_id), table.name)
        # What the instance kept (settings, clients, repositories) is forgotten before and
        # after, so that a test's tables and moto's clients stay with the test.
        instance.forget()
        try:
            yield tables
        finally:
            instance.forget()


def _setting_of(logical_id: str) -> str:
    """The variable that names a table: CustomFieldsTable -> CUSTOM_FIELDS_TABLE."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", logical_id).upper()
