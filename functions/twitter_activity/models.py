"""Response shapes of the X connection API and the webhook."""

from datetime import datetime

from twittnow.api import Body
from twittnow.models import XConnection


class AuthUrlResponse(Body):
    auth_url: str
    expires_at: datetime


class XConnectionView(Body):
    """A connected X account as the API shows it: never a token or secret."""

    id: str
    user: str
    x_user_id: str
    screen_name: str
    status: str
    status_detail: str
    webhook_api: str
    connected_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, connection: XConnection) -> "XConnectionView":
        values = connection.model_dump(
            exclude={"user_id", "secret_arn", "webhook_id", "subscription_id"}
        )
        return cls(user=connection.user_id, **values)


class CrcResponse(Body):
    response_token: str  # sha256=<base64 HMAC-SHA256 of crc_token with the consumer secret>


class DeliveryAccepted(Body):
    queued: int  # the events put on the inbound queue; 0 for kinds the service ignores
