"""ChatKeys table: the X Chat keys that may live outside Secrets Manager.

- A conversation key: {pk: "conv#<account>#<conversation id>", sk: <key version>,
  encrypted_key, created_at}. `encrypted_key` is the account's participant key, the
  conversation key encrypted to the account's identity key by the Chat XDK: only the
  private key in the account's secret opens it. Never the key itself.
- A user's public keys, cached: {pk: "pub#<user id>", sk: "public_keys", records (JSON),
  expires_at} (DynamoDB's TTL deletes it late; reads ignore it once expired).
"""

import json
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from twittnow import clock
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item

if TYPE_CHECKING:  # the X client's package loads with the first X Chat key read
    from twittnow.clients.x.models import PublicKeyRecord

PUBLIC_KEYS_SK = "public_keys"


def version_order(version: str) -> tuple[int, int | str]:
    """Key versions are millisecond timestamps of varying length: compared as numbers
    (xchat/troubleshooting.mdx), before any that is not one."""
    return (1, int(version)) if version.isdigit() else (0, version)


class ChatKeysRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add_conversation_key(
        self, account_id: str, chat_conversation_id: str, key_version: str, encrypted_key: str
    ) -> None:
        """Keeps the account's encrypted copy of a conversation key version; a version kept
        already stays as it is (the same key, perhaps wrapped again)."""
        try:
            client().put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        "pk": _conversation_pk(account_id, chat_conversation_id),
                        "sk": key_version,
                        "encrypted_key": encrypted_key,
                        "created_at": clock.isoformat(clock.now()),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def conversation_key(
        self, account_id: str, chat_conversation_id: str, key_version: str
    ) -> str | None:
        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=to_item(
                    {"pk": _conversation_pk(account_id, chat_conversation_id), "sk": key_version}
                ),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return str(from_item(item)["encrypted_key"]) if item else None

    def latest_conversation_key(
        self, account_id: str, chat_conversation_id: str
    ) -> tuple[str, str] | None:
        """(key version, encrypted key) of the conversation's newest key version."""
        pages = (
            client()
            .get_paginator("query")
            .paginate(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=to_item(
                    {":pk": _conversation_pk(account_id, chat_conversation_id)}
                ),
                ConsistentRead=True,
            )
        )
        keys = [from_item(item) for page in pages for item in page.get("Items", [])]
        if not keys:
            return None
        latest = max(keys, key=lambda key: version_order(str(key["sk"])))
        return str(latest["sk"]), str(latest["encrypted_key"])

    def cache_public_keys(
        self, user_id: str, records: "list[PublicKeyRecord]", expires_at: datetime
    ) -> None:
        client().put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": _public_keys_pk(user_id),
                    "sk": PUBLIC_KEYS_SK,
                    "records": json.dumps([record._asdict() for record in records]),
                    "expires_at": int(expires_at.timestamp()),
                }
            ),
        )

    def cached_public_keys(self, user_id: str) -> "list[PublicKeyRecord] | None":
        """The user's public keys as cached, None when none are (or they expired)."""
        from twittnow.clients.x.models import PublicKeyRecord

        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=to_item({"pk": _public_keys_pk(user_id), "sk": PUBLIC_KEYS_SK}),
            )
            .get("Item")
        )
        if not item:
            return None
        values = from_item(item)
        if int(values["expires_at"]) <= clock.now().timestamp():
            return None
        return [PublicKeyRecord(**record) for record in json.loads(values["records"])]


def _conversation_pk(account_id: str, chat_conversation_id: str) -> str:
    return f"conv#{account_id}#{chat_conversation_id}"


def _public_keys_pk(user_id: str) -> str:
    return f"pub#{user_id}"
