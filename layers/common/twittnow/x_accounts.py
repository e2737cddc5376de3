"""Connected X accounts, as more than one function needs them: the X client with the
app's credentials, the account's own credentials, marking a connection broken, and
disconnecting an account (revoke, or its tenant deleted)."""

import json
from functools import cache

from twittnow import clock, repositories
from twittnow.clients.x import UserCredentials, WebhookApi, XClient, XConnectionBroken, XNotFound
from twittnow.models import XConnection
from twittnow.observability import logger
from twittnow.settings import get_settings
from twittnow.x_app import app_credentials

BROKEN = "broken"


@cache
def x_client() -> XClient:
    return XClient(get_settings().x_api_base_url, app_credentials())


def credentials_of(connection: XConnection) -> UserCredentials:
    """The account's access token and secret, from Secrets Manager."""
    tokens = json.loads(repositories.x_secrets().get(connection.secret_arn))
    return UserCredentials(tokens["access_token"], tokens["access_token_secret"])


def mark_broken(connection: XConnection, detail: str) -> None:
    """Shows the tenant, in its X details, that the account must be connected again."""
    broken = connection.model_copy(
        update={"status": BROKEN, "status_detail": detail, "updated_at": clock.now()}
    )
    if repositories.credentials().replace_x(broken):
        logger.warning(
            "X connection broken", extra={"tenant_id": connection.user_id, "reason": detail}
        )


def disconnect(connection: XConnection) -> None:
    """Unsubscribes the account from the webhook, then forgets its record and its tokens,
    and releases its claim. X being down or throttling raises before anything is forgotten."""
    try:
        x_client().unsubscribe(
            WebhookApi(connection.webhook_api),
            connection.webhook_id,
            connection.x_user_id,
            connection.subscription_id,
        )
    except (XNotFound, XConnectionBroken):
        pass  # already unsubscribed, or the account revoked us on X's side
    repositories.credentials().disconnect_x(connection, released_at=clock.now())
    repositories.x_secrets().delete(connection.secret_arn)
