"""Users table. A user item (pk USER#<id>) and, beside it, a claim item
(pk USERNAME#<username in twittnow.names.matching_key form>) that makes usernames unique
whatever their case or width."""

from typing import TYPE_CHECKING

from twittnow.models import User
from twittnow.names import matching_key
from twittnow.repositories.claims import ClaimedItems, ClaimTaken, ItemChanged, ItemGone
from twittnow.repositories.dynamo import client, from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import ConditionCheckTypeDef

# The nil UUID: no user has it (ids are random UUIDs, version 4).
_NO_USER_ID = "00000000-0000-0000-0000-000000000000"


class UsernameTaken(Exception):
    pass


class UserGone(Exception):
    """The user was deleted while we were changing it."""


class UserChanged(Exception):
    """The user was changed by another request since we read it."""


def _user_key(user_id: str) -> dict:
    return to_item({"pk": f"USER#{user_id}"})


def _claim_key(username: str) -> dict:
    return to_item({"pk": f"USERNAME#{matching_key(username)}"})


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
        """The claim, then the user it names. An unknown username reads a user no one is,
        so that known and unknown usernames cost the same two reads (login timing)."""
        claim = client().get_item(TableName=self.table_name, Key=_claim_key(username)).get("Item")
        return self.get(from_item(claim)["user_id"] if claim else _NO_USER_ID)

    def password_check(self, user: User) -> "ConditionCheckTypeDef":
        """A ConditionCheck that `user` still exists with the password hash read."""
        return {
            "TableName": self.table_name,
            "Key": _user_key(user.id),
            "ConditionExpression": "password_hash = :password_hash",
            "ExpressionAttributeValues": to_item({":password_hash": user.password_hash}),
        }

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

    def replace(self, user: User, previous: User) -> None:
        """Writes a changed user over `previous`, the user as read; moves the username claim
        when the username changed. Raises UserChanged if the stored user is no longer
        `previous`: writing would undo the other change."""
        moved = matching_key(user.username) != matching_key(previous.username)
        try:
            self._claimed.replace(
                _user_item(user),
                _unchanged_since(previous),
                (_claim(user), _claim_key(previous.username)) if moved else None,
            )
        except ClaimTaken:
            raise UsernameTaken(user.username) from None
        except ItemChanged:
            raise UserChanged(user.id) from None
        except ItemGone:
            raise UserGone(user.id) from None

    def rekey_claim(self, user: User) -> str:
        """Moves a claim stored under the lowercased username (as before usernames were
        compared in matching_key form) to its key now. Answers "current" (nothing to do),
        "moved", "taken" (another user's username has that key now: look-alikes made
        before the change, and an admin has to rename one of them), or "unclaimed" (no
        claim of the user under either key; nothing written)."""
        key, legacy_key = _claim_key(user.username), _legacy_claim_key(user.username)
        holder = client().get_item(TableName=self.table_name, Key=key).get("Item")
        if holder or key == legacy_key:
            return "current" if not holder or from_item(holder)["user_id"] == user.id else "taken"
        try:
            self._claimed.move_claim(_claim(user), legacy_key, ("user_id", user.id))
        except ClaimTaken:
            return "taken"
        except ItemGone:
            return "unclaimed"
        return "moved"

    def delete(self, user: User) -> None:
        """Deletes `user`, as read, and its claim; UserChanged if it changed since."""
        try:
            self._claimed.delete(
                _user_key(user.id), _claim_key(user.username), _unchanged_since(user)
            )
        except ItemChanged:
            raise UserChanged(user.id) from None
        except ItemGone:
            raise UserGone(user.id) from None


def _legacy_claim_key(username: str) -> dict:
    return to_item({"pk": f"USERNAME#{username.lower()}"})


def _unchanged_since(user: User) -> tuple[str, str]:
    # Every change sets updated_at (a password upgrade at login keeps it, changing no detail).
    return "updated_at", user.model_dump(mode="json")["updated_at"]


def _claim(user: User) -> dict:
    return {**_claim_key(user.username), **to_item({"user_id": user.id})}


def _user_item(user: User) -> dict:
    return {**_user_key(user.id), **to_item({"entity": "user", **user.model_dump(mode="json")})}


def _to_user(item: dict) -> User:
    values = from_item(item)
    values.pop("pk"), values.pop("entity")
    return User.model_validate(values)
