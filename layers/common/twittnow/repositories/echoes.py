"""Echoes table: what the service itself sent on X, so that the inbound processor can
drop the copies X delivers back to the account. Items expire after a day."""

from datetime import datetime, timedelta

from twittnow import clock
from twittnow.repositories.dynamo import client, to_item

KEEP_FOR = timedelta(days=1)  # X delivers echoes within seconds; a day is plenty


class EchoesRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def sending(self, account_id: str, recipient_id: str) -> None:
        """Written before a DM is sent: its echo may arrive before sent() is recorded."""
        self._put(_sending_key(account_id, recipient_id))

    def sent(self, account_id: str, x_message_id: str) -> None:
        self._put(_sent_key(account_id, x_message_id))

    def is_ours(self, account_id: str, x_message_id: str) -> bool:
        return self._exists(_sent_key(account_id, x_message_id))

    def sending_since(self, account_id: str, recipient_id: str) -> datetime | None:
        """When the service last started sending a DM to `recipient_id`, if recently."""
        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=to_item({"id": _sending_key(account_id, recipient_id)}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return datetime.fromisoformat(item["at"]["S"]) if item else None

    def _put(self, key: str) -> None:
        now = clock.now()
        client().put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "id": key,
                    "at": now.isoformat(),
                    "expires_at": int((now + KEEP_FOR).timestamp()),
                }
            ),
        )

    def _exists(self, key: str) -> bool:
        return "Item" in client().get_item(
            TableName=self.table_name, Key=to_item({"id": key}), ConsistentRead=True
        )


def _sent_key(account_id: str, x_message_id: str) -> str:
    return f"sent#{account_id}#{x_message_id}"


def _sending_key(account_id: str, recipient_id: str) -> str:
    return f"sending#{account_id}#{recipient_id}"
