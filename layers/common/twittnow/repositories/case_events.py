"""Case events table: the ServiceNow case events /events/ accepted, by their event id, so
that the same event sent again (ServiceNow retries) is delivered once. Items expire."""

from datetime import datetime

from botocore.exceptions import ClientError

from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class CaseEventsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def claim(
        self,
        tenant_id: str,
        event_id: str,
        message_key: str,
        conversation_id: str,
        now: datetime,
        expires_at: datetime,
    ) -> tuple[str, str]:
        """Records the event unless it was accepted before (and has not expired): answers
        the (conversation id, message key) of the event's reply, the earlier one if any."""
        key = f"{tenant_id}#{event_id}"
        try:
            client().put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        "id": key,
                        "conversation_id": conversation_id,
                        "message_key": message_key,
                        "expires_at": int(expires_at.timestamp()),
                    }
                ),
                # DynamoDB deletes expired items late: an expired one counts as gone.
                ConditionExpression="attribute_not_exists(id) OR expires_at < :now",
                ExpressionAttributeValues=to_item({":now": int(now.timestamp())}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            item = (
                client()
                .get_item(TableName=self.table_name, Key=to_item({"id": key}), ConsistentRead=True)
                .get("Item")
            )
            if item is not None:
                earlier = from_item(item)
                return earlier["conversation_id"], earlier["message_key"]
        return conversation_id, message_key
