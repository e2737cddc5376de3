"""Connected X accounts, as more than one function needs them: the X client with the
app's credentials, the account's own credentials, marking a connection broken (and
connected again), and disconnecting an account (revoke, or its tenant deleted)."""

import json
from contextlib import suppress
from typing import Final

from twittnow import audit, clock
from twittnow.clients.x import (
    AccountCredentials,
    BearerCredentials,
    UserCredentials,
    WebhookApi,
    XClient,
    XConnectionBroken,
    XNotFound,
)
from twittnow.instance import kept
from twittnow.models import XConnection
from twittnow.observability import logger
from twittnow.ports import Ports
from twittnow.settings import get_settings
from twittnow.x_app import app_credentials

CONNECTED = "connected"
BROKEN = "broken"


OAUTH1: Final = "oauth1"
OAUTH2: Final = "oauth2"


@kept
def x_client() -> XClient:
    settings = get_settings()
    return XClient(
        settings.x_api_base_url,
        app_credentials(),
        oauth2_authorize_url=settings.x_oauth2_authorize_url,
    )


def credentials_of(ports: Ports, connection: XConnection) -> AccountCredentials:
    """What the connection's calls to X are made with, from its secret in Secrets
    Manager: the OAuth 2.0 access token, or the OAuth 1.0a access token and secret of a
    connection made before OAuth 2.0 (or its secret, before "kind" was written). The one
    place an account's credentials are produced, so that refreshing OAuth 2.0 tokens
    (their expires_at and refresh_token are in the secret) belongs here."""
    tokens = json.loads(ports.x_secrets.get(connection.secret_arn, connection.secret_version))
    return credentials_in(tokens)


def credentials_in(tokens: dict[str, str]) -> AccountCredentials:
    """The credentials a connection's secret (or a pending connection's sealed tokens)
    holds: {"kind": "oauth2", "access_token", "refresh_token", "expires_at", "scope"}, or
    OAuth 1.0a's {"access_token", "access_token_secret"}."""
    if tokens.get("kind") == OAUTH2:
        return BearerCredentials(tokens["access_token"])
    return UserCredentials(tokens["access_token"], tokens["access_token_secret"])


def mark_broken(ports: Ports, connection: XConnection, detail: str, by: str) -> None:
    """Shows the tenant, in its X details, that the account must be connected again, and
    records it in the audit log as done `by` X (the account revoked the app) or the
    service (X refused the token). A broken connection still sends (see customer_channel)."""
    if connection.status == BROKEN and connection.status_detail == detail:
        return  # told again what we know: one entry per change
    broken = connection.model_copy(
        update={"status": BROKEN, "status_detail": detail, "updated_at": clock.now()}
    )
    if ports.credentials.replace_x(broken):
        logger.warning(
            "X connection broken", extra={"tenant_id": connection.user_id, "reason": detail}
        )
        _audit_status(ports, broken, "x_connection.broken", by)


def mark_restored(ports: Ports, connection: XConnection) -> None:
    """X took the token of a connection marked broken: the mark was stale (a passing 401,
    or the account authorized the app again), so the connection shows connected again."""
    if connection.status != BROKEN:
        return
    restored = connection.model_copy(
        update={"status": CONNECTED, "status_detail": "", "updated_at": clock.now()}
    )
    if ports.credentials.replace_x(restored):
        logger.info("X connection restored", extra={"tenant_id": connection.user_id})
        _audit_status(ports, restored, "x_connection.restored", audit.SYSTEM)


def _audit_status(ports: Ports, connection: XConnection, action: str, by: str) -> None:
    audit.record(
        ports.audit_log,
        by,
        action,
        resource_id=connection.id,
        tenant_id=connection.user_id,
        changed_fields=["status", "status_detail"],
    )


def disconnect(ports: Ports, connection: XConnection) -> None:
    """Unsubscribes the account from the webhook, then forgets its record and its tokens,
    and releases its claim. X being down or throttling raises before anything is forgotten."""
    # Already unsubscribed, or the account revoked us on X's side: nothing left to stop.
    with suppress(XNotFound, XConnectionBroken):
        ports.x().unsubscribe(
            WebhookApi(connection.webhook_api),
            connection.webhook_id,
            connection.x_user_id,
            connection.subscription_id,
        )
    ports.credentials.disconnect_x(connection, released_at=clock.now())
    ports.x_secrets.delete(connection.secret_arn)
