"""Users table. A user item (pk USER#<id>) and, beside it, a claim item
(pk USERNAME#<lowercased username>) that makes usernames unique case-insensitively."""

from twittnow.models import User
from twittnow.repositories.claims import ClaimedItems, ClaimTaken, ItemGone
from twittnow.repositories.dynamo import client, from_item, to_item


class UsernameTaken(Exception):
    pass


class UserGone(Exception):
    """The user was deleted while we were changing it."""


def _user_key(user_id: str) -> dict:
    return to_item({"pk": f"USER#{user_id}"})


def _claim_key(username: str) -> dict:
    return to_item({"pk": f"USERNAME#{username.lower()}"})


class UsersRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._claimed = ClaimedItems(table_name, key_attribute="pk")

    def create(self, user: User) -> None:
        try:
            self._claimed.create(_user_item(user), _claim(user))
        except ClaimTaken:
            raise UsernameTaken(user.username) from None

    def get(self, user_id: str) -> User | None:
        item = client().get_item(TableName=self.table_name, Key=_user_key(user_id)).get("Item")
        return _to_user(item) if item else None

    def get_by_username(self, username: str) -> User | None:
        claim = client().get_item(TableName=self.table_name, Key=_claim_key(username)).get("Item")
        return self.get(from_item(claim)["user_id"]) if claim else None

    def list_all(self) -> list[User]:
        """Every user, oldest first. Admin-only and tenants number in the hundreds, so
        one paginated Query on the entity index serves listing and search."""
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName="by_entity",
            KeyConditionExpression="entity = :user",
            ExpressionAttributeValues=to_item({":user": "user"}),
        )
        return [_to_user(item) for page in pages for item in page["Items"]]

    def replace(self, user: User, previous_username: str) -> None:
        """Writes a changed user; moves the username claim when the username changed."""
        moved = user.username.lower() != previous_username.lower()
        try:
            self._claimed.replace(
                _user_item(user), (_claim(user), _claim_key(previous_username)) if moved else None
            )
        except ClaimTaken:
            raise UsernameTaken(user.username) from None
        except ItemGone:
            raise UserGone(user.id) from None

    def delete(self, user: User) -> None:
        self._claimed.delete(_user_key(user.id), _claim_key(user.username))


def _claim(user: User) -> dict:
    return {**_claim_key(user.username), **to_item({"user_id": user.id})}


def _user_item(user: User) -> dict:
    return {**_user_key(user.id), **to_item({"entity": "user", **user.model_dump(mode="json")})}


def _to_user(item: dict) -> User:
    values = from_item(item)
    values.pop("pk"), values.pop("entity")
    return User.model_validate(values)
