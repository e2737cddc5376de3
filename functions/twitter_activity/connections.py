"""Connecting a tenant's X account, and revoking it.

Connecting takes three steps, so that only the tenant who started it can end it:

1. `start` (GET /get-auth-url, the tenant's token): an OAuth 2.0 authorization bound to
   the tenant for 15 minutes (its `state`, stored only as a digest, with the PKCE code
   verifier, which never leaves the service but to X's token endpoint), and the URL where
   the account's owner authorizes Twittnow on X.
2. `finish_oauth2` (GET /twitter-callback?code=&state=, X's redirect of whichever browser
   approved): the code is exchanged for the account's tokens at once (OAuth 2.0 codes
   expire within seconds), the account is read with them, and it is held as a *pending*
   connection of the tenant that started, for 15 minutes, with its tokens sealed under a
   one-time confirmation code that only this redirect's page shows. Nothing is subscribed
   or processed for it yet. `finish` does the same for an OAuth 1.0a redirect
   (oauth_token and oauth_verifier) of an authorization started before OAuth 2.0.
3. `confirm` (POST /twitter-callback/confirm/, the tenant's token and the code): the
   one-account rules are checked again, an OAuth 2.0 account gets its X Chat identity
   (twittnow.xchat.ensure_identity: made once per account, registered with X), the account
   is subscribed to the webhook, its tokens go to Secrets Manager (one secret per
   connection) and the connection is stored.

So a tenant who sends its authorize URL to another company's staff gets nothing unless
they hand back the code, on a page that names the tenant's company. Steps 2 and 3 are
protocol-neutral: each callback makes an ApprovedAccount and calls
`_hold_for_confirmation`.
"""

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from twittnow import audit, clock, confirmation_codes
from twittnow.auth import Caller
from twittnow.clients.x import (
    BearerCredentials,
    RequestToken,
    WebhookApi,
    XConnectionBroken,
    XError,
    XRateLimited,
    XRequestRejected,
    XUnavailable,
)
from twittnow.errors import Conflict, InvalidInput, NotFound, PermissionDenied, UpstreamUnavailable
from twittnow.models import OAuthRequest, PendingXConnection, User, XConnection
from twittnow.observability import logger
from twittnow.ports import Ports
from twittnow.repositories.credentials import (
    AccountHeldByAnotherTenant,
    AlreadyConnected,
    PendingConnectionGone,
)
from twittnow.x_accounts import OAUTH1, OAUTH2, credentials_in, disconnect

AUTHORIZATION_LIFETIME = timedelta(minutes=15)
CONFIRMATION_LIFETIME = timedelta(minutes=15)
# Verifiers (OAuth 2.0: codes) X may refuse for one authorization before it is spent:
# enough for a person's retries, too few to guess one (each guess is a call to X).
MAX_VERIFIER_FAILURES = 5
CALLBACK_PATH = "/twitter-callback"
# An OAuth 2.0 authorization is stored under the digest of its state, beside OAuth 1.0a's
# request tokens (which never start with this).
STATE_KEY_PREFIX = "oauth2:"
STATE_BYTES = 32
# RFC 7636: a verifier of 43 to 128 unreserved characters; 64 random bytes make 86.
CODE_VERIFIER_BYTES = 64
WEBHOOK_PATH = "/twitter-activity"
CONFIRM_PATH = "/twitter-callback/confirm/"


@dataclass(frozen=True)
class ApprovedAccount:
    """What a successful exchange with X gives, whatever the OAuth version."""

    x_user_id: str
    screen_name: str
    tokens: dict[str, str] = field(repr=False)  # as the connection's secret holds them


@dataclass(frozen=True)
class Approval:
    """A pending connection as the callback's page shows it: the code appears only here."""

    pending: PendingXConnection
    company_name: str
    confirmation: str = field(repr=False)


def start(
    ports: Ports, caller: Caller, callback_url: str, *, return_to_console: bool = False
) -> tuple[str, datetime]:
    """An OAuth 2.0 authorization tied to the tenant for 15 minutes, and the URL to
    authorize it on X (Authorization Code with PKCE, S256). `return_to_console`: X's
    redirect is sent on to the console instead of answering the callback's page."""
    state = secrets.token_urlsafe(STATE_BYTES)
    code_verifier = secrets.token_urlsafe(CODE_VERIFIER_BYTES)
    with _x_answers("start connecting the X account"):
        auth_url = ports.x().oauth2_authorize_url(
            callback_url, state, code_challenge(code_verifier)
        )
    expires_at = clock.now() + AUTHORIZATION_LIFETIME
    ports.oauth_requests.add(
        OAuthRequest(
            oauth_token=state_key(state),
            user_id=caller.user.id,
            expires_at=expires_at,
            code_verifier=code_verifier,
            redirect_uri=callback_url,
            return_to_console=return_to_console,
        )
    )
    return auth_url, expires_at


