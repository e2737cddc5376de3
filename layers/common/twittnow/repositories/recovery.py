"""Recovery table: what the service knows of X's deliveries, for recovering missed ones
(twittnow.recovery). One item of state; the replay windows requested; and the X Chat
message ids the reconciliation queued. Items but the state expire (expires_at)."""

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from twittnow import clock
from twittnow.models import RecoveryState, ReplayRequest
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item

STATE_KEY = {"pk": "webhook", "sk": "state"}
REPLAYS = "replay"
# The run's attributes of the state item; delivered_at is the webhook's alone.
RUN_FIELDS = ("checked_at", "covered_until", "gap_from", "gap_reason", "version")


class RecoveryRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def delivery_accepted(self, at: datetime) -> None:
        """Moves delivered_at forward to `at` (never back: instances write out of order)."""
        try:
            client().update_item(
                TableName=self.table_name,
                Key=to_item(STATE_KEY),
                UpdateExpression="SET delivered_at = :at",
                ConditionExpression="attribute_not_exists(delivered_at) OR delivered_at < :at",
                ExpressionAttributeValues=to_item({":at": clock.sortable(at)}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def state(self) -> RecoveryState:
        item = (
            client()
            .get_item(TableName=self.table_name, Key=to_item(STATE_KEY), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            return RecoveryState()
        values = from_item(item)
        values["version"] = int(values.get("version", 0))
        return RecoveryState.model_validate(values)

    def save_state(self, state: RecoveryState, previous: RecoveryState) -> bool:
        """Writes the run's fields of `state` if the stored version is still `previous`'s;
        False if another run wrote meanwhile."""
        values: dict[str, Any] = {
            name: _stored(getattr(state, name)) for name in RUN_FIELDS if name != "version"
        }
        to_set = {name: value for name, value in values.items() if value is not None}
        to_remove = [name for name, value in values.items() if value is None]
        expression = "SET " + ", ".join(f"{name} = :{name}" for name in [*to_set, "version"])
        if to_remove:
            expression += " REMOVE " + ", ".join(to_remove)
        condition = (
            "attribute_not_exists(version)" if previous.version == 0 else "version = :previous"
        )
        attribute_values = {f":{name}": value for name, value in to_set.items()}
        attribute_values[":version"] = state.version
        if previous.version:
            attribute_values[":previous"] = previous.version
        try:
            client().update_item(
                TableName=self.table_name,
                Key=to_item(STATE_KEY),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=to_item(attribute_values),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def add_replay(self, request: ReplayRequest, expires_at: datetime) -> None:
        values = request.model_dump(mode="json")
        values["requested_at"] = clock.sortable(request.requested_at)
        client().put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": REPLAYS,
                    "sk": f"{values['requested_at']}#{request.webhook_id}",
                    **values,
                    "expires_at": int(expires_at.timestamp()),
                }
            ),
        )

    def replays_since(self, since: datetime) -> list[ReplayRequest]:
        """The replays requested since `since`, oldest first."""
        pages = (
            client()
            .get_paginator("query")
            .paginate(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND sk >= :since",
                ExpressionAttributeValues=to_item(
                    {":pk": REPLAYS, ":since": clock.sortable(since)}
                ),
            )
        )
        return [
            ReplayRequest.model_validate(from_item(item))
            for page in pages
            for item in page["Items"]
        ]

    def claim_reconciled(self, account_id: str, message_id: str, expires_at: datetime) -> bool:
        """Records that the reconciliation queued the account's X Chat message; False if
        it had already."""
        try:
            client().put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        "pk": f"reconciled#{account_id}",
                        "sk": message_id,
                        "expires_at": int(expires_at.timestamp()),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True


def _stored(value: object) -> object:
    """Times as sortable text, so that the webhook's conditional write compares them."""
    return clock.sortable(value) if isinstance(value, datetime) else value
