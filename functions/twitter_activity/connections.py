"""Connecting a tenant's X account: 3-legged OAuth 1.0a, the webhook subscription, and
revoking it. Access tokens go to Secrets Manager, one secret per connection."""

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from twittnow import audit, clock, repositories
from twittnow.auth import Caller
from twittnow.clients.x import (
    AccessToken,
    RequestToken,
    WebhookApi,
    XConnectionBroken,
    XError,
    XRateLimited,
    XRequestRejected,
    XUnavailable,
)
from twittnow.errors import Conflict, InvalidInput, NotFound, PermissionDenied, UpstreamUnavailable
from twittnow.models import OAuthRequest, XConnection
from twittnow.repositories.credentials import AccountHeldByAnotherTenant, AlreadyConnected
from twittnow.settings import get_settings
from twittnow.x_accounts import disconnect, x_client

AUTHORIZATION_LIFETIME = timedelta(minutes=15)
WEBHOOK_PATH = "/twitter-activity"


def start(caller: Caller, callback_url: str) -> tuple[str, datetime]:
    """A request token tied to the tenant for 15 minutes, and the URL to authorize it on X."""
    with _x_answers("start connecting the X account"):
        request_token = x_client().request_token(callback_url)
    expires_at = clock.now() + AUTHORIZATION_LIFETIME
    repositories.oauth_requests().add(
        OAuthRequest(
            oauth_token=request_token.oauth_token,
            oauth_token_secret=request_token.oauth_token_secret,
            user_id=caller.user.id,
            expires_at=expires_at,
        )
    )
    return x_client().authorize_url(request_token.oauth_token), expires_at


def finish(
    oauth_token: str | None, verifier: str | None, denied: str | None, webhook_url: str, source_ip: str
) -> XConnection:
    """X's redirect back: exchange the verifier, store the account and its tokens, and
    subscribe it to the webhook. Any refusal stores nothing."""
    if denied:
        repositories.oauth_requests().take(denied)  # the request is spent either way
        raise PermissionDenied("The X account was not connected: authorization was declined on X.")
    if not oauth_token or not verifier:
        raise InvalidInput("X's redirect must carry oauth_token and oauth_verifier. Start again with GET /get-auth-url.")
    request = repositories.oauth_requests().take(oauth_token)
    if request is None:
        raise InvalidInput.for_field(
            "oauth_token",
            "This authorization is unknown, expired or already used. Start again with GET /get-auth-url.",
        )
    tenant = repositories.users().get(request.user_id)
    if tenant is None:
        raise NotFound("The user who started this authorization no longer exists.")
    with _x_answers("finish connecting the X account"):
        access = x_client().access_token(RequestToken(request.oauth_token, request.oauth_token_secret), verifier)
    previous = repositories.credentials().x_of(request.user_id)
    if previous is not None and previous.x_user_id != access.user_id:
        raise Conflict(
            f"This tenant is already connected to @{previous.screen_name}. "
            "Disconnect it with DELETE /twitter-revoke/ first."
        )
    holder = repositories.credentials().x_by_account(access.user_id)
    if holder is not None and holder.user_id != request.user_id:
        raise _held_by_another(access)
    return _connect(audit.Actor(tenant, source_ip), access, previous, webhook_url)


def revoke(caller: Caller) -> None:
    """Unsubscribes the account and forgets it. Idempotent: nothing connected is fine."""
    connection = repositories.credentials().x_of(caller.user.id)
    if connection is None:
        return
    with _x_answers("disconnect the X account"):
        disconnect(connection)
    audit.record(caller, "x_connection.revoked", resource_id=connection.id, tenant_id=connection.user_id)


def _connect(
    tenant: audit.Actor, access: AccessToken, previous: XConnection | None, webhook_url: str
) -> XConnection:
    api = WebhookApi(get_settings().x_webhook_api)
    # Taken before subscribing, so that every event X delivers for the new subscription is
    # accepted after connected_at (see XConnection.account_released_at).
    now = clock.now()
    with _x_answers("subscribe the X account to the webhook"):
        webhook_id = _registered_webhook(webhook_url)
        subscription_id = x_client().subscribe(api, webhook_id, access.user_id, access.credentials)
    tokens = json.dumps(
        {
            "access_token": access.credentials.access_token,
            "access_token_secret": access.credentials.access_token_secret,
        }
    )
    if previous is not None:  # the same account again: new tokens, same record
        repositories.x_secrets().put(previous.secret_arn, tokens)
        connection = previous.model_copy(
            update={
                "screen_name": access.screen_name,
                "webhook_api": api.value,
                "webhook_id": webhook_id,
                "subscription_id": subscription_id,
                "status": "connected",
                "status_detail": "",
                "updated_at": now,
            }
        )
    else:
        connection_id = str(uuid.uuid4())
        connection = XConnection(
            id=connection_id,
            user_id=tenant.user.id,
            x_user_id=access.user_id,
            screen_name=access.screen_name,
            secret_arn=repositories.x_secrets().create(connection_id, tokens),
            webhook_api=api.value,
            webhook_id=webhook_id,
            subscription_id=subscription_id,
            connected_at=now,
            updated_at=now,
            account_released_at=repositories.credentials().account_released_at(access.user_id),
        )
    try:
        repositories.credentials().connect_x(connection)
    except (AccountHeldByAnotherTenant, AlreadyConnected) as error:
        if previous is None:
            repositories.x_secrets().delete(connection.secret_arn)  # a secret nothing names is a leak
        if isinstance(error, AccountHeldByAnotherTenant):
            raise _held_by_another(access) from None
        raise Conflict("This tenant connected another X account meanwhile; revoke it first.") from None
    audit.record(
        tenant,
        "x_connection.connected",
        resource_id=connection.id,
        tenant_id=tenant.user.id,
        changed_fields=["x_user_id", "screen_name", "access_token"],
    )
    return connection


def _registered_webhook(webhook_url: str) -> str:
    """The id of this service's webhook on X (registered by `python -m ops webhooks register`)."""
    base_url = webhook_url.removesuffix(WEBHOOK_PATH)
    ours = [webhook for webhook in x_client().list_webhooks() if webhook.url.startswith(base_url)]
    if not ours:
        raise UpstreamUnavailable(
            "No X webhook is registered for this service yet. An operator must run "
            f"`python -m ops webhooks register --url {webhook_url}`; then connect again."
        )
    return next((webhook.id for webhook in ours if webhook.url == webhook_url), ours[0].id)


def _held_by_another(access: AccessToken) -> Conflict:
    return Conflict(f"The X account @{access.screen_name} is already connected to another tenant.")


@contextmanager
def _x_answers(action: str) -> Iterator[None]:
    """X's errors as the API's: X down or throttling is a 503 to retry, X refusing is a 4xx."""
    try:
        yield
    except XRateLimited as error:
        wait = max(1, int((error.reset_at - clock.now()).total_seconds()))
        raise UpstreamUnavailable(f"X is rate limiting us; could not {action}. Try again in {wait} seconds.", wait) from None
    except XUnavailable:
        raise UpstreamUnavailable(f"X did not answer; could not {action}. Try again shortly.") from None
    except (XConnectionBroken, XRequestRejected) as error:
        raise InvalidInput(f"X refused to {action}: {error.message}. Start again with GET /get-auth-url.") from None
    except XError as error:
        raise UpstreamUnavailable(f"X answered an error; could not {action}: {error.message}") from None
