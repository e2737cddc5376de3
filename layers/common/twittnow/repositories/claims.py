"""Unique values in DynamoDB: beside each item, a claim item keyed by the value that must
be unique (a username, a field name), written in the same transaction as the item. Of two
concurrent writes claiming one value, exactly one succeeds.

Changes and deletes name the item as it was read (`expected`: an attribute that every
write changes, such as updated_at, and the value read): a write based on a stale read
fails instead of undoing a change made meanwhile (a new password, or a rename whose
claim the stale write would leave behind)."""

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from twittnow.repositories.dynamo import client, is_condition_failure, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class ClaimTaken(Exception):
    """Another item holds the claimed value."""


class ItemGone(Exception):
    """The item was deleted while it was being changed."""


class ItemChanged(Exception):
    """The item was changed by someone else since it was read."""


Expected = tuple[str, str]  # (attribute, the value read)


class ClaimedItems:
    """Writes items of one table with their claims. `key_attribute` is an attribute of
    every key in the table (its partition or sort key), used for existence conditions."""

    def __init__(self, table_name: str, key_attribute: str):
        self.table_name = table_name
        self.key_attribute = key_attribute

    def create(self, item: dict, claim: dict) -> None:
        self._write([self._claim(claim), self._put_new(item)], claim_at=0)

    def replace(
        self, item: dict, expected: Expected, moved_claim: tuple[dict, dict] | None = None
    ) -> None:
        """Writes a changed item. When the claimed value changed, `moved_claim` is the new
        claim item and the previous claim's key: the claim moves in the same transaction."""
        put: TransactWriteItemTypeDef = {
            "Put": {"TableName": self.table_name, "Item": item, **self._unchanged(expected)}
        }
        if moved_claim is None:
            self._write([put])
            return
        claim, previous_claim_key = moved_claim
        delete_previous: TransactWriteItemTypeDef = {
            "Delete": {"TableName": self.table_name, "Key": previous_claim_key}
        }
        self._write([self._claim(claim), delete_previous, put], claim_at=0)

    def delete(self, item_key: dict, claim_key: dict, expected: Expected) -> None:
        self._write(
            [
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": item_key,
                        **self._unchanged(expected),
                    }
                },
                {"Delete": {"TableName": self.table_name, "Key": claim_key}},
            ]
        )

    def move_claim(self, claim: dict, previous_claim_key: dict, owner: Expected) -> None:
        """Re-keys a claim: `claim` replaces the claim at `previous_claim_key`, which must
        still be `owner`'s (attribute, value). ClaimTaken if another item holds the new
        key; ItemGone if the previous claim is gone or another's."""
        attribute, value = owner
        delete_previous: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self.table_name,
                "Key": previous_claim_key,
                "ConditionExpression": "#owner = :owner",
                "ExpressionAttributeNames": {"#owner": attribute},
                "ExpressionAttributeValues": to_item({":owner": value}),
            }
        }
        self._write([self._claim(claim), delete_previous], claim_at=0)

    def _write(
        self, actions: "list[TransactWriteItemTypeDef]", claim_at: int | None = None
    ) -> None:
        try:
            client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            reasons = error.response.get("CancellationReasons", [])
            failed = [
                index
                for index, reason in enumerate(reasons)
                if reason.get("Code") == "ConditionalCheckFailed"
            ]
            if claim_at in failed:
                raise ClaimTaken() from error
            if any(reasons[index].get("Item") for index in failed):
                raise ItemChanged() from error
            raise ItemGone() from error

    def _claim(self, claim: dict) -> "TransactWriteItemTypeDef":
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": claim,
                "ConditionExpression": f"attribute_not_exists({self.key_attribute})",
            }
        }

    def _put_new(self, item: dict) -> "TransactWriteItemTypeDef":
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": item,
                "ConditionExpression": f"attribute_not_exists({self.key_attribute})",
            }
        }

    @staticmethod
    def _unchanged(expected: Expected) -> dict:
        attribute, value = expected
        return {
            "ConditionExpression": "#expected = :expected",
            "ExpressionAttributeNames": {"#expected": attribute},
            "ExpressionAttributeValues": to_item({":expected": value}),
            # The item as it is now, if it exists: tells "changed" from "gone".
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
