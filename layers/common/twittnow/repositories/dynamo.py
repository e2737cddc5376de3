"""The low-level DynamoDB client and item (de)serialization the repositories share."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from twittnow.instance import kept

if TYPE_CHECKING:  # boto3-stubs: a dev dependency, not in the layer
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@kept
def client() -> "DynamoDBClient":
    return boto3.client("dynamodb")


def to_item(values: dict[str, Any]) -> "dict[str, AttributeValueTypeDef]":
    """Python values -> DynamoDB attribute values; None values are left out."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: "Mapping[str, AttributeValueTypeDef]") -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def is_condition_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")
