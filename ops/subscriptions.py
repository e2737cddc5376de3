"""`python -m ops webhooks resubscribe`: subscribes every connected account to the X
Activity API event types this version needs (twittnow.clients.x.ACTIVITY_EVENT_TYPES).

X's subscriptions are one per event type and account, made when the account connects: an
account connected before a version that needs a new event type (post.reply.create, for
customers answering in the company's thread) lacks it until it is subscribed again. X
keeps the subscriptions an account has (the client finds them), so running this again
changes nothing. Account Activity API connections get every event of the account already.

An OAuth 2.0 account connected before X Chat gets its X Chat identity first (made and
registered once, as at connection: twittnow.xchat.ensure_identity), so that the
chat.received deliveries it is subscribed to can be read. OAuth 1.0a connections are
subscribed to them too: their chat messages show as failed, saying to connect again.
"""

from twittnow import x_accounts, xchat
from twittnow.clients.x import BearerCredentials, WebhookApi, XError
from twittnow.ports import Ports


def resubscribe_all(ports: Ports) -> list[str]:
    """Subscribes each X Activity API connection again and records its subscription ids;
    answers a line per account X refused (a revoked one, say), in words for the operator."""
    refused: list[str] = []
    for connection in ports.credentials.all_x():
        if WebhookApi(connection.webhook_api) is not WebhookApi.ACTIVITY:
            continue
        try:
            credentials = x_accounts.credentials_of(ports, connection)
            if isinstance(credentials, BearerCredentials):
                xchat.ensure_identity(ports, connection, credentials)
            subscription_id = ports.x().subscribe(
                WebhookApi.ACTIVITY, connection.webhook_id, connection.x_user_id, credentials
            )
        except XError as error:
            refused.append(
                f"@{connection.screen_name} (connection {connection.id}): {error.message}"
            )
            continue
        # Read again just before writing, so that a change made meanwhile (the account
        # marked broken) is kept; updated_at stays, as nothing the tenant did changed.
        current = ports.credentials.x_by_id(connection.id)
        if current is not None and current.subscription_id != subscription_id:
            ports.credentials.replace_x(
                current.model_copy(update={"subscription_id": subscription_id})
            )
    return refused
