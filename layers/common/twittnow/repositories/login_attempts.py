"""Login attempts table: failed logins per username in a fixed window, to throttle
password guessing. Items expire (TTL) when their window ends."""

from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class LoginAttemptsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def failures(self, username: str, now: datetime) -> tuple[int, datetime | None]:
        """Failures in the current window, and when that window ends."""
        item = client().get_item(TableName=self.table_name, Key=self._key(username)).get("Item")
        if not item:
            return 0, None
        values = from_item(item)
        window_ends = datetime.fromtimestamp(int(values["window_ends"]), tz=now.tzinfo)
        return (int(values["failures"]), window_ends) if window_ends > now else (0, None)

    def record_failure(self, username: str, now: datetime, window: timedelta) -> None:
        try:
            client().update_item(
                TableName=self.table_name,
                Key=self._key(username),
                UpdateExpression="ADD failures :one",
                ConditionExpression="window_ends > :now",
                ExpressionAttributeValues=to_item({":one": 1, ":now": int(now.timestamp())}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            window_ends = int((now + window).timestamp())
            client().put_item(
                TableName=self.table_name,
                Item={
                    **self._key(username),
                    **to_item({"failures": 1, "window_ends": window_ends, "expires_at": window_ends}),
                },
            )

    def clear(self, username: str) -> None:
        client().delete_item(TableName=self.table_name, Key=self._key(username))

    @staticmethod
    def _key(username: str) -> dict:
        return to_item({"pk": f"login#{username.lower()}"})
