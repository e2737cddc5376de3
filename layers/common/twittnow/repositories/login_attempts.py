"""Login attempts table: login attempts per username in a fixed window, to throttle
password guessing. Items expire (TTL) when their window ends.

An attempt is counted before its password is checked, by a conditional write that
refuses once the limit is reached: of any number of concurrent attempts, at most the
limit get their password checked. A successful login takes its attempt back, so only
failures use up the limit: `failures` counts the attempts not taken back."""

from datetime import datetime, timedelta
from typing import cast

from botocore.exceptions import ClientError

from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class TooManyAttempts(Exception):
    def __init__(self, window_ends: datetime):
        super().__init__(f"locked until {window_ends.isoformat()}")
        self.window_ends = window_ends


class LoginAttemptsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def count_attempt(
        self, username_key: str, now: datetime, window: timedelta, limit: int
    ) -> datetime:
        """Counts an attempt for the username; answers when the attempt's window ends.
        Raises TooManyAttempts, counting nothing, when `limit` attempts are counted in
        the current window."""
        # Two rounds: when the first finds no current window and another attempt starts
        # one first, this attempt counts in that window (or is refused by it).
        for _ in range(2):
            try:
                answer = client().update_item(
                    TableName=self.table_name,
                    Key=self._key(username_key),
                    UpdateExpression="ADD failures :one",
                    ConditionExpression="window_ends > :now AND failures < :limit",
                    ExpressionAttributeValues=to_item(
                        {":one": 1, ":now": int(now.timestamp()), ":limit": limit}
                    ),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return self._window_ends(answer["Attributes"], now)
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                # DynamoDB's answer holds the item (ReturnValuesOnConditionCheckFailure);
                # botocore-stubs' error response type has no Item key.
                current = cast("dict | None", error.response.get("Item"))
                if current and self._window_ends(current, now) > now:
                    raise TooManyAttempts(self._window_ends(current, now)) from None
            window_ends = int((now + window).timestamp())
            try:
                client().put_item(
                    TableName=self.table_name,
                    Item={
                        **self._key(username_key),
                        **to_item(
                            {"failures": 1, "window_ends": window_ends, "expires_at": window_ends}
                        ),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR window_ends <= :now",
                    ExpressionAttributeValues=to_item({":now": int(now.timestamp())}),
                )
                return datetime.fromtimestamp(window_ends, tz=now.tzinfo)
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
        raise TooManyAttempts(now + window)  # unreachable while windows outlast a request

    def take_back(self, username_key: str, window_ends: datetime) -> None:
        """Un-counts an attempt that succeeded, if its window is still the current one.
        When it was the window's only attempt the item goes: a username someone logged in
        to then looks like one nobody tried, so the writes of later attempts do not tell
        that it exists."""
        window = {":window_ends": int(window_ends.timestamp())}
        try:
            client().delete_item(
                TableName=self.table_name,
                Key=self._key(username_key),
                ConditionExpression="window_ends = :window_ends AND failures = :one",
                ExpressionAttributeValues=to_item({**window, ":one": 1}),
            )
            return
        except ClientError as error:
            if not is_condition_failure(error):
                raise
        try:
            client().update_item(
                TableName=self.table_name,
                Key=self._key(username_key),
                UpdateExpression="ADD failures :minus_one",
                ConditionExpression="window_ends = :window_ends AND failures > :zero",
                ExpressionAttributeValues=to_item({**window, ":minus_one": -1, ":zero": 0}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    @staticmethod
    def _window_ends(item: dict, now: datetime) -> datetime:
        return datetime.fromtimestamp(int(from_item(item)["window_ends"]), tz=now.tzinfo)

    @staticmethod
    def _key(username_key: str) -> dict:
        return to_item({"pk": f"login#{username_key}"})
