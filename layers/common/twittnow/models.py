"""Domain records shared by functions. Request and response shapes live with the
functions that take and give them."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class User(BaseModel):
    """A tenant (a company using Twittnow) or an admin of the service."""

    model_config = ConfigDict(frozen=True)

    id: str
    username: str
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    is_admin: bool = False
    password_hash: str
    created_at: datetime
    updated_at: datetime


class TokenKind(StrEnum):
    LOGIN = "login"  # from POST /auth/login/, expires after 30 days
    API_KEY = "api_key"  # the developer key from POST /api-key/, for the ServiceNow instance


class Token(BaseModel):
    model_config = ConfigDict(frozen=True)

    digest: str
    user_id: str
    kind: TokenKind
    created_at: datetime
    expires_at: datetime | None = None


class ServiceNowDetails(BaseModel):
    """A tenant's ServiceNow instance and integration user. The password is in Secrets
    Manager, at `secret_arn`; it never enters this record."""

    model_config = ConfigDict(frozen=True)

    id: str
    user_id: str
    instance_url: str
    admin_user: str
    secret_arn: str
    created_at: datetime
    updated_at: datetime
    # The outcome of the last check against the instance (verify, or a failing call).
    status: str = "unverified"
    status_detail: str = ""
    status_checked_at: datetime | None = None


class CustomField(BaseModel):
    """A question the bot asks a customer before opening a case."""

    model_config = ConfigDict(frozen=True)

    id: str
    user_id: str
    field_name: str
    message: str
    created_at: datetime
    updated_at: datetime


class AuditEntry(BaseModel):
    """One change: who made it, to what, when, from where. Field names only, no values,
    so no secret can ever be recorded."""

    model_config = ConfigDict(frozen=True)

    id: str
    at: datetime
    actor_id: str | None = None
    actor_username: str
    action: str
    resource_type: str
    resource_id: str
    tenant_id: str | None = None
    source_ip: str
    changed_fields: list[str] = []


class XConnection(BaseModel):
    """A tenant's connected X account. Its access token and secret are in Secrets
    Manager, at `secret_arn`."""

    model_config = ConfigDict(frozen=True)

    id: str
    user_id: str
    x_user_id: str
    screen_name: str
    secret_arn: str
    webhook_api: str
    webhook_id: str
    subscription_id: str
    connected_at: datetime
    updated_at: datetime
    # "connected", or "broken" once X says the account revoked us (or a call answers 401).
    status: str = "connected"
    status_detail: str = ""


class OAuthRequest(BaseModel):
    """A request token between GET /get-auth-url and X's redirect to the callback."""

    model_config = ConfigDict(frozen=True)

    oauth_token: str
    oauth_token_secret: str
    user_id: str
    expires_at: datetime
