"""Conversations table: one item per customer thread (tenant account + customer +
channel), with its current case. The by_tenant index lists a tenant's, latest first."""

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic_core import to_jsonable_python

from twittnow import clock, lifecycle
from twittnow.models import Conversation, ConversationStatus
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class ConversationsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def get(self, conversation_id: str) -> Conversation | None:
        item = (
            client()
            .get_item(
                TableName=self.table_name, Key=to_item({"id": conversation_id}), ConsistentRead=True
            )
            .get("Item")
        )
        return _to_conversation(item) if item else None

    def get_or_create(self, conversation: Conversation) -> Conversation:
        """The stored conversation with this id, or `conversation`, stored now. Its status
        must be one a conversation starts with (IllegalTransition)."""
        lifecycle.CONVERSATION.start(conversation.status)
        try:
            client().put_item(
                TableName=self.table_name,
                Item=_item(conversation),
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return self.get(conversation.id) or conversation
        return conversation

    def update(self, conversation_id: str, **changes: Any) -> Conversation:
        """Sets (or, for None, removes) the given fields; answers the whole record. A new
        status is written only over a stored one it may follow (IllegalTransition)."""
        values = _sortable(to_jsonable_python(changes))
        to_set = {name: value for name, value in values.items() if value is not None}
        to_remove = [name for name, value in values.items() if value is None]
        expression = " ".join(
            part
            for part in (
                "SET " + ", ".join(f"#{name} = :{name}" for name in to_set) if to_set else "",
                "REMOVE " + ", ".join(f"#{name}" for name in to_remove) if to_remove else "",
            )
            if part
        )
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": to_item({"id": conversation_id}),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(id)",
            "ExpressionAttributeNames": {f"#{name}": name for name in values},
            "ReturnValues": "ALL_NEW",
        }
        if to_set:
            arguments["ExpressionAttributeValues"] = to_item(
                {f":{name}": value for name, value in to_set.items()}
            )
        if "status" in changes:
            _condition_on_status(arguments, ConversationStatus(changes["status"]))
        try:
            return _to_conversation(client().update_item(**arguments)["Attributes"])
        except ClientError as error:
            stored = self.get(conversation_id) if is_condition_failure(error) else None
            if stored is None or "status" not in changes:
                raise
            raise lifecycle.IllegalTransition(
                "conversation", stored.status, ConversationStatus(changes["status"])
            ) from None

    def of_tenant(self, tenant_id: str, since: datetime | None = None) -> list[Conversation]:
        """The tenant's conversations, the latest message first; with `since`, those whose
        latest message is that recent or more."""
        condition, values = "tenant_id = :tenant", {":tenant": tenant_id}
        if since is not None:
            condition += " AND last_message_at >= :since"
            values[":since"] = clock.sortable(since)
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName="by_tenant",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=to_item(values),
            ScanIndexForward=False,
        )
        return [_to_conversation(item) for page in pages for item in page["Items"]]

    def with_case(self, tenant_id: str, case: str) -> Conversation | None:
        """The tenant's conversation whose (current or last) case has this sys_id or
        number."""
        for index, attribute in (("by_case", "case_sys_id"), ("by_case_number", "case_number")):
            items = client().query(
                TableName=self.table_name,
                IndexName=index,
                KeyConditionExpression=f"{attribute} = :case",
                FilterExpression="tenant_id = :tenant",
                ExpressionAttributeValues=to_item({":case": case, ":tenant": tenant_id}),
            )["Items"]
            if items:
                return _to_conversation(items[0])
        return None

    def all(self) -> list[Conversation]:
        """Every tenant's conversations, the latest message first (admins)."""
        pages = client().get_paginator("scan").paginate(TableName=self.table_name)
        conversations = [_to_conversation(item) for page in pages for item in page["Items"]]
        conversations.sort(key=lambda conversation: conversation.last_message_at, reverse=True)
        return conversations

    def recount_failed(self, conversation_id: str, count: int, *, was: int) -> bool:
        """Sets the conversation's failed_messages to `count` if it still reads `was` (a
        conversation stored before the count was kept has none: it reads 0). Whether it
        did: a message going into or out of failed moves the count meanwhile."""
        current = "attribute_not_exists(failed_messages) OR " if was == 0 else ""
        try:
            client().update_item(
                TableName=self.table_name,
                Key=to_item({"id": conversation_id}),
                UpdateExpression="SET failed_messages = :count",
                ConditionExpression=f"attribute_exists(id) AND ({current}failed_messages = :was)",
                ExpressionAttributeValues=to_item({":count": count, ":was": was}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return False
        return True

    def delete_tenant(self, tenant_id: str) -> list[str]:
        """Forgets the tenant's conversations; answers their ids (their messages go too)."""
        ids = [conversation.id for conversation in self.of_tenant(tenant_id)]
        for conversation_id in ids:
            client().delete_item(TableName=self.table_name, Key=to_item({"id": conversation_id}))
        return ids


def _condition_on_status(arguments: dict, new: ConversationStatus) -> None:
    """Checked against the stored status, in the same write."""
    before = sorted(lifecycle.CONVERSATION.before(new))
    names = [f":before_{index}" for index in range(len(before))]
    arguments["ExpressionAttributeValues"].update(
        to_item({name: status.value for name, status in zip(names, before, strict=True)})
    )
    allowed = f"#status IN ({', '.join(names)})" if names else "attribute_not_exists(id)"
    arguments["ConditionExpression"] += f" AND {allowed}"


def _item(conversation: Conversation) -> dict:
    return to_item(_sortable(conversation.model_dump(mode="json")))


def _sortable(values: dict) -> dict:
    """last_message_at is by_tenant's sort key: written in a format that sorts as time."""
    if "last_message_at" in values:
        values["last_message_at"] = clock.sortable(
            datetime.fromisoformat(values["last_message_at"])
        )
    return values


def _to_conversation(item: dict) -> Conversation:
    return Conversation.model_validate(from_item(item))
