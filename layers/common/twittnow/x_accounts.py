"""Connected X accounts, as more than one function needs them: the X client with the
app's credentials, the account's own credentials, marking a connection broken (and
connected again), and disconnecting an account (revoke, or its tenant deleted)."""

import json
import uuid
from contextlib import suppress
from datetime import datetime, timedelta
from time import monotonic, sleep
from typing import Final

from twittnow import audit, clock
from twittnow.clients.x import (
    AccountCredentials,
    BearerCredentials,
    OAuth2Tokens,
    UserCredentials,
    WebhookApi,
    XClient,
    XConnectionBroken,
    XNotFound,
    XRequestRejected,
    XUnavailable,
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

# An OAuth 2.0 access token (two hours) is renewed when it expires within this.
REFRESH_AHEAD = timedelta(minutes=5)
# How long one instance may hold a connection's refresh: longer than X's token call can
# take (the X client's 10 s to connect plus 10 s to read), so that no one takes the lease
# over while a slow refresh is still under way; and how long another waits for it before
# the message is tried again later.
REFRESH_LEASE = timedelta(seconds=30)
REFRESH_WAIT = timedelta(seconds=20)
REFRESH_POLL_SECONDS = 0.2


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
    place an account's credentials are produced: an OAuth 2.0 access token that expires
    within REFRESH_AHEAD is renewed first (see renewed_credentials)."""
    tokens = _tokens_of(ports, connection)
    if tokens.get("kind") == OAUTH2 and _due(tokens):
        tokens = _renewed(ports, connection, tokens["access_token"])
    return credentials_in(tokens)


def renewed_credentials(
    ports: Ports, connection: XConnection, refused: AccountCredentials
) -> AccountCredentials | None:
    """After X answered 401 to `refused`: the OAuth 2.0 connection's renewed credentials
    (renewed here, or by another instance meanwhile), for one more try of the call. None
    for OAuth 1.0a credentials, which nothing renews. Raises XConnectionBroken (the
    connection marked broken) when X refuses to renew them."""
    if not isinstance(refused, BearerCredentials):
        return None
    return credentials_in(_renewed(ports, connection, refused.access_token))


def credentials_in(tokens: dict[str, str]) -> AccountCredentials:
    """The credentials a connection's secret (or a pending connection's sealed tokens)
    holds: {"kind": "oauth2", "access_token", "refresh_token", "expires_at", "scope"}, or
    OAuth 1.0a's {"access_token", "access_token_secret"}."""
    if tokens.get("kind") == OAUTH2:
        return BearerCredentials(tokens["access_token"])
    return UserCredentials(tokens["access_token"], tokens["access_token_secret"])


def oauth2_secret(tokens: OAuth2Tokens) -> dict[str, str]:
    """What an OAuth 2.0 connection's secret holds."""
    return {
        "kind": OAUTH2,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": clock.isoformat(tokens.expires_at),
        "scope": tokens.scope,
    }


def refused_renewal_detail(connection: XConnection) -> str:
    return f"X refused to renew @{connection.screen_name}'s access; connect the account again."


def _tokens_of(ports: Ports, connection: XConnection) -> dict[str, str]:
    tokens: dict[str, str] = json.loads(
        ports.x_secrets.get(connection.secret_arn, connection.secret_version)
    )
    return tokens


def _due(tokens: dict[str, str]) -> bool:
    expires_at = datetime.fromisoformat(tokens["expires_at"].replace("Z", "+00:00"))
    return expires_at - clock.now() <= REFRESH_AHEAD


def _renewed(ports: Ports, connection: XConnection, stale_access_token: str) -> dict[str, str]:
    """The connection's tokens, renewed unless another instance renewed them since
    `stale_access_token` was read. X rotates refresh tokens (the one used stops working),
    so one instance at a time renews a connection's: the holder of its lease
    (Credentials.take_x_refresh), which stores the new pair (a new secret version, then the
    record's secret_version) before anyone uses it. An instance that finds the lease taken
    waits and rereads what the holder stored, and takes the lease over if the holder
    crashed (the lease runs out after REFRESH_LEASE)."""
    holder = uuid.uuid4().hex
    give_up_at = monotonic() + REFRESH_WAIT.total_seconds()
    while True:
        current = ports.credentials.x_current(connection)
        if current is None:
            raise XConnectionBroken(
                f"@{connection.screen_name} was disconnected from Twittnow.", status_code=401
            )
        tokens = _tokens_of(ports, current)
        if tokens["access_token"] != stale_access_token and not _due(tokens):
            return tokens  # renewed by another instance
        now = clock.now()
        if ports.credentials.take_x_refresh(connection.id, holder, now, now + REFRESH_LEASE):
            try:
                # Reread under the lease: a holder may have finished just before it.
                current = ports.credentials.x_current(connection) or current
                tokens = _tokens_of(ports, current)
                if tokens["access_token"] != stale_access_token and not _due(tokens):
                    return tokens
                return _refresh(ports, current, tokens)
            finally:
                ports.credentials.release_x_refresh(connection.id, holder)
        if monotonic() >= give_up_at:
            raise XUnavailable(
                f"Another instance is renewing @{connection.screen_name}'s access on X; "
                "try again later."
            )
        sleep(REFRESH_POLL_SECONDS)


def _refresh(ports: Ports, connection: XConnection, tokens: dict[str, str]) -> dict[str, str]:
    """Renews the tokens with X, holding the lease, and stores them before answering."""
    detail = refused_renewal_detail(connection)
    if connection.status == BROKEN and connection.status_detail == detail:
        # X refused these very tokens already: asking again costs a call and fails.
        raise XConnectionBroken(detail, status_code=400)
    try:
        renewed = ports.x().refresh_oauth2(tokens["refresh_token"])
    except XRequestRejected:
        refused = True
    else:
        refused = False
    if refused:
        # Revoked, or a refresh token already used (which the lease rules out but a
        # restore from backup would not): only the account's owner can fix it.
        mark_broken(ports, connection, detail, by=audit.SYSTEM)
        raise XConnectionBroken(detail, status_code=400)
    secret = oauth2_secret(renewed)
    version = ports.x_secrets.put(connection.secret_arn, json.dumps(secret))
    if not ports.credentials.record_x_secret_version(connection, version):
        raise XConnectionBroken(
            f"@{connection.screen_name} was disconnected from Twittnow.", status_code=401
        )
    logger.info("X access renewed", extra={"tenant_id": connection.user_id})
    return secret


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
