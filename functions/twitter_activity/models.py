"""Response shapes of the X connection API and the webhook."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

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
    auth: Literal["oauth1", "oauth2"] = Field(
        description="How the account authorized Twittnow: oauth2, or oauth1 for a connection "
        "made before OAuth 2.0 (it keeps working; reconnecting makes it oauth2)."
    )
    connected_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, connection: XConnection) -> "XConnectionView":
        values = connection.model_dump(
            exclude={"user_id", "secret_arn", "webhook_id", "subscription_id"}
        )
        return cls(user=connection.user_id, **values)


class PendingXConnectionView(Body):
    """What the callback's page says after the approval on X: which company the account
    is about to be connected to, and the one-time code that company confirms it with."""

    status: Literal["pending_confirmation"] = "pending_confirmation"
    x_user_id: str
    screen_name: str
    company_name: str = Field(description="The company (tenant) that started the authorization.")
    message: str
    confirmation: str = Field(
        description="The one-time code, shown here only: POST it to confirm_url with the token "
        "of the tenant that started, within 15 minutes."
    )
    confirm_url: str
    confirm_command: str = Field(
        description="The curl that confirms, with the tenant's token to fill in."
    )
    expires_at: datetime


Confirmation = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class ConfirmXConnectionRequest(Body):
    model_config = ConfigDict(extra="forbid")

    confirmation: Confirmation = Field(description="The code the callback's page showed.")


class CrcResponse(Body):
    response_token: str  # sha256=<base64 HMAC-SHA256 of crc_token with the consumer secret>


class DeliveryAccepted(Body):
    queued: int  # the events put on the inbound queue; 0 for kinds the service ignores