def started_from_console(ports: Ports, state: str | None) -> bool:
    """Whether X's OAuth 2.0 redirect with `state` belongs to an authorization started from
    the console (read before finishing it: a successful or final refused exchange spends
    it). An unknown, expired or spent state is not: its browser gets the callback's page."""
    if not state:
        return False
    request = ports.oauth_requests.get(state_key(state))
    return request is not None and request.return_to_console


def state_key(state: str) -> str:
    """Where an OAuth 2.0 authorization is stored: the state's digest, never the state."""
    return STATE_KEY_PREFIX + hashlib.sha256(state.encode()).hexdigest()


def code_challenge(code_verifier: str) -> str:
    """PKCE's S256 challenge: base64url of the verifier's SHA-256, unpadded (RFC 7636)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def finish_oauth2(ports: Ports, code: str | None, state: str | None, error: str | None) -> Approval:
    """X's OAuth 2.0 redirect back: exchanges the code (with the authorization's PKCE
    verifier), reads the account with the new access token, and holds it for the
    tenant's confirmation. Only a successful exchange spends the authorization."""
    if error:
        if error == "access_denied":
            # As OAuth 1.0a's `denied`: anyone who knows the state can forge it, so it
            # spends nothing, and the authorization expires on its own.
            raise PermissionDenied(
                "The X account was not connected: authorization was declined on X."
            )
        reason = error if error.replace("_", "").isalnum() and len(error) <= 40 else "an error"
        raise InvalidInput.for_field(
            "error",
            f"X did not authorize Twittnow ({reason}). Start again with GET /get-auth-url.",
        )
    if not code or not state:
        raise InvalidInput(
            "X's redirect must carry code and state. Start again with GET /get-auth-url."
        )
    authorizations = ports.oauth_requests
    request = authorizations.get(state_key(state))
    if request is None or not request.code_verifier:
        raise _unknown_state()
    tenant = ports.users.get(request.user_id)
    if tenant is None:
        raise NotFound("The user who started this authorization no longer exists.")
    with _x_answers("finish connecting the X account"):
        try:
            tokens = ports.x().exchange_code(code, request.code_verifier, request.redirect_uri)
        except (XRequestRejected, XConnectionBroken):
            # Perhaps a forged redirect: the authorization stays for the real one, up to
            # MAX_VERIFIER_FAILURES. (X down or throttling leaves it as it was.)
            authorizations.verifier_refused(request, MAX_VERIFIER_FAILURES)
            raise
        account = ports.x().me(BearerCredentials(tokens.access_token))
    if not authorizations.spend(request.oauth_token):
        raise _unknown_state()
    secret = {
        "kind": OAUTH2,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "scope": tokens.scope,
    }
    return _hold_for_confirmation(
        ports, tenant, ApprovedAccount(account.id, account.username, secret)
    )


def finish(
    ports: Ports, oauth_token: str | None, verifier: str | None, denied: str | None
) -> Approval:
    """X's OAuth 1.0a redirect back, for an authorization started before GET /get-auth-url
    began OAuth 2.0 ones: exchanges the verifier and holds the account for the tenant's
    confirmation. Only a successful exchange spends the authorization."""
    if denied:
        # X sends this when the person declines, but anyone who knows the request token
        # can forge it: it spends nothing, and the request expires on its own.
        raise PermissionDenied("The X account was not connected: authorization was declined on X.")
    if not oauth_token or not verifier:
        raise InvalidInput(
            "X's redirect must carry oauth_token and oauth_verifier. Start again with GET /get-auth-url."
        )
    authorizations = ports.oauth_requests
    request = authorizations.get(oauth_token)
    if request is None:
        raise _unknown_authorization()
    tenant = ports.users.get(request.user_id)
    if tenant is None:
        raise NotFound("The user who started this authorization no longer exists.")
    with _x_answers("finish connecting the X account"):
        try:
            access = ports.x().access_token(
                RequestToken(request.oauth_token, request.oauth_token_secret), verifier
            )
        except (XRequestRejected, XConnectionBroken):
            # Perhaps a forged redirect: the request stays for the real one, up to
            # MAX_VERIFIER_FAILURES. (X down or throttling leaves it as it was.)
            authorizations.verifier_refused(request, MAX_VERIFIER_FAILURES)
            raise
    if not authorizations.spend(oauth_token):
        raise _unknown_authorization()
    tokens = {
        "access_token": access.credentials.access_token,
        "access_token_secret": access.credentials.access_token_secret,
    }
    return _hold_for_confirmation(
        ports, tenant, ApprovedAccount(access.user_id, access.screen_name, tokens)
    )


