"""What X's calls take and answer: a connected account's credentials, OAuth's tokens,
downloaded media, webhooks, and which API delivers a subscribed account's events."""

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class UserCredentials:
    """A connected account's OAuth 1.0a access token and secret."""

    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


@dataclass(frozen=True)
class RequestToken:
    """The temporary credentials between request_token and access_token."""

    oauth_token: str
    oauth_token_secret: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
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


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    valid: bool
    created_at: str | None


class WebhookApi(StrEnum):
    """Which API delivers a subscribed account's events to a webhook."""

    ACCOUNT_ACTIVITY = "account_activity"  # AAA v2: deprecated, no end date published
    ACTIVITY = "activity"  # XAA
