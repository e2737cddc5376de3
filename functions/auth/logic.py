"""The auth domain: users, passwords, login tokens. Plain functions over the
repositories; handlers call exactly one of them."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from auth.models import CreateUserRequest, PartialUpdateUserRequest
from twittnow import audit, clock
from twittnow.auth import Caller
from twittnow.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
    UpstreamUnavailable,
)
from twittnow.models import AuditEntry, Token, TokenKind, User
from twittnow.names import matching_key
from twittnow.passwords import ensure_acceptable, hash_password, verify_password
from twittnow.ports import Ports
from twittnow.repositories.login_attempts import TooManyAttempts
from twittnow.repositories.tokens import ConditionNotMet
from twittnow.repositories.users import UserChanged, UserGone, UsernameTaken
from twittnow.tokens import digest, new_token

LOGIN_TOKEN_LIFETIME = timedelta(days=30)
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Login:
    token: str
    expiry: datetime
    user: User


def create_user(ports: Ports, caller: Caller | None, request: CreateUserRequest) -> User:
    password = request.password.get_secret_value()
    ensure_acceptable(password, request.username)
    now = clock.now()
    user = User(
        id=str(uuid.uuid4()),
        username=request.username,
        first_name=request.first_name,
        last_name=request.last_name,
        company_name=request.company_name,
        is_admin=request.is_admin,
        password_hash=hash_password(password),
        created_at=now,
        updated_at=now,
    )
    try:
        ports.users.create(user)
    except UsernameTaken:
        raise _username_taken() from None
    audit.record(ports.audit_log, caller, "user.created", resource_id=user.id, tenant_id=user.id)
    return user


def create_admin(ports: Ports, username: str, password: str) -> User:
    """The operator's way in: the first admin of a stack (createadmin, the local stack)."""
    request = CreateUserRequest(
        username=username, password=SecretStr(password), company_name="Twittnow", is_admin=True
    )
    return create_user(ports, None, request)


def list_users(ports: Ports, search: str | None) -> list[User]:
    users = ports.users.list_all()
    if not search:
        return users
    needle = search.strip().lower()
    return [user for user in users if needle in _searchable_text(user)]


def get_user(ports: Ports, caller: Caller, user_id: str) -> User:
    # Another tenant's id answers 404 like an unknown one: ids don't reveal who exists.
    user = ports.users.get(user_id) if caller.may_manage(user_id) else None
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def update_user(
    ports: Ports, caller: Caller, user_id: str, changes: PartialUpdateUserRequest
) -> User:
    """PATCH and PUT alike: PUT's request simply sets every field."""
    user = get_user(ports, caller, user_id)
    values = changes.model_dump(exclude_unset=True)
    if "is_admin" in values and values["is_admin"] != user.is_admin:
        if not caller.is_admin:
            raise PermissionDenied("Only an admin can change is_admin.")
        if user.id == caller.user.id:
            raise Conflict("An admin cannot remove their own admin rights; ask another admin.")
    changed = {name: value for name, value in values.items() if getattr(user, name) != value}
    if not changed:
        return user
    updated = user.model_copy(update={**changed, "updated_at": clock.now()})
    try:
        ports.users.replace(updated, previous=user)
    except UsernameTaken:
        raise _username_taken() from None
    except UserChanged:
        raise _changed_meanwhile() from None
    except UserGone:
        raise NotFound(f"No user with id {user_id}.") from None
    audit.record(
        ports.audit_log,
        caller,
        "user.updated",
        resource_id=user.id,
        tenant_id=user.id,
        changed_fields=changed,
    )
    return updated


def delete_user(ports: Ports, caller: Caller, user_id: str) -> None:
    user = get_user(ports, caller, user_id)
    if user.id == caller.user.id:
        raise Conflict("An admin cannot delete their own account; ask another admin.")
    connection = ports.credentials.x_of(user.id)
    if connection is not None:  # first: with X down, nothing is deleted and the admin retries
        # Imported here: the X client (requests, OAuth) would slow every auth function's
        # cold start for this one path.
        from twittnow import x_accounts
        from twittnow.clients.x import XRateLimited, XUnavailable

        try:
            x_accounts.disconnect(ports, connection)
        except (XUnavailable, XRateLimited):
            raise UpstreamUnavailable(
                "X did not answer, so the user's X account could not be disconnected; nothing "
                "was deleted. Try again shortly."
            ) from None
    try:
        ports.users.delete(user)
    except UserChanged:
        raise _changed_meanwhile() from None
    except UserGone:
        raise NotFound(f"No user with id {user_id}.") from None
    # Tokens of a deleted user stop working at once anyway (authentication looks the
    # user up); what follows removes what the tenant left behind, its secrets above all.
    ports.tokens.delete_for_user(user.id)
    details = ports.credentials.servicenow_of(user.id)
    if details is not None:
        ports.servicenow_secrets.delete(details.secret_arn)
        ports.credentials.delete_servicenow(details)
    ports.custom_fields.delete_tenant(user.id)
    ports.customers.delete_tenant(user.id)
    for conversation_id in ports.conversations.delete_tenant(user.id):
        ports.messages.delete_conversation(conversation_id)
    audit.record(ports.audit_log, caller, "user.deleted", resource_id=user.id, tenant_id=user.id)