def confirm(ports: Ports, caller: Caller, confirmation: str, webhook_url: str) -> XConnection:
    """The tenant that started the authorization completes it with the code the approving
    browser was shown. Anyone else's call finds nothing, and changes nothing."""
    pending = ports.credentials.x_pending(confirmation_codes.digest(confirmation))
    # Another tenant's code answers like an unknown one: codes reveal nothing.
    if pending is None or pending.user_id != caller.user.id:
        raise _no_pending_connection()
    try:
        tokens = confirmation_codes.unseal(
            confirmation, pending.sealed_tokens, _seal_context(pending.user_id, pending.x_user_id)
        )
    except confirmation_codes.SealBroken:
        raise _no_pending_connection() from None
    previous = _check_one_account_rules(
        ports, caller.user.id, pending.x_user_id, pending.screen_name
    )
    return _connect(ports, caller, pending, tokens, previous, webhook_url)


def revoke(ports: Ports, caller: Caller) -> None:
    """Unsubscribes the account and forgets it. Idempotent: nothing connected is fine."""
    connection = ports.credentials.x_of(caller.user.id)
    if connection is None:
        return
    with _x_answers("disconnect the X account"):
        disconnect(ports, connection)
    audit.record(
        ports.audit_log,
        caller,
        "x_connection.revoked",
        resource_id=connection.id,
        tenant_id=connection.user_id,
    )


def _hold_for_confirmation(ports: Ports, tenant: User, account: ApprovedAccount) -> Approval:
    """Stores the approved account as the tenant's pending connection, its tokens sealed
    under a new confirmation code."""
    _check_one_account_rules(ports, tenant.id, account.x_user_id, account.screen_name)
    code = confirmation_codes.new_code()
    pending = PendingXConnection(
        code_digest=confirmation_codes.digest(code),
        user_id=tenant.id,
        x_user_id=account.x_user_id,
        screen_name=account.screen_name,
        sealed_tokens=confirmation_codes.seal(
            code, account.tokens, _seal_context(tenant.id, account.x_user_id)
        ),
        expires_at=clock.now() + CONFIRMATION_LIFETIME,
    )
    ports.credentials.add_x_pending(pending)
    return Approval(pending, tenant.company_name or tenant.username, code)


def _seal_context(tenant_id: str, x_user_id: str) -> str:
    """What sealed tokens are bound to: they open only for this tenant and account."""
    return f"{tenant_id}:{x_user_id}"


def _check_one_account_rules(
    ports: Ports, tenant_id: str, x_user_id: str, screen_name: str
) -> XConnection | None:
    """One X account per tenant and one tenant per X account. Answers the tenant's
    connection of this same account, if any (reconnecting replaces its tokens)."""
    previous = ports.credentials.x_of(tenant_id)
    if previous is not None and previous.x_user_id != x_user_id:
        raise Conflict(
            f"This tenant is already connected to @{previous.screen_name}. "
            "Disconnect it with DELETE /twitter-revoke/ first."
        )
    holder = ports.credentials.x_by_account(x_user_id)
    if holder is not None and holder.user_id != tenant_id:
        raise _held_by_another(screen_name)
    return previous


