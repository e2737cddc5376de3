"""OAuth requests table: authorizations waiting for X's redirect, with a TTL.

The request-token secret is kept here rather than in Secrets Manager: it lives at most 15
minutes and is worthless without the approval on X. A request is spent only by a
successful exchange with X (`spend`), or by too many verifiers X refused
(`verifier_refused`); a redirect saying the authorization was declined leaves it alone,
as anyone who knows the request token can forge one."""

from datetime import UTC, datetime

from botocore.exceptions import ClientError

from twittnow import clock
from twittnow.models import OAuthRequest
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item


class OAuthRequestsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add(self, request: OAuthRequest) -> None:
        client().put_item(TableName=self.table_name, Item=_item(request))

    def get(self, oauth_token: str) -> OAuthRequest | None:
        """The request, unless it is unknown, spent or expired (TTL deletion is lazy)."""
        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=to_item({"oauth_token": oauth_token}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        if item is None:
            return None
        request = _request(item)
        return request if request.expires_at > clock.now() else None

    def spend(self, oauth_token: str) -> bool:
        """Removes the request after a successful exchange; False if another redirect
        spent it first (one exchange makes one pending connection)."""
        try:
            client().delete_item(
                TableName=self.table_name,
                Key=to_item({"oauth_token": oauth_token}),
                ConditionExpression="attribute_exists(oauth_token)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def verifier_refused(self, request: OAuthRequest, max_failures: int) -> None:
        """Counts a verifier X refused; the `max_failures`th spends the request, so that
        verifiers cannot be guessed at through the callback."""
        key = to_item({"oauth_token": request.oauth_token})
        try:
            if request.verifier_failures + 1 >= max_failures:
                client().delete_item(TableName=self.table_name, Key=key)
                return
            client().update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="ADD verifier_failures :one",
                # Not recreated if it was spent meanwhile; not past the limit if redirects race.
                ConditionExpression="attribute_exists(oauth_token) AND "
                "(attribute_not_exists(verifier_failures) OR verifier_failures < :last)",
                ExpressionAttributeValues=to_item({":one": 1, ":last": max_failures - 1}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            client().delete_item(TableName=self.table_name, Key=key)


def _item(request: OAuthRequest) -> dict:
    values = request.model_dump(mode="json", exclude={"expires_at"})
    return to_item({**values, "expires_at": int(request.expires_at.timestamp())})


def _request(item: dict) -> OAuthRequest:
    values = from_item(item)
    values["expires_at"] = datetime.fromtimestamp(int(values["expires_at"]), tz=UTC)
    values["verifier_failures"] = int(values.get("verifier_failures", 0))
    return OAuthRequest.model_validate(values)
