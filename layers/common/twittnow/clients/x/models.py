"""What X's calls take and answer: a connected account's credentials, OAuth's tokens,
downloaded media, webhooks, which API delivers a subscribed account's events, and X Chat's
public keys and encrypted events.

What holds no secret is a named tuple: a frozen dataclass costs about 0.9 ms to make, at
every cold start that loads it (bench/cold_start.py), a named tuple 0.2. What holds one
stays a frozen dataclass, which keeps it out of its repr and out of any serialization."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


@dataclass(frozen=True)
class UserCredentials:
    """A connected account's OAuth 1.0a access token and secret."""

    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


@dataclass(frozen=True)
class BearerCredentials:
    """A connected account's OAuth 2.0 access token (user context), sent as a bearer token."""

    access_token: str = field(repr=False)


# How a call made as a connected account is authorized: the transport signs OAuth 1.0a
# credentials and sends an OAuth 2.0 one as a bearer token.
AccountCredentials = UserCredentials | BearerCredentials


@dataclass(frozen=True)
class OAuth2Tokens:
    """What X's token endpoint answers for an OAuth 2.0 user: the access token (about two
    hours), the refresh token (with offline.access; X rotates it) and the granted scopes."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scope: str


class XUser(NamedTuple):
    """An X account as GET /2/users/me or GET /2/users/{id} answers it. `name` (the
    profile's display name) only from the latter: "" where it is not read."""

    id: str
    username: str
    name: str = ""


@dataclass(frozen=True)
class RequestToken:
    """The temporary credentials between request_token and access_token."""

    oauth_token: str
    oauth_token_secret: str = field(repr=False)


class AccessToken(NamedTuple):
    """The account that approved the app, and its credentials."""

    user_id: str
    screen_name: str
    credentials: UserCredentials


@dataclass(frozen=True)
class DownloadedMedia:
    """A photo, video or GIF downloaded from X."""

    file_name: str
    content_type: str
    data: bytes = field(repr=False)


class Webhook(NamedTuple):
    id: str
    url: str
    valid: bool
    created_at: str | None


class WebhookApi(StrEnum):
    """Which API delivers a subscribed account's events to a webhook."""

    ACCOUNT_ACTIVITY = "account_activity"  # AAA v2: deprecated, no end date published
    ACTIVITY = "activity"  # XAA


class PublicKeyRecord(NamedTuple):
    """One of a user's X Chat public keys, as GET /2/users/{id}/public_keys answers it: the
    identity key (what conversation keys are encrypted to), the signing key (what verifies
    the user's messages) and the identity key's signature binding the two. Public."""

    public_key_version: str
    public_key: str
    signing_public_key: str
    identity_public_key_signature: str


class ChatEvent(NamedTuple):
    """An event of an X Chat conversation's history: X's id (its sequence id) and the
    encoded, encrypted and signed event."""

    id: str
    encoded_event: str
    sender_id: str = ""


class ChatEventsPage(NamedTuple):
    """A page of a conversation's history, newest first, with the key-change events of
    the conversation X adds (meta.conversation_key_events); `next_token` for the next
    page, None on the last."""

    events: list[ChatEvent]
    key_change_events: list[str]
    next_token: str | None
