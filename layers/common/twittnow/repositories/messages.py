"""Messages table: every message of a conversation, either way, keyed so that a
conversation's messages sort as they were sent."""

from typing import Any

from botocore.exceptions import ClientError

from twittnow import lifecycle
from twittnow.models import ConversationMessage, MessageStatus
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class MessagesRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add(self, message: ConversationMessage) -> tuple[ConversationMessage, bool]:
        """Stores `message` unless one with its key exists: answers the stored message and
        whether it is new (False for a message seen before, as X's retries are). Its
        status must be one a message starts with (IllegalTransition)."""
        lifecycle.MESSAGE.start(message.status)
        try:
            client().put_item(
                TableName=self.table_name,
                Item=to_item(message.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": "key"},
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            stored = self.get(message.conversation_id, message.key)
            return (stored or message), False
        return message, True

    def get(self, conversation_id: str, key: str) -> ConversationMessage | None:
        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=_key(conversation_id, key),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return _to_message(item) if item else None

    def update(self, message: ConversationMessage, **changes: Any) -> ConversationMessage:
        """Writes the message with `changes` (fields of ConversationMessage) applied. A new
        status is written only over a stored one it may follow (IllegalTransition)."""
        changed = message.model_copy(update=changes)
        values = changed.model_dump(mode="json", include=set(changes) | {"updated_at"})
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _key(message.conversation_id, message.key),
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in values),
            "ExpressionAttributeNames": {f"#{name}": name for name in values},
            "ExpressionAttributeValues": to_item(
                {f":{name}": value for name, value in values.items()}
            ),
        }
        if "status" in changes:
            _condition_on_status(arguments, changed.status)
        try:
            client().update_item(**arguments)
        except ClientError as error:
            refused = is_condition_failure(error)
            stored = self.get(message.conversation_id, message.key) if refused else None
            if stored is None:
                raise
            raise lifecycle.IllegalTransition("message", stored.status, changed.status) from None
        return changed

    def of_conversation(self, conversation_id: str) -> list[ConversationMessage]:
        """The conversation's messages, oldest first."""
        pages = (
            client()
            .get_paginator("query")
            .paginate(
                TableName=self.table_name,
                KeyConditionExpression="conversation_id = :conversation",
                ExpressionAttributeValues=to_item({":conversation": conversation_id}),
                ConsistentRead=True,
            )
        )
        return [_to_message(item) for page in pages for item in page["Items"]]

    def delete_conversation(self, conversation_id: str) -> None:
        for message in self.of_conversation(conversation_id):
            client().delete_item(TableName=self.table_name, Key=_key(conversation_id, message.key))


def _key(conversation_id: str, key: str) -> dict:
    return to_item({"conversation_id": conversation_id, "key": key})


def _condition_on_status(arguments: dict, new: MessageStatus) -> None:
    """Checked against the stored status, not the caller's copy of it. A message deleted
    meanwhile (with its tenant) is written as before."""
    before = sorted(lifecycle.MESSAGE.before(new))
    names = [f":before_{index}" for index in range(len(before))]
    arguments["ExpressionAttributeNames"]["#key"] = "key"
    arguments["ExpressionAttributeValues"].update(
        to_item({name: status.value for name, status in zip(names, before, strict=True)})
    )
    condition = "attribute_not_exists(#key)"
    if names:
        condition += f" OR #status IN ({', '.join(names)})"
    arguments["ConditionExpression"] = condition


def _to_message(item: dict) -> ConversationMessage:
    return ConversationMessage.model_validate(from_item(item))
