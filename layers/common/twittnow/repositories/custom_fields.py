"""Custom fields table: a tenant's fields (sk FIELD#<created_at>#<id>, so a Query returns
them in question order) and, beside each, a claim item (sk NAME#<name in
twittnow.names.matching_key form>) that keeps field names unique per tenant whatever their
case or width: both are written in one transaction."""

from twittnow.clock import sortable
from twittnow.models import CustomField
from twittnow.names import matching_key
from twittnow.repositories.claims import ClaimedItems, ClaimTaken, ItemChanged, ItemGone
from twittnow.repositories.dynamo import client, from_item, to_item


class FieldNameTaken(Exception):
    pass


class FieldGone(Exception):
    """The field was deleted while we were changing it."""


class FieldChanged(Exception):
    """The field was changed by another request since we read it."""


def _field_key(field: CustomField) -> dict:
    return to_item(
        {"user_id": field.user_id, "sk": f"FIELD#{sortable(field.created_at)}#{field.id}"}
    )


def _claim_key(user_id: str, field_name: str) -> dict:
    return to_item({"user_id": user_id, "sk": f"NAME#{matching_key(field_name)}"})


class CustomFieldsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._claimed = ClaimedItems(table_name, key_attribute="sk")

    def add(self, field: CustomField) -> None:
        try:
            self._claimed.create(_field_item(field), _claim(field))
        except ClaimTaken:
            raise FieldNameTaken(field.field_name) from None

    def get(self, field_id: str) -> CustomField | None:
        items = client().query(
            TableName=self.table_name,
            IndexName="by_id",
            KeyConditionExpression="id = :id",
            ExpressionAttributeValues=to_item({":id": field_id}),
        )["Items"]
        return _to_field(items[0]) if items else None

    def of_tenant(self, user_id: str) -> list[CustomField]:
        """The tenant's fields in the order they were created: the order of questions."""
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="user_id = :user_id AND begins_with(sk, :fields)",
            ExpressionAttributeValues=to_item({":user_id": user_id, ":fields": "FIELD#"}),
        )
        return [_to_field(item) for page in pages for item in page["Items"]]

    def replace(self, field: CustomField, previous: CustomField) -> None:
        """Writes a changed field over `previous`, the field as read; moves the name claim
        when the name changed. Raises FieldChanged if the stored field is no longer
        `previous`: writing would undo the other change."""
        moved = matching_key(field.field_name) != matching_key(previous.field_name)
        try:
            self._claimed.replace(
                _field_item(field),
                _unchanged_since(previous),
                (_claim(field), _claim_key(field.user_id, previous.field_name)) if moved else None,
            )
        except ClaimTaken:
            raise FieldNameTaken(field.field_name) from None
        except ItemChanged:
            raise FieldChanged(field.id) from None
        except ItemGone:
            raise FieldGone(field.id) from None

    def rekey_claim(self, field: CustomField) -> str:
        """Moves a claim stored under the lowercased name (as before names were compared
        in matching_key form) to its key now: "current", "moved", "taken" (another of the
        tenant's fields has a look-alike name; the tenant renames one), or "unclaimed"."""
        key, legacy_key = _claim_key(field.user_id, field.field_name), _legacy_claim_key(field)
        holder = client().get_item(TableName=self.table_name, Key=key).get("Item")
        if holder or key == legacy_key:
            return "current" if not holder or from_item(holder)["field_id"] == field.id else "taken"
        try:
            self._claimed.move_claim(_claim(field), legacy_key, ("field_id", field.id))
        except ClaimTaken:
            return "taken"
        except ItemGone:
            return "unclaimed"
        return "moved"

    def delete(self, field: CustomField) -> None:
        """Deletes `field`, as read, and its claim; FieldChanged if it changed since."""
        try:
            self._claimed.delete(
                _field_key(field),
                _claim_key(field.user_id, field.field_name),
                _unchanged_since(field),
            )
        except ItemChanged:
            raise FieldChanged(field.id) from None
        except ItemGone:
            raise FieldGone(field.id) from None

    def delete_tenant(self, user_id: str) -> None:
        """Every field and claim of a tenant (the tenant is being deleted)."""
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="user_id = :user_id",
            ExpressionAttributeValues=to_item({":user_id": user_id}),
            ProjectionExpression="user_id, sk",
        )
        for page in pages:
            for item in page["Items"]:
                client().delete_item(TableName=self.table_name, Key=item)


def _legacy_claim_key(field: CustomField) -> dict:
    return to_item({"user_id": field.user_id, "sk": f"NAME#{field.field_name.lower()}"})


def _unchanged_since(field: CustomField) -> tuple[str, str]:
    return "updated_at", field.model_dump(mode="json")["updated_at"]


def _claim(field: CustomField) -> dict:
    return {**_claim_key(field.user_id, field.field_name), **to_item({"field_id": field.id})}


def _field_item(field: CustomField) -> dict:
    return {**_field_key(field), **to_item(field.model_dump(mode="json"))}


def _to_field(item: dict) -> CustomField:
    values = from_item(item)
    values.pop("sk")
    return CustomField.model_validate(values)
