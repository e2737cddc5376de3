"""The low-level DynamoDB client and item (de)serialization the repositories share."""

from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from twittnow.instance import kept

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@kept
def client():
    return boto3.client("dynamodb")


def to_item(values: dict[str, Any]) -> dict[str, dict]:
    """Python values -> DynamoDB attribute values; None values are left out."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, dict]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def is_condition_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")
