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