def set_password(ports: Ports, caller: Caller, user_id: str, password: str) -> None:
    """Sets a new password and ends the user's other sessions: every login token but the
    one making this call. The developer API key is not a session and keeps working."""
    user = get_user(ports, caller, user_id)
    ensure_acceptable(password, user.username)
    updated = user.model_copy(
        update={"password_hash": hash_password(password), "updated_at": clock.now()}
    )
    try:
        ports.users.replace(updated, previous=user)
    except UserChanged:
        raise _changed_meanwhile() from None
    except UserGone:
        raise NotFound(f"No user with id {user_id}.") from None
    keep = caller.token.digest if caller.user.id == user.id else None
    ports.tokens.delete_for_user(user.id, kind=TokenKind.LOGIN, keep_digest=keep)
    audit.record(
        ports.audit_log,
        caller,
        "user.password_set",
        resource_id=user.id,
        tenant_id=user.id,
        changed_fields=["password"],
    )


def login(ports: Ports, username: str, password: str) -> Login:
    """The attempt is counted before the password is checked, so that concurrent guesses
    cannot all pass the limit; a success takes it back. Known and unknown usernames make
    the same reads and the same password work (repositories.users, passwords)."""
    now = clock.now()
    attempts, username_key = ports.login_attempts, matching_key(username)
    try:
        window_ends = attempts.count_attempt(
            username_key, now, FAILED_LOGIN_WINDOW, MAX_FAILED_LOGINS
        )
    except TooManyAttempts as locked:
        wait = int((locked.window_ends - now).total_seconds()) + 1
        raise Throttled(
            f"Too many failed logins for this username. Try again in {wait} seconds.", wait
        ) from None
    user = ports.users.get_by_username(username)
    verification = verify_password(user.password_hash if user else None, password)
    if user is None or not verification.valid:
        raise _wrong_credentials()
    token = new_token()
    expiry = now + LOGIN_TOKEN_LIFETIME
    login_token = Token(
        digest=digest(token),
        user_id=user.id,
        kind=TokenKind.LOGIN,
        created_at=now,
        expires_at=expiry,
    )
    try:
        # Only if the password checked is still the user's: a login racing a password
        # change must not leave a session the change did not end.
        ports.tokens.add_while_password_is(login_token, user)
    except ConditionNotMet:
        # The hash changed since it was read. Another login's upgrade of it (below) left
        # the password as it was: the token goes under the new hash, once. A new password
        # does not verify against it, and this login stays refused.
        user = ports.users.get(user.id)
        verification = verify_password(user.password_hash if user else None, password)
        if user is None or not verification.valid:
            raise _wrong_credentials() from None
        try:
            ports.tokens.add_while_password_is(login_token, user)
        except ConditionNotMet:
            raise _wrong_credentials() from None
    attempts.take_back(username_key, window_ends)
    if verification.needs_rehash:
        user = _upgrade_password_hash(ports, user, password)
    return Login(token=token, expiry=expiry, user=user)


def _upgrade_password_hash(ports: Ports, user: User, password: str) -> User:
    upgraded = user.model_copy(update={"password_hash": hash_password(password)})
    try:
        ports.users.replace(upgraded, previous=user)
    except (UserChanged, UserGone):
        return user  # changed meanwhile (a new password, say): that change stands
    return upgraded


def logout(ports: Ports, caller: Caller) -> None:
    ports.tokens.delete(caller.token.digest)


def logout_all(ports: Ports, caller: Caller) -> None:
    ports.tokens.delete_for_user(caller.user.id, kind=TokenKind.LOGIN)


def create_api_key(ports: Ports, caller: Caller) -> tuple[str, datetime]:
    """A new developer API key for the caller's ServiceNow instance; the previous one
    stops working at once. Shown once: only its digest is kept."""
    key, now = new_token(), clock.now()
    ports.tokens.replace_api_key(
        Token(digest=digest(key), user_id=caller.user.id, kind=TokenKind.API_KEY, created_at=now)
    )
    audit.record(
        ports.audit_log,
        caller,
        "api_key.created",
        resource_id=caller.user.id,
        tenant_id=caller.user.id,
    )
    return key, now


def audit_entries(
    ports: Ports, user_id: str | None, action: str | None, start: datetime, end: datetime
) -> list[AuditEntry]:
    """Recorded changes from start to end, newest first; `user_id` matches the actor or
    the tenant a change concerned."""
    entries = ports.audit_log.between(start, end)
    return [
        entry
        for entry in entries
        if (user_id is None or user_id in (entry.actor_id, entry.tenant_id))
        and (action is None or entry.action == action)
    ]


def _wrong_credentials() -> NotAuthenticated:
    return NotAuthenticated("Unable to log in with the given username and password.")


def _changed_meanwhile() -> Conflict:
    return Conflict(
        "This user was changed by another request while yours was being handled, so "
        "nothing was saved. Read the user again and retry."
    )


def _username_taken() -> Conflict:
    return Conflict.not_unique("username", "A user with this username already exists.")


def _searchable_text(user: User) -> str:
    return " ".join((user.username, user.first_name, user.last_name, user.company_name)).lower()
