"""Messages table: every message of a conversation, either way, keyed so that a
conversation's messages sort as they were sent.

A message going into or out of showing failed (ConversationMessage.shows_failed) moves its
conversation's failed_messages count, in the same transaction as the message's write and
only if the stored message was on the other side: a retried or repeated write counts once.
"""

from typing import Any

from botocore.exceptions import ClientError

from twittnow import lifecycle
from twittnow.models import ConversationMessage, MessageStatus
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item

# The fields that decide whether a message shows failed.
FAILURE_FIELDS = frozenset({"status", "failure", "handled"})

# Whether the stored message shows failed, as ConversationMessage.shows_failed says it. A
# missing attribute compares false: a message deleted meanwhile shows nothing.
_SHOWS_FAILED = (
    "(#status = :failed_status OR (attribute_exists(#failure) AND #failure <> :no_failure"
    " AND NOT (#handled = :handled)))"
)
_SHOWS_FAILED_NAMES = {"#status": "status", "#failure": "failure", "#handled": "handled"}
_SHOWS_FAILED_VALUES = {
    ":failed_status": MessageStatus.FAILED.value,
    ":no_failure": "",
    ":handled": True,
}


class MessagesRepository:
    def __init__(self, table_name: str, conversations_table_name: str):
        self.table_name = table_name
        # Where each conversation's failed_messages count is kept.
        self.conversations_table_name = conversations_table_name

    def add(self, message: ConversationMessage) -> tuple[ConversationMessage, bool]:
        """Stores `message` unless one with its key exists: answers the stored message and
        whether it is new (False for a message seen before, as X's retries are). Its
        status must be one a message starts with (IllegalTransition)."""
        lifecycle.MESSAGE.start(message.status)
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": to_item(message.model_dump(mode="json")),
            "ConditionExpression": "attribute_not_exists(#key)",
            "ExpressionAttributeNames": {"#key": "key"},
        }
        if message.shows_failed:
            try:
                self._write_counted({"Put": put}, message.conversation_id, 1)
                return message, True
            except ClientError as error:
                if not _refused(error):
                    raise
                # Stored before (told below), or its conversation is gone: nothing to count.
        try:
            client().put_item(**put)
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
        """Writes the message with `changes` (fields of ConversationMessage) applied; a
        field changed to None is removed (it reads as None). A new status is written only
        over a stored one it may follow (IllegalTransition)."""
        changed = message.model_copy(update=changes)
        values = changed.model_dump(mode="json", include=set(changes) | {"updated_at"})
        to_set = {name: value for name, value in values.items() if value is not None}
        to_remove = [name for name, value in values.items() if value is None]
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in to_set)
        if to_remove:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in to_remove)
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _key(message.conversation_id, message.key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {f"#{name}": name for name in values},
            "ExpressionAttributeValues": to_item(
                {f":{name}": value for name, value in to_set.items()}
            ),
        }
        if "status" in changes:
            _condition_on_status(arguments, changed.status)
        if not FAILURE_FIELDS.isdisjoint(changes):
            # The caller's copy tells which side the stored message is likely on; the other
            # is tried when the stored one is not (a stale copy, a concurrent write).
            for stored_failed in (message.shows_failed, not message.shows_failed):
                try:
                    self._update_counted(arguments, changed, stored_failed)
                    return changed
                except ClientError as error:
                    if not _refused(error):
                        raise
            # Neither: a status the stored one may not take (told below), or a count that
            # has no conversation, or none to take away (failed before counts were kept).
        try:
            client().update_item(**arguments)
        except ClientError as error:
            refused = is_condition_failure(error)
            stored = self.get(message.conversation_id, message.key) if refused else None
            if stored is None:
                raise
            raise lifecycle.IllegalTransition("message", stored.status, changed.status) from None
        return changed

    def _update_counted(
        self, arguments: dict[str, Any], changed: ConversationMessage, stored_failed: bool
    ) -> None:
        """The update, on condition that the stored message shows failed as `stored_failed`
        says; its conversation's count moves with it when `changed` is on the other side."""
        counted = {
            **arguments,
            "ExpressionAttributeNames": {
                **arguments["ExpressionAttributeNames"],
                **_SHOWS_FAILED_NAMES,
            },
            "ExpressionAttributeValues": {
                **arguments["ExpressionAttributeValues"],
                **to_item(_SHOWS_FAILED_VALUES),
            },
        }
        shows = _SHOWS_FAILED if stored_failed else f"NOT {_SHOWS_FAILED}"
        condition = arguments.get("ConditionExpression")
        counted["ConditionExpression"] = f"({condition}) AND {shows}" if condition else shows
        delta = int(changed.shows_failed) - int(stored_failed)
        if delta == 0:
            client().update_item(**counted)
        else:
            self._write_counted({"Update": counted}, changed.conversation_id, delta)

    def _write_counted(self, write: Any, conversation_id: str, delta: int) -> None:
        """`write` (a transaction's item) and the conversation's count moved by `delta`,
        never below 0, atomically."""
        condition = "attribute_exists(id)"
        values: dict[str, Any] = {":delta": delta}
        if delta < 0:
            condition += " AND failed_messages >= :delta_back"
            values[":delta_back"] = -delta
        count: dict[str, Any] = {
            "TableName": self.conversations_table_name,
            "Key": to_item({"id": conversation_id}),
            "UpdateExpression": "ADD failed_messages :delta",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        items: list[Any] = [write, {"Update": count}]
        client().transact_write_items(TransactItems=items)

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


def _refused(error: ClientError) -> bool:
    """A condition not met; not a transaction that met another on the same item, which
    is raised for the step to be retried (trying the other side would not count it)."""
    reasons = error.response.get("CancellationReasons") or []
    conflict = any(reason.get("Code") == "TransactionConflict" for reason in reasons)
    return is_condition_failure(error) and not conflict


def _to_message(item: dict) -> ConversationMessage:
    return ConversationMessage.model_validate(from_item(item))
