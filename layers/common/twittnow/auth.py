"""Who is calling: resolves `Authorization: Token <key>` (or `Bearer <key>`) to a user."""

from collections.abc import Mapping
from typing import NamedTuple

from twittnow import clock
from twittnow.errors import NotAuthenticated, PermissionDenied
from twittnow.models import Token, TokenKind, User
from twittnow.ports import Ports
from twittnow.tokens import digest

_SCHEMES = ("token", "bearer")


class Caller(NamedTuple):
    user: User
    token: Token
    source_ip: str = ""

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    def may_manage(self, user_id: str) -> bool:
        """Admins manage everyone; a tenant manages only itself."""
        return self.is_admin or self.user.id == user_id


def authenticate(
    ports: Ports, headers: Mapping[str, str], *, allow_api_key: bool = False, source_ip: str = ""
) -> Caller:
    key = _key_from(headers.get("Authorization"))
    token = ports.tokens.get(digest(key))
    if token is None or (token.expires_at is not None and token.expires_at <= clock.now()):
        raise NotAuthenticated("Invalid or expired token. Log in again with POST /auth/login/.")
    if token.kind == TokenKind.API_KEY and not allow_api_key:
        raise PermissionDenied(
            "A developer API key only authenticates POST /events/. "
            "Use a login token from POST /auth/login/ here."
        )
    user = ports.users.get(token.user_id)
    if user is None:
        raise NotAuthenticated("Invalid or expired token. Log in again with POST /auth/login/.")
    return Caller(user=user, token=token, source_ip=source_ip)


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise PermissionDenied("Only an admin may do this.")


def _key_from(header: str | None) -> str:
    if not header:
        raise NotAuthenticated(
            "Authentication credentials were not provided. Send 'Authorization: Token <key>'."
        )
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() not in _SCHEMES or not key.strip():
        raise NotAuthenticated("Malformed Authorization header. Send 'Authorization: Token <key>'.")
    return key.strip()
