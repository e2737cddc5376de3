"""Unique values in DynamoDB: beside each item, a claim item keyed by the value that must
be unique (a username, a field name), written in the same transaction as the item. Of two
concurrent writes claiming one value, exactly one succeeds."""

from botocore.exceptions import ClientError

from twittnow.repositories.dynamo import client, is_condition_failure


class ClaimTaken(Exception):
    """Another item holds the claimed value."""


class ItemGone(Exception):
    """The item was deleted while it was being changed."""


class ClaimedItems:
    """Writes items of one table with their claims. `key_attribute` is an attribute of
    every key in the table (its partition or sort key), used for existence conditions."""

    def __init__(self, table_name: str, key_attribute: str):
        self.table_name = table_name
        self.key_attribute = key_attribute

    def create(self, item: dict, claim: dict) -> None:
        self._write([self._claim(claim), self._put(item, exists=False)])

    def replace(self, item: dict, moved_claim: tuple[dict, dict] | None = None) -> None:
        """Writes a changed item. When the claimed value changed, `moved_claim` is the new
        claim item and the previous claim's key: the claim moves in the same transaction."""
        if moved_claim is None:
            self._write([self._put(item, exists=True)])
            return
        claim, previous_claim_key = moved_claim
        delete_previous = {"Delete": {"TableName": self.table_name, "Key": previous_claim_key}}
        self._write([self._claim(claim), delete_previous, self._put(item, exists=True)])

    def delete(self, item_key: dict, claim_key: dict) -> None:
        client().transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": self.table_name, "Key": item_key}},
                {"Delete": {"TableName": self.table_name, "Key": claim_key}},
            ]
        )

    def _write(self, actions: list[dict]) -> None:
        try:
            client().transact_write_items(TransactItems=actions)
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if len(actions) > 1 and reasons[:1] == ["ConditionalCheckFailed"]:
                raise ClaimTaken() from error
            raise ItemGone() from error

    def _claim(self, claim: dict) -> dict:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": claim,
                "ConditionExpression": f"attribute_not_exists({self.key_attribute})",
            }
        }

    def _put(self, item: dict, exists: bool) -> dict:
        condition = "attribute_exists" if exists else "attribute_not_exists"
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": item,
                "ConditionExpression": f"{condition}({self.key_attribute})",
            }
        }

