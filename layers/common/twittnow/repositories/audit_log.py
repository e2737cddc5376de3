"""Audit log table: every entry in one partition, sorted by time then id."""

from datetime import datetime

from twittnow.clock import sortable
from twittnow.models import AuditEntry
from twittnow.repositories.dynamo import client, from_item, to_item

_PARTITION = "audit"


class AuditLogRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add(self, entry: AuditEntry) -> None:
        values = entry.model_dump(mode="json")
        client().put_item(
            TableName=self.table_name,
            Item=to_item(
                {"log": _PARTITION, "at_id": f"{sortable(entry.at)}#{entry.id}", **values}
            ),
        )

    def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """Entries from `start` to `end` (inclusive), newest first."""
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="log = :log AND at_id BETWEEN :start AND :end",
            ExpressionAttributeValues=to_item(
                {":log": _PARTITION, ":start": sortable(start), ":end": sortable(end) + "~"}
            ),
            ScanIndexForward=False,
        )
        return [_to_entry(item) for page in pages for item in page["Items"]]


def _to_entry(item: dict) -> AuditEntry:
    values = from_item(item)
    values.pop("log"), values.pop("at_id")
    return AuditEntry.model_validate(values)
