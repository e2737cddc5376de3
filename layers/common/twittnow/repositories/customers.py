"""Customers table: per tenant, the people on X who wrote to it, with their CSM
consumer and custom-field answers, so later messages need no lookup."""

from twittnow.models import Customer
from twittnow.repositories.dynamo import client, from_item, to_item


class CustomersRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def get(self, tenant_id: str, x_user_id: str) -> Customer | None:
        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=to_item({"tenant_id": tenant_id, "x_user_id": x_user_id}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return Customer.model_validate(from_item(item)) if item else None

    def with_consumer(self, tenant_id: str, consumer_sys_id: str) -> Customer | None:
        """The tenant's customer whose CSM consumer this is: of several (records made
        before consumers were matched by X user id could share one), the first to write."""
        sharing = self.all_with_consumer(tenant_id, consumer_sys_id)
        return min(sharing, key=lambda customer: customer.created_at) if sharing else None

    def all_with_consumer(self, tenant_id: str, consumer_sys_id: str) -> list[Customer]:
        items = client().query(
            TableName=self.table_name,
            IndexName="by_consumer",
            KeyConditionExpression="consumer_sys_id = :consumer",
            FilterExpression="tenant_id = :tenant",
            ExpressionAttributeValues=to_item({":consumer": consumer_sys_id, ":tenant": tenant_id}),
        )["Items"]
        return [Customer.model_validate(from_item(item)) for item in items]

    def put(self, customer: Customer) -> None:
        client().put_item(TableName=self.table_name, Item=to_item(customer.model_dump(mode="json")))

    def delete_tenant(self, tenant_id: str) -> None:
        pages = (
            client()
            .get_paginator("query")
            .paginate(
                TableName=self.table_name,
                KeyConditionExpression="tenant_id = :tenant",
                ExpressionAttributeValues=to_item({":tenant": tenant_id}),
                ProjectionExpression="tenant_id, x_user_id",
            )
        )
        for page in pages:
            for key in page["Items"]:
                client().delete_item(TableName=self.table_name, Key=key)
