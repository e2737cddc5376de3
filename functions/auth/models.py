"""Request and response shapes of the auth API."""

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from twittnow.api import Body
from twittnow.models import AuditEntry, User


def _email_address(value: str) -> str:
    """pydantic's EmailStr check, imported on first use: email-validator (and with it
    dnspython) would otherwise load in every auth function's cold start, logins included.
    NFKC first: fullwidth `ａｄｍｉｎ@example.com` is stored as the `admin@example.com` it
    shows (usernames are unique in twittnow.names.matching_key form anyway)."""
    from pydantic.networks import validate_email

    return validate_email(unicodedata.normalize("NFKC", value))[1]


EmailAddress = Annotated[
    str, AfterValidator(_email_address), WithJsonSchema({"type": "string", "format": "email"})
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)]
CompanyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
# Long enough to resist guessing, short enough that hashing it is no denial of service;
# twittnow.passwords.ensure_acceptable refuses common ones and the username.
# SecretStr keeps passwords out of every repr, and so out of debug logs.
Password = Annotated[SecretStr, Field(min_length=8, max_length=1024)]


class _Request(Body):
    model_config = ConfigDict(extra="forbid")


class CreateUserRequest(_Request):
    username: EmailAddress
    password: Password
    company_name: CompanyName
    first_name: Name = ""
    last_name: Name = ""
    is_admin: StrictBool = False


class UpdateUserRequest(_Request):
    """PUT: every detail but the password, which has its own endpoint."""

    username: EmailAddress
    first_name: Name
    last_name: Name
    company_name: CompanyName
    is_admin: StrictBool | None = None


class PartialUpdateUserRequest(_Request):
    """PATCH: any of the fields, none of them null (the default only marks "not sent")."""

    # pydantic does not validate defaults: None marks a field not sent, and a null sent is
    # still refused, which typing the fields `| None` would allow (hence the ignores).
    username: EmailAddress = None  # type: ignore[assignment]
    first_name: Name = None  # type: ignore[assignment]
    last_name: Name = None  # type: ignore[assignment]
    company_name: CompanyName = None  # type: ignore[assignment]
    is_admin: StrictBool = None  # type: ignore[assignment]


class SetPasswordRequest(_Request):
    password: Password


class LoginRequest(_Request):
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]
    password: Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class UserView(Body):
    """A user as the API shows it: never the password or its hash."""

    id: str
    username: str
    first_name: str
    last_name: str
    company_name: str
    is_admin: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserView":
        return cls.model_validate(user.model_dump(exclude={"password_hash"}))


class LoginResponse(Body):
    token: str
    expiry: datetime
    user: UserView


class ApiKeyResponse(Body):
    token: str
    created_at: datetime


class AuditEntryView(Body):
    """An audit entry in the style of the peers' audit logs (seeds/004)."""

    id: str
    timestamp: datetime
    user: str
    user_id: str | None
    action: str
    resource_type: str
    resource_id: str
    tenant_id: str | None
    changed_fields: list[str]
    ip_address: str

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditEntryView":
        return cls(
            id=entry.id,
            timestamp=entry.at,
            user=entry.actor_username,
            user_id=entry.actor_id,
            action=entry.action,
            resource_type=entry.resource_type,
            resource_id=entry.resource_id,
            tenant_id=entry.tenant_id,
            changed_fields=entry.changed_fields,
            ip_address=entry.source_ip,
        )
