"""How the table fakes keep records: as the record's JSON, the way a table holds its
attributes, read back into a new record each time. A caller changing what it read (a
list in a frozen record) changes nothing stored, as with DynamoDB."""

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

type Item = dict[str, Any]


def item(record: BaseModel) -> Item:
    return record.model_dump(mode="json")


def whole_seconds(moment: datetime) -> datetime:
    """What an epoch-seconds attribute (a TTL, an expiry) reads back as."""
    return datetime.fromtimestamp(int(moment.timestamp()), tz=UTC)


def condition_failed(operation: str) -> ClientError:
    """What boto3 raises when DynamoDB refuses a conditional write the repository does not
    translate (an update of a record that is gone)."""
    return ClientError(
        {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The request failed"}},
        operation,
    )
