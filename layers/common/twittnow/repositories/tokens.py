"""Tokens table: one item per token, keyed by the token's digest (the token itself is
never stored). Login tokens carry an expiry, which is also their TTL attribute; DynamoDB
deletes expired items lazily, so reads check the expiry themselves."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from twittnow.models import Token, TokenKind, User
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import ConditionCheckTypeDef, WriteRequestUnionTypeDef

    from twittnow.repositories.users import UsersRepository

_BATCH_LIMIT = 25  # DynamoDB's BatchWriteItem maximum


class ConditionNotMet(Exception):
    """A token's condition failed: the token was not added."""


class TokensRepository:
    def __init__(self, table_name: str, users: "UsersRepository"):
        self.table_name = table_name
        self._users = users  # a login's token is stored only while its password stands

    def add(self, token: Token) -> None:
        client().put_item(TableName=self.table_name, Item=_to_item(token))

    def add_while_password_is(self, token: Token, user: User) -> None:
        """Adds the token only if `user` still has the password hash read, in one
        transaction; ConditionNotMet when the password changed meanwhile."""
        self._add_if(token, self._users.password_check(user))

    def _add_if(self, token: Token, condition_check: "ConditionCheckTypeDef") -> None:
        try:
            client().transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table_name, "Item": _to_item(token)}},
                    {"ConditionCheck": condition_check},
                ]
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            raise ConditionNotMet() from None

    def replace_api_key(self, api_key: Token) -> None:
        """Adds a tenant's new API key and revokes the one it replaces. A slot item per
        tenant names the current key; swapping it atomically hands each writer the key
        it displaced, so of concurrent regenerations exactly one key survives."""
        self.add(api_key)
        answer = client().update_item(
            TableName=self.table_name,
            Key=to_item({"digest": f"api_key_slot#{api_key.user_id}"}),
            # user_id and kind let delete_for_user find the slot with the tenant's tokens.
            UpdateExpression="SET current_digest = :digest, user_id = :user_id, kind = :kind",
            ExpressionAttributeValues=to_item(
                {":digest": api_key.digest, ":user_id": api_key.user_id, ":kind": "api_key_slot"}
            ),
            ReturnValues="UPDATED_OLD",
        )
        displaced = from_item(answer.get("Attributes", {})).get("current_digest")
        if displaced:
            self.delete(displaced)

    def get(self, digest: str) -> Token | None:
        item = (
            client()
            .get_item(TableName=self.table_name, Key=to_item({"digest": digest}))
            .get("Item")
        )
        return _to_token(item) if item else None

    def delete(self, digest: str) -> None:
        client().delete_item(TableName=self.table_name, Key=to_item({"digest": digest}))

    def delete_for_user(
        self, user_id: str, kind: TokenKind | None = None, keep_digest: str | None = None
    ) -> None:
        """Deletes a user's tokens (of one kind, if given), except `keep_digest`."""
        digests = [
            token["digest"]
            for token in self._keys_of_user(user_id)
            if (kind is None or token["kind"] == kind) and token["digest"] != keep_digest
        ]
        for start in range(0, len(digests), _BATCH_LIMIT):
            requests: Sequence[WriteRequestUnionTypeDef] = [
                {"DeleteRequest": {"Key": to_item({"digest": digest})}}
                for digest in digests[start : start + _BATCH_LIMIT]
            ]
            while requests:
                answer = client().batch_write_item(RequestItems={self.table_name: requests})
                requests = answer.get("UnprocessedItems", {}).get(self.table_name, [])

    def _keys_of_user(self, user_id: str) -> list[dict]:
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName="by_user",
            KeyConditionExpression="user_id = :user_id",
            ExpressionAttributeValues=to_item({":user_id": user_id}),
        )
        return [from_item(item) for page in pages for item in page["Items"]]


def _to_item(token: Token) -> dict:
    values = token.model_dump(mode="json", exclude={"expires_at"})
    if token.expires_at is not None:
        values["expires_at"] = int(token.expires_at.timestamp())
    return to_item(values)


def _to_token(item: dict) -> Token:
    values = from_item(item)
    if "expires_at" in values:
        values["expires_at"] = datetime.fromtimestamp(int(values["expires_at"]), tz=UTC)
    return Token.model_validate(values)
