"""Credentials table: a tenant's connections, one item per (tenant, kind). Only metadata:
passwords and tokens live in Secrets Manager and the item keeps the secret's ARN."""

from botocore.exceptions import ClientError

from twittnow.models import ServiceNowDetails
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item

SERVICENOW = "servicenow"


class AlreadyConnected(Exception):
    """The tenant already has a record of this kind."""


class CredentialsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add_servicenow(self, details: ServiceNowDetails) -> None:
        try:
            client().put_item(
                TableName=self.table_name,
                Item=_servicenow_item(details),
                ConditionExpression="attribute_not_exists(user_id)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise AlreadyConnected(details.user_id) from error
            raise

    def servicenow_by_id(self, details_id: str) -> ServiceNowDetails | None:
        items = client().query(
            TableName=self.table_name,
            IndexName="by_id",
            KeyConditionExpression="id = :id",
            ExpressionAttributeValues=to_item({":id": details_id}),
        )["Items"]
        matching = [item for item in items if from_item(item)["kind"] == SERVICENOW]
        return _to_servicenow(matching[0]) if matching else None

    def servicenow_of(self, user_id: str) -> ServiceNowDetails | None:
        item = client().get_item(
            TableName=self.table_name, Key=to_item({"user_id": user_id, "kind": SERVICENOW})
        ).get("Item")
        return _to_servicenow(item) if item else None

    def all_servicenow(self) -> list[ServiceNowDetails]:
        """Every tenant's record, oldest first (admin listing)."""
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName="by_kind",
            KeyConditionExpression="kind = :kind",
            ExpressionAttributeValues=to_item({":kind": SERVICENOW}),
        )
        return [_to_servicenow(item) for page in pages for item in page["Items"]]

    def replace_servicenow(self, details: ServiceNowDetails) -> bool:
        """Writes a changed record; False if it was deleted meanwhile."""
        try:
            client().put_item(
                TableName=self.table_name,
                Item=_servicenow_item(details),
                ConditionExpression="id = :id",
                ExpressionAttributeValues=to_item({":id": details.id}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def delete_servicenow(self, details: ServiceNowDetails) -> None:
        client().delete_item(
            TableName=self.table_name, Key=to_item({"user_id": details.user_id, "kind": SERVICENOW})
        )


def _servicenow_item(details: ServiceNowDetails) -> dict:
    return to_item({"kind": SERVICENOW, **details.model_dump(mode="json")})


def _to_servicenow(item: dict) -> ServiceNowDetails:
    values = from_item(item)
    values.pop("kind")
    return ServiceNowDetails.model_validate(values)
