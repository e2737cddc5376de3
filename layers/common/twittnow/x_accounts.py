"""Connected X accounts, as more than one function needs them: the X client with the
app's credentials, and disconnecting an account (revoke, or its tenant deleted)."""

from functools import cache

from twittnow import repositories
from twittnow.clients.x import WebhookApi, XClient, XConnectionBroken, XNotFound, app_credentials
from twittnow.models import XConnection
from twittnow.settings import get_settings


@cache
def x_client() -> XClient:
    return XClient(get_settings().x_api_base_url, app_credentials())


def disconnect(connection: XConnection) -> None:
    """Unsubscribes the account from the webhook, then forgets its record, its claim and
    its tokens. X being down or throttling raises before anything is forgotten."""
    try:
        x_client().unsubscribe(
            WebhookApi(connection.webhook_api),
            connection.webhook_id,
            connection.x_user_id,
            connection.subscription_id,
        )
    except (XNotFound, XConnectionBroken):
        pass  # already unsubscribed, or the account revoked us on X's side
    repositories.credentials().disconnect_x(connection)
    repositories.x_secrets().delete(connection.secret_arn)
