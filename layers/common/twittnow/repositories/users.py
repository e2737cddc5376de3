"""Users table. A user item (pk USER#<id>) and, beside it, a claim item
(pk USERNAME#<lowercased username>) that makes usernames unique case-insensitively:
both are written in one transaction, so of two concurrent creates exactly one wins."""

from botocore.exceptions import ClientError

from twittnow.models import User
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class UsernameTaken(Exception):
    pass


class UserGone(Exception):
    """The user was deleted while we were changing it."""


def _user_key(user_id: str) -> dict:
    return to_item({"pk": f"USER#{user_id}"})


def _claim_key(username: str) -> dict:
    return to_item({"pk": f"USERNAME#{username.lower()}"})


def _claim_was_refused(error: ClientError) -> bool:
    """Whether the first action of a cancelled transaction (the claim) failed its condition."""
    reasons = error.response.get("CancellationReasons") or []
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"


class UsersRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def create(self, user: User) -> None:
        try:
            client().transact_write_items(
                TransactItems=[
                    self._put_claim(user),
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": self._user_item(user),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if is_condition_failure(error) and _claim_was_refused(error):
                raise UsernameTaken(user.username) from error
            raise

    def get(self, user_id: str) -> User | None:
        item = client().get_item(TableName=self.table_name, Key=_user_key(user_id)).get("Item")
        return _to_user(item) if item else None

    def get_by_username(self, username: str) -> User | None:
        claim = client().get_item(TableName=self.table_name, Key=_claim_key(username)).get("Item")
        return self.get(from_item(claim)["user_id"]) if claim else None

    def list_all(self) -> list[User]:
        """Every user, oldest first. Admin-only and tenants number in the hundreds, so
        one paginated Query on the entity index serves listing and search."""
        users: list[User] = []
        paginator = client().get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName="by_entity",
            KeyConditionExpression="entity = :user",
            ExpressionAttributeValues=to_item({":user": "user"}),
        ):
            users.extend(_to_user(item) for item in page["Items"])
        return users

    def replace(self, user: User, previous_username: str) -> None:
        """Writes a changed user; moves the username claim when the username changed."""
        actions = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._user_item(user),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        ]
        if user.username.lower() != previous_username.lower():
            actions = [
                self._put_claim(user),
                {"Delete": {"TableName": self.table_name, "Key": _claim_key(previous_username)}},
                *actions,
            ]
        try:
            client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            if len(actions) > 1 and _claim_was_refused(error):
                raise UsernameTaken(user.username) from error
            raise UserGone(user.id) from error

    def delete(self, user: User) -> None:
        client().transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": self.table_name, "Key": _user_key(user.id)}},
                {"Delete": {"TableName": self.table_name, "Key": _claim_key(user.username)}},
            ]
        )

    def _put_claim(self, user: User) -> dict:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {**_claim_key(user.username), **to_item({"user_id": user.id})},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    @staticmethod
    def _user_item(user: User) -> dict:
        values = user.model_dump(mode="json")
        return {**_user_key(user.id), **to_item({"entity": "user", **values})}


def _to_user(item: dict) -> User:
    values = from_item(item)
    values.pop("pk"), values.pop("entity")
    return User.model_validate(values)
