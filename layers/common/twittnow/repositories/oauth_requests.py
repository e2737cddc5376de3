"""OAuth requests table: request tokens waiting for X's redirect, single use, with a TTL.

The request-token secret is kept here rather than in Secrets Manager: it lives at most 15
minutes, is used once, and is worthless without the tenant's approval on X."""

from datetime import UTC, datetime

from twittnow import clock
from twittnow.models import OAuthRequest
from twittnow.repositories.dynamo import client, from_item, to_item


class OAuthRequestsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add(self, request: OAuthRequest) -> None:
        values = request.model_dump(mode="json", exclude={"expires_at"})
        client().put_item(
            TableName=self.table_name,
            Item=to_item({**values, "expires_at": int(request.expires_at.timestamp())}),
        )

    def take(self, oauth_token: str) -> OAuthRequest | None:
        """Removes and returns the request: a second callback with the same token finds
        nothing. Expired requests are not returned (TTL deletion is lazy)."""
        answer = client().delete_item(
            TableName=self.table_name, Key=to_item({"oauth_token": oauth_token}), ReturnValues="ALL_OLD"
        )
        if "Attributes" not in answer:
            return None
        values = from_item(answer["Attributes"])
        values["expires_at"] = datetime.fromtimestamp(int(values["expires_at"]), tz=UTC)
        request = OAuthRequest.model_validate(values)
        return request if request.expires_at > clock.now() else None