def _connect(
    ports: Ports,
    tenant: Caller,
    pending: PendingXConnection,
    tokens: dict[str, str],
    previous: XConnection | None,
    webhook_url: str,
) -> XConnection:
    api = WebhookApi(ports.settings.x_webhook_api)
    # Taken before subscribing, so that every event X delivers for the new subscription is
    # accepted after connected_at (see XConnection.account_released_at).
    now = clock.now()
    credentials = credentials_in(tokens)
    auth: Literal["oauth1", "oauth2"] = OAUTH2 if tokens.get("kind") == OAUTH2 else OAUTH1
    if auth == OAUTH2:
        # Before subscribing, so that no chat.received arrives for an account without
        # keys. Its keys are stored before X is told, and kept if X throttles (a 503: the
        # confirmation code stays usable). OAuth 1.0a connections (redirects of
        # authorizations started before OAuth 2.0) get no X Chat: X Chat is OAuth 2.0's.
        # Imported here: the other endpoints of connections (get-auth-url, the callback,
        # revoke) never need X Chat's keys, and its module adds to their cold start.
        from twittnow import xchat

        with _x_answers("set up X Chat for the X account"):
            xchat.ensure_identity(ports, pending, credentials)
    with _x_answers("subscribe the X account to the webhook"):
        webhook_id = _registered_webhook(ports, webhook_url)
        subscription_id = ports.x().subscribe(api, webhook_id, pending.x_user_id, credentials)
    secret = json.dumps(tokens)
    if previous is not None:  # the same account again: new tokens, same record
        version = ports.x_secrets.put(previous.secret_arn, secret)
        connection = previous.model_copy(
            update={
                "secret_version": version,
                "screen_name": pending.screen_name,
                "webhook_api": api.value,
                "webhook_id": webhook_id,
                "subscription_id": subscription_id,
                "status": "connected",
                "status_detail": "",
                "updated_at": now,
                "auth": auth,
            }
        )
    else:
        connection_id = str(uuid.uuid4())
        secret_arn, version = ports.x_secrets.create_version(connection_id, secret)
        connection = XConnection(
            id=connection_id,
            user_id=tenant.user.id,
            x_user_id=pending.x_user_id,
            screen_name=pending.screen_name,
            secret_arn=secret_arn,
            secret_version=version,
            webhook_api=api.value,
            webhook_id=webhook_id,
            subscription_id=subscription_id,
            connected_at=now,
            updated_at=now,
            account_released_at=ports.credentials.account_released_at(pending.x_user_id),
            auth=auth,
        )
    try:
        ports.credentials.confirm_x(connection, pending)
    except (PendingConnectionGone, AccountHeldByAnotherTenant, AlreadyConnected) as error:
        if previous is None:
            ports.x_secrets.delete(connection.secret_arn)  # a secret nothing names is a leak
        if isinstance(error, PendingConnectionGone):
            raise _no_pending_connection() from None
        if isinstance(error, AccountHeldByAnotherTenant):
            raise _held_by_another(pending.screen_name) from None
        # No tenant holds this account (the claim is free, or this tenant's), so its new
        # subscription would only use up one of the app's on X. Best effort: whatever X
        # answers, the tenant's answer is the 409.
        try:
            ports.x().unsubscribe(api, webhook_id, pending.x_user_id, subscription_id)
        except XError as unsubscribe_error:
            logger.warning(
                "X account left subscribed",
                extra={"x_user_id": pending.x_user_id, "error": unsubscribe_error.message},
            )
        raise Conflict(
            "This tenant connected another X account meanwhile; revoke it first."
        ) from None
    audit.record(
        ports.audit_log,
        tenant,
        "x_connection.connected",
        resource_id=connection.id,
        tenant_id=tenant.user.id,
        changed_fields=["x_user_id", "screen_name", "access_token"],
    )
    return connection


def _registered_webhook(ports: Ports, webhook_url: str) -> str:
    """The id of this service's webhook on X (registered by `python -m ops webhooks register`)."""
    base_url = webhook_url.removesuffix(WEBHOOK_PATH)
    ours = [webhook for webhook in ports.x().list_webhooks() if webhook.url.startswith(base_url)]
    if not ours:
        raise UpstreamUnavailable(
            "No X webhook is registered for this service yet. An operator must run "
            f"`python -m ops webhooks register --url {webhook_url}`; then connect again."
        )
    return next((webhook.id for webhook in ours if webhook.url == webhook_url), ours[0].id)


def _unknown_authorization() -> InvalidInput:
    return InvalidInput.for_field(
        "oauth_token",
        "This authorization is unknown, expired or already used. Start again with GET /get-auth-url.",
    )


def _unknown_state() -> InvalidInput:
    return InvalidInput.for_field(
        "state",
        "This authorization is unknown, expired or already used. Start again with GET /get-auth-url.",
    )


def _no_pending_connection() -> NotFound:
    return NotFound(
        "No X connection waits for this confirmation code: it is wrong, expired (after 15 "
        "minutes) or already used, or another tenant started it. Start again with GET /get-auth-url."
    )


def _held_by_another(screen_name: str) -> Conflict:
    return Conflict(f"The X account @{screen_name} is already connected to another tenant.")


@contextmanager
def _x_answers(action: str) -> Iterator[None]:
    """X's errors as the API's: X down or throttling is a 503 to retry, X refusing is a 4xx."""
    try:
        yield
    except XRateLimited as error:
        wait = max(1, int((error.reset_at - clock.now()).total_seconds()))
        raise UpstreamUnavailable(
            f"X is rate limiting us; could not {action}. Try again in {wait} seconds.", wait
        ) from None
    except XUnavailable:
        raise UpstreamUnavailable(
            f"X did not answer; could not {action}. Try again shortly."
        ) from None
    except (XConnectionBroken, XRequestRejected) as error:
        raise InvalidInput(
            f"X refused to {action}: {error.message}. Start again with GET /get-auth-url."
        ) from None
    except XError as error:
        raise UpstreamUnavailable(
            f"X answered an error; could not {action}: {error.message}"
        ) from None
