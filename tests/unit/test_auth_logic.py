"""The auth domain (auth.logic) against the fakes: every branch of logins and their
throttle, users and their races, passwords, sessions, API keys and the audit log, with no
HTTP and no AWS. The API tests (tests/api/test_auth_*.py...) keep what goes through the
handlers and DynamoDB's conditions.

Argon2 at the real parameters costs ~80 ms a hash: tests hash with the cheapest
parameters argon2 takes, except those asking for `real_hashing`."""

import unicodedata
from datetime import datetime, timedelta
from typing import Any

import argon2
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from auth import logic
from auth.models import CreateUserRequest, PartialUpdateUserRequest
from tests.fakes import fake_ports
from tests.fakes.clock import NOW
from tests.fakes.races import racing
from twittnow import clock, passwords
from twittnow.auth import Caller
from twittnow.clients.x import (
    UserCredentials,
    WebhookApi,
    XConnectionBroken,
    XRateLimited,
    XUnavailable,
)
from twittnow.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
    UpstreamUnavailable,
)
from twittnow.models import (
    AuditEntry,
    Channel,
    Conversation,
    ConversationMessage,
    Customer,
    CustomField,
    MessageDirection,
    MessageStatus,
    PendingXConnection,
    ServiceNowDetails,
    TokenKind,
    XConnection,
)
from twittnow.names import matching_key
from twittnow.tokens import digest

PASSWORD = "violet tractor sundial"
NEW_PASSWORD = "new orbit lantern"
REAL_PARAMETERS = "$argon2id$v=19$m=47104,t=1,p=1$"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def real_hashing() -> None:
    """Asks for Argon2 at the production parameters (twittnow.passwords)."""


@pytest.fixture(autouse=True)
def cheap_hashing(request, monkeypatch) -> None:
    if "real_hashing" not in request.fixturenames:
        monkeypatch.setattr(passwords, "_hasher", lambda: CHEAP)


@pytest.fixture
def ports(time):
    return fake_ports()


def create(ports, name: str, *, is_admin: bool = False, by: Caller | None = None, **fields):
    request = CreateUserRequest(
        username=f"{name}@example.com",
        password=SecretStr(PASSWORD),
        is_admin=is_admin,
        **{"company_name": f"{name.title()} Ltd", **fields},
    )
    return logic.create_user(ports, by, request)


def session(ports, username: str, password: str = PASSWORD) -> Caller:
    """Logs in: the caller as authentication would make it from the token."""
    login = logic.login(ports, username, password)
    return Caller(user=login.user, token=ports.tokens.get(digest(login.token)))


@pytest.fixture
def admin(ports) -> Caller:
    create(ports, "admin", is_admin=True)
    return session(ports, "admin@example.com")


@pytest.fixture
def tenant(ports) -> Caller:
    create(ports, "tenant", first_name="Tina", last_name="Turner")
    return session(ports, "tenant@example.com")


def audit_actions(ports) -> list[tuple[str, str | None, str, str | None, list[str]]]:
    """(action, actor's username, resource id, tenant id, changed fields), oldest first."""
    entries = ports.audit_log.between(NOW - timedelta(days=1), NOW + timedelta(days=400))
    return [
        (e.action, e.actor_username, e.resource_id, e.tenant_id, e.changed_fields)
        for e in reversed(entries)
    ]


def logs_in(ports, username: str, password: str) -> bool:
    try:
        logic.login(ports, username, password)
    except NotAuthenticated:
        return False
    return True


# ---------------------------------------------------------------- login


def test_a_login_gives_a_30_day_token_stored_only_as_its_digest(ports, tenant, time):
    time.advance(hours=1)

    login = logic.login(ports, "tenant@example.com", PASSWORD)

    assert login.user == ports.users.get(tenant.user.id)
    assert login.expiry == NOW + timedelta(hours=1, days=30)
    assert len(login.token) == 64
    stored = ports.tokens.get(digest(login.token))
    assert (stored.user_id, stored.kind, stored.created_at, stored.expires_at) == (
        tenant.user.id,
        TokenKind.LOGIN,
        NOW + timedelta(hours=1),
        login.expiry,
    )
    assert ports.tokens.get(login.token) is None
    assert ports.login_attempts.counted(matching_key("tenant@example.com")) == 0  # taken back


def test_a_username_logs_in_whatever_its_case_or_width(ports, tenant):
    for spelling in ("TENANT@example.com", "ｔｅｎａｎｔ@example.com"):
        assert logic.login(ports, spelling, PASSWORD).user.id == tenant.user.id


@pytest.mark.parametrize(
    ("username", "password"),
    [("tenant@example.com", "wrong guess here"), ("nobody@example.com", PASSWORD)],
)
def test_a_wrong_password_or_unknown_username_is_one_401_and_counts(
    ports, tenant, username, password
):
    with pytest.raises(NotAuthenticated) as refused:
        logic.login(ports, username, password)

    assert refused.value.message == "Unable to log in with the given username and password."
    assert ports.login_attempts.counted(matching_key(username)) == 1


def test_a_success_takes_back_only_its_own_attempt(ports, tenant):
    for _ in range(2):
        assert not logs_in(ports, "tenant@example.com", "wrong guess here")

    logic.login(ports, "tenant@example.com", PASSWORD)

    assert ports.login_attempts.counted(matching_key("tenant@example.com")) == 2


def test_five_failures_lock_the_username_for_the_rest_of_the_window_even_for_the_password(
    ports, tenant, time
):
    for _ in range(logic.MAX_FAILED_LOGINS):
        assert not logs_in(ports, "Tenant@Example.com", "wrong guess here")

    with pytest.raises(Throttled) as locked:
        logic.login(ports, "tenant@example.com", PASSWORD)
    assert locked.value.status == 429 and locked.value.retry_after_seconds == 901
    assert "Try again in 901 seconds" in locked.value.message

    time.advance(minutes=10)
    with pytest.raises(Throttled) as still:
        logic.login(ports, "ＴＥＮＡＮＴ@example.com", PASSWORD)  # look-alikes share the limit
    assert still.value.retry_after_seconds == 301
    assert logs_in(ports, "other@example.com", "wrong guess here") is False  # not throttled

    time.advance(minutes=5)
    assert logic.login(ports, "tenant@example.com", PASSWORD).user.id == tenant.user.id


def test_a_login_racing_a_password_change_gets_no_session(ports, tenant, admin, monkeypatch):
    racing(
        monkeypatch,
        logic,
        "verify_password",
        lambda: logic.set_password(ports, admin, tenant.user.id, NEW_PASSWORD),
        after=True,
    )

    with pytest.raises(NotAuthenticated):
        logic.login(ports, "tenant@example.com", PASSWORD)

    assert ports.login_attempts.counted(matching_key("tenant@example.com")) == 1
    assert ports.tokens.get(tenant.token.digest) is None  # the reset ended the sessions
    assert logs_in(ports, "tenant@example.com", NEW_PASSWORD)


def test_a_hash_of_older_parameters_is_upgraded_at_login(ports, tenant):
    older = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    user = ports.users.get(tenant.user.id)
    stored = user.model_copy(update={"password_hash": older})
    ports.users.replace(stored, previous=user)

    login = logic.login(ports, "tenant@example.com", PASSWORD)

    upgraded = ports.users.get(tenant.user.id)
    assert login.user == upgraded
    assert upgraded.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert upgraded.updated_at == stored.updated_at  # not a change of the user's
    assert not passwords.verify_password(upgraded.password_hash, PASSWORD).needs_rehash
    assert logs_in(ports, "tenant@example.com", PASSWORD)


def test_a_hash_of_the_password_as_typed_before_normalizing_is_upgraded(ports, tenant):
    composed = unicodedata.normalize("NFC", "pässwörd gärten")
    decomposed = unicodedata.normalize("NFD", composed)
    user = ports.users.get(tenant.user.id)
    ports.users.replace(
        user.model_copy(update={"password_hash": CHEAP.hash(decomposed)}), previous=user
    )
    assert not logs_in(ports, "tenant@example.com", composed)

    assert logic.login(ports, "tenant@example.com", decomposed).user.password_hash != (
        CHEAP.hash(decomposed)
    )

    assert logs_in(ports, "tenant@example.com", composed)  # one password, however typed
    assert logs_in(ports, "tenant@example.com", decomposed)


@pytest.mark.parametrize("meanwhile", ["password reset", "user deleted"])
def test_an_upgrade_racing_a_change_of_the_user_leaves_that_change_standing(
    ports, tenant, admin, time, monkeypatch, meanwhile
):
    older = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    user = ports.users.get(tenant.user.id)
    stored = user.model_copy(update={"password_hash": older})
    ports.users.replace(stored, previous=user)
    change = {
        "password reset": lambda: logic.set_password(ports, admin, user.id, NEW_PASSWORD),
        "user deleted": lambda: logic.delete_user(ports, admin, user.id),
    }[meanwhile]
    racing(monkeypatch, logic, "hash_password", change)
    time.advance(seconds=1)  # the racing change is a later one

    login = logic.login(ports, "tenant@example.com", PASSWORD)

    assert login.user == stored  # as read: the upgrade was not written
    now_stored = ports.users.get(user.id)
    if meanwhile == "user deleted":
        assert now_stored is None
    else:
        assert passwords.verify_password(now_stored.password_hash, NEW_PASSWORD).valid


def test_a_login_racing_another_logins_hash_upgrade_gets_its_session(
    ports, tenant, time, monkeypatch
):
    older = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    user = ports.users.get(tenant.user.id)
    ports.users.replace(user.model_copy(update={"password_hash": older}), previous=user)
    time.advance(seconds=1)
    racing(
        monkeypatch,
        logic,
        "verify_password",
        lambda: logic.login(ports, "tenant@example.com", PASSWORD),  # upgrades the hash
        after=True,
    )

    login = logic.login(ports, "tenant@example.com", PASSWORD)

    assert ports.tokens.get(digest(login.token)).user_id == tenant.user.id


def test_known_and_unknown_usernames_make_the_same_calls_and_password_work(
    real_hashing, ports, monkeypatch
):
    """At the real parameters: the decoy hash of an unknown username costs what a user's
    hash costs (twittnow.passwords), and the repositories see the same calls."""
    create(ports, "known")
    calls: list[tuple[str, str]] = []
    verified: list[argon2.Parameters] = []

    class Recorded:
        def __init__(self, name: str, fake: Any):
            self.name, self.fake = name, fake

        def __getattr__(self, method: str) -> Any:
            calls.append((self.name, method))
            return getattr(self.fake, method)

    recorded = ports._replace(
        **{
            name: Recorded(name, getattr(ports, name))
            for name in ("users", "tokens", "login_attempts", "credentials", "audit_log")
        },
    )
    real_verify = PasswordHasher.verify

    def verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
        verified.append(argon2.extract_parameters(password_hash))
        return real_verify(hasher, password_hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)

    def work_of(username: str, password: str) -> tuple[list, list]:
        calls.clear(), verified.clear()
        with pytest.raises(NotAuthenticated):
            logic.login(recorded, username, password)
        return list(calls), list(verified)

    for password in ("wrong guess here", unicodedata.normalize("NFD", "wrong pässwörd")):
        known = work_of("known@example.com", password)
        assert known == work_of("unknown@example.com", password)
        assert known[0] == [("login_attempts", "count_attempt"), ("users", "get_by_username")]
        assert {str(p) for p in known[1]} == {str(argon2.extract_parameters(passwords._DECOY_HASH))}
    assert len(known[1]) == 2  # the typed and the normalized forms, for both


def test_users_are_hashed_and_log_in_at_the_real_parameters(real_hashing, ports):
    user = create(ports, "real")
    assert user.password_hash.startswith(REAL_PARAMETERS)

    login = logic.login(ports, "real@example.com", PASSWORD)

    assert login.user == user  # no upgrade needed
    assert ports.users.get(user.id).password_hash == user.password_hash


# ---------------------------------------------------------------- logout, API keys


def test_logout_ends_only_the_calling_session(ports, tenant, admin):
    second = session(ports, "tenant@example.com")

    logic.logout(ports, tenant)

    assert ports.tokens.get(tenant.token.digest) is None
    assert ports.tokens.get(second.token.digest) == second.token
    assert ports.tokens.get(admin.token.digest) == admin.token


def test_logout_all_ends_every_session_of_the_caller_but_not_its_api_key(ports, tenant, admin):
    second = session(ports, "tenant@example.com")
    key, _ = logic.create_api_key(ports, tenant)

    logic.logout_all(ports, tenant)

    assert ports.tokens.get(tenant.token.digest) is None
    assert ports.tokens.get(second.token.digest) is None
    assert ports.tokens.get(digest(key)).kind == TokenKind.API_KEY
    assert ports.tokens.get(admin.token.digest) == admin.token


def test_a_new_api_key_replaces_the_previous_one_at_once(ports, tenant, admin, time):
    first, created_at = logic.create_api_key(ports, tenant)
    time.advance(seconds=1)
    others, _ = logic.create_api_key(ports, admin)
    time.advance(minutes=1)

    second, second_created_at = logic.create_api_key(ports, tenant)

    assert created_at == NOW and second_created_at == NOW + timedelta(minutes=1, seconds=1)
    assert first != second and len(second) == 64
    assert ports.tokens.get(digest(first)) is None
    stored = ports.tokens.get(digest(second))
    assert (stored.user_id, stored.kind, stored.expires_at) == (
        tenant.user.id,
        TokenKind.API_KEY,
        None,
    )
    assert ports.tokens.get(digest(others)) is not None
    assert ports.tokens.get(tenant.token.digest) == tenant.token  # sessions untouched
    assert [entry for entry in audit_actions(ports) if entry[0] == "api_key.created"] == [
        ("api_key.created", "tenant@example.com", tenant.user.id, tenant.user.id, []),
        ("api_key.created", "admin@example.com", admin.user.id, admin.user.id, []),
        ("api_key.created", "tenant@example.com", tenant.user.id, tenant.user.id, []),
    ]


# ---------------------------------------------------------------- creating users


def test_creating_a_user_stores_it_with_a_hash_and_records_it(ports, admin, time):
    time.advance(minutes=2)

    user = create(ports, "new", by=admin, first_name="Nia", last_name="Long")

    assert user.model_dump(exclude={"id", "password_hash"}) == {
        "username": "new@example.com",
        "first_name": "Nia",
        "last_name": "Long",
        "company_name": "New Ltd",
        "is_admin": False,
        "created_at": NOW + timedelta(minutes=2),
        "updated_at": NOW + timedelta(minutes=2),
    }
    assert ports.users.get(user.id) == user
    assert PASSWORD not in user.password_hash
    assert passwords.verify_password(user.password_hash, PASSWORD).valid
    assert audit_actions(ports)[-1] == ("user.created", "admin@example.com", user.id, user.id, [])


def test_the_operators_first_admin_is_recorded_as_the_operators(ports):
    admin = logic.create_admin(ports, "root@example.com", PASSWORD)

    assert (admin.is_admin, admin.company_name) == (True, "Twittnow")
    assert audit_actions(ports) == [("user.created", "operator", admin.id, admin.id, [])]
    entry = ports.audit_log.between(NOW, NOW)[0]
    assert entry.actor_id is None


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaa", "        ", "password123", "PassWord123", "new@example.com"]
)
def test_a_weak_password_creates_nothing(ports, password):
    request = CreateUserRequest(
        username="new@example.com", password=SecretStr(password), company_name="New Ltd"
    )
    with pytest.raises(InvalidInput) as refused:
        logic.create_user(ports, None, request)

    assert list(refused.value.details) == ["password"]
    assert ports.users.get_by_username("new@example.com") is None and audit_actions(ports) == []


def test_a_taken_username_whatever_its_case_is_a_409(ports, tenant):
    with pytest.raises(Conflict) as taken:
        create(ports, "TENANT")

    assert taken.value.details == {"username": ["This field must be unique."]}
    assert [user.id for user in logic.list_users(ports, None)] == [tenant.user.id]


# ---------------------------------------------------------------- reading users


def test_users_are_listed_oldest_first_and_searched(ports, tenant, admin, time):
    time.advance(seconds=1)
    late = create(ports, "zed", company_name="Bolt Works")
    everyone = [tenant.user.id, admin.user.id, late.id]

    def found(search):
        return [user.id for user in logic.list_users(ports, search)]

    assert found(None) == found("") == everyone
    assert found("  TINA ") == [tenant.user.id]  # first name, trimmed, any case
    assert found("turner") == [tenant.user.id]  # last name
    assert found("bolt w") == [late.id]  # company name
    assert found("@example.com") == everyone  # username
    assert found("nobody") == []


def test_a_user_is_shown_to_itself_and_to_admins_and_to_no_one_else(ports, tenant, admin):
    other = create(ports, "other")

    assert logic.get_user(ports, tenant, tenant.user.id) == ports.users.get(tenant.user.id)
    assert logic.get_user(ports, admin, other.id) == other
    for caller, user_id in [(tenant, other.id), (tenant, admin.user.id), (admin, "no-such-id")]:
        with pytest.raises(NotFound, match=f"No user with id {user_id}"):
            logic.get_user(ports, caller, user_id)


# ---------------------------------------------------------------- updating users


def test_an_update_changes_the_fields_sent_and_records_their_names(ports, tenant, time):
    time.advance(minutes=5)
    changes = PartialUpdateUserRequest(first_name="Tina", last_name="Mayer", company_name="T Co")

    updated = logic.update_user(ports, tenant, tenant.user.id, changes)

    assert (updated.first_name, updated.last_name, updated.company_name) == (
        "Tina",
        "Mayer",
        "T Co",
    )
    assert updated.updated_at == NOW + timedelta(minutes=5)
    assert ports.users.get(tenant.user.id) == updated
    assert audit_actions(ports)[-1] == (
        "user.updated",
        "tenant@example.com",
        tenant.user.id,
        tenant.user.id,
        ["company_name", "last_name"],  # first_name was sent unchanged
    )


def test_an_update_that_changes_nothing_writes_nothing(ports, tenant, time, monkeypatch):
    time.advance(minutes=5)
    entries = audit_actions(ports)
    monkeypatch.setattr(ports.users, "replace", None)  # would fail if called

    unchanged = logic.update_user(
        ports, tenant, tenant.user.id, PartialUpdateUserRequest(first_name="Tina", is_admin=False)
    )

    assert unchanged == ports.users.get(tenant.user.id)
    assert unchanged.updated_at == NOW and audit_actions(ports) == entries


def test_a_rename_moves_the_username(ports, tenant):
    logic.update_user(
        ports, tenant, tenant.user.id, PartialUpdateUserRequest(username="renamed@example.com")
    )

    assert logs_in(ports, "renamed@example.com", PASSWORD)
    assert ports.users.get_by_username("tenant@example.com") is None


def test_renaming_onto_a_taken_username_is_a_409_and_changes_nothing(ports, tenant, admin):
    with pytest.raises(Conflict) as taken:
        logic.update_user(
            ports, tenant, tenant.user.id, PartialUpdateUserRequest(username="ADMIN@example.com")
        )

    assert "username" in taken.value.details
    assert ports.users.get(tenant.user.id) == tenant.user


def test_a_tenant_cannot_make_itself_admin(ports, tenant):
    with pytest.raises(PermissionDenied, match="Only an admin can change is_admin"):
        logic.update_user(ports, tenant, tenant.user.id, PartialUpdateUserRequest(is_admin=True))
    assert ports.users.get(tenant.user.id).is_admin is False


def test_an_admin_promotes_a_tenant_but_cannot_demote_itself(ports, tenant, admin):
    promoted = logic.update_user(
        ports, admin, tenant.user.id, PartialUpdateUserRequest(is_admin=True)
    )
    assert promoted.is_admin and ports.users.get(tenant.user.id).is_admin

    with pytest.raises(Conflict, match="cannot remove their own admin rights"):
        logic.update_user(ports, admin, admin.user.id, PartialUpdateUserRequest(is_admin=False))
    assert ports.users.get(admin.user.id).is_admin
    # Sending its own unchanged is_admin is no change at all.
    logic.update_user(ports, admin, admin.user.id, PartialUpdateUserRequest(is_admin=True))


def test_an_admin_may_update_a_tenant_but_a_tenant_not_another(ports, tenant, admin):
    other = create(ports, "other")
    logic.update_user(ports, admin, other.id, PartialUpdateUserRequest(last_name="Set"))
    assert ports.users.get(other.id).last_name == "Set"

    with pytest.raises(NotFound):
        logic.update_user(ports, tenant, other.id, PartialUpdateUserRequest(last_name="No"))
    assert ports.users.get(other.id).last_name == "Set"


def test_an_update_based_on_a_user_changed_meanwhile_is_a_409(
    ports, tenant, admin, time, monkeypatch
):
    time.advance(seconds=1)  # the racing change is a later one

    def meanwhile():
        logic.update_user(
            ports, admin, tenant.user.id, PartialUpdateUserRequest(last_name="Admin's")
        )

    racing(monkeypatch, ports.users, "get", meanwhile, after=True)

    with pytest.raises(Conflict, match="changed by another request"):
        logic.update_user(ports, tenant, tenant.user.id, PartialUpdateUserRequest(last_name="Own"))

    assert ports.users.get(tenant.user.id).last_name == "Admin's"


def test_an_update_of_a_user_deleted_meanwhile_is_404(ports, tenant, admin, monkeypatch):
    racing(
        monkeypatch,
        ports.users,
        "get",
        lambda: logic.delete_user(ports, admin, tenant.user.id),
        after=True,
    )

    with pytest.raises(NotFound):
        logic.update_user(ports, admin, tenant.user.id, PartialUpdateUserRequest(last_name="X"))
    assert ports.users.get(tenant.user.id) is None


# ---------------------------------------------------------------- passwords


def test_setting_ones_password_keeps_this_session_and_the_api_key_and_ends_the_others(
    ports, tenant, admin, time
):
    other_session = session(ports, "tenant@example.com")
    key, _ = logic.create_api_key(ports, tenant)
    time.advance(minutes=1)

    logic.set_password(ports, tenant, tenant.user.id, NEW_PASSWORD)

    assert ports.tokens.get(tenant.token.digest) == tenant.token
    assert ports.tokens.get(other_session.token.digest) is None
    assert ports.tokens.get(digest(key)) is not None
    assert ports.tokens.get(admin.token.digest) == admin.token
    assert ports.users.get(tenant.user.id).updated_at == NOW + timedelta(minutes=1)
    assert logs_in(ports, "tenant@example.com", NEW_PASSWORD)
    assert not logs_in(ports, "tenant@example.com", PASSWORD)
    assert audit_actions(ports)[-1] == (
        "user.password_set",
        "tenant@example.com",
        tenant.user.id,
        tenant.user.id,
        ["password"],
    )


def test_an_admin_setting_a_password_ends_every_session_of_the_user_but_not_its_own(
    ports, tenant, admin, time
):
    key, _ = logic.create_api_key(ports, tenant)
    time.advance(seconds=1)

    logic.set_password(ports, admin, tenant.user.id, NEW_PASSWORD)

    assert ports.tokens.get(tenant.token.digest) is None
    assert ports.tokens.get(digest(key)) is not None
    assert ports.tokens.get(admin.token.digest) == admin.token
    assert audit_actions(ports)[-1][:2] == ("user.password_set", "admin@example.com")


@pytest.mark.parametrize("password", ["short", "tenant@example.com", "TENANT", "qwertyuiop"])
def test_a_weak_password_is_refused_and_the_old_one_stays(ports, tenant, password):
    with pytest.raises(InvalidInput):
        logic.set_password(ports, tenant, tenant.user.id, password)

    assert ports.users.get(tenant.user.id) == tenant.user
    assert ports.tokens.get(tenant.token.digest) == tenant.token


def test_a_tenant_cannot_set_another_tenants_password(ports, tenant):
    other = create(ports, "other")
    with pytest.raises(NotFound):
        logic.set_password(ports, tenant, other.id, NEW_PASSWORD)
    assert ports.users.get(other.id) == other


def test_a_password_set_on_a_user_changed_meanwhile_is_a_409(
    ports, tenant, admin, time, monkeypatch
):
    time.advance(seconds=1)

    def meanwhile():
        logic.update_user(ports, admin, tenant.user.id, PartialUpdateUserRequest(last_name="New"))

    racing(monkeypatch, ports.users, "get", meanwhile, after=True)

    with pytest.raises(Conflict):
        logic.set_password(ports, tenant, tenant.user.id, NEW_PASSWORD)

    assert logs_in(ports, "tenant@example.com", PASSWORD)
    assert ports.tokens.get(tenant.token.digest) == tenant.token


def test_a_password_set_on_a_user_deleted_meanwhile_is_404(ports, tenant, admin, monkeypatch):
    racing(
        monkeypatch,
        ports.users,
        "get",
        lambda: logic.delete_user(ports, admin, tenant.user.id),
        after=True,
    )

    with pytest.raises(NotFound):
        logic.set_password(ports, admin, tenant.user.id, NEW_PASSWORD)
    assert ports.users.get(tenant.user.id) is None


# ---------------------------------------------------------------- deleting users


def connect_x(ports, caller: Caller) -> XConnection:
    """An X account connected as twitter_activity.connections connects one."""
    arn, version = ports.x_secrets.create_version("x-1", '{"access_token": "a"}')
    webhook = ports.x.register_webhook("https://api.twittnow.test/twitter-activity")
    connection = XConnection(
        id="x-1",
        user_id=caller.user.id,
        x_user_id="900",
        screen_name="acme_support",
        secret_arn=arn,
        secret_version=version,
        webhook_api=WebhookApi.ACTIVITY.value,
        webhook_id=webhook.id,
        subscription_id="900-dm.received",
        connected_at=NOW,
        updated_at=NOW,
    )
    ports.x.subscribe(WebhookApi.ACTIVITY, webhook.id, "900", UserCredentials("a", "b"))
    pending = PendingXConnection(
        code_digest="code-digest",
        user_id=caller.user.id,
        x_user_id="900",
        screen_name="acme_support",
        sealed_tokens="",
        expires_at=NOW + timedelta(minutes=15),
    )
    ports.credentials.add_x_pending(pending)
    ports.credentials.confirm_x(connection, pending)
    return connection


def tenant_data(ports, tenant_id: str, tag: str) -> dict[str, Any]:
    """ServiceNow details, a custom field, a customer and a conversation with a message."""
    arn, version = ports.servicenow_secrets.create_version(f"sn-{tag}", "password")
    details = ServiceNowDetails(
        id=f"sn-{tag}",
        user_id=tenant_id,
        instance_url="https://acme.service-now.com",
        admin_user="integration",
        secret_arn=arn,
        secret_version=version,
        created_at=NOW,
        updated_at=NOW,
    )
    ports.credentials.add_servicenow(details)
    ports.custom_fields.add(
        CustomField(
            id=f"field-{tag}",
            user_id=tenant_id,
            field_name="Order",
            message="Your order number?",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    ports.customers.put(
        Customer(
            tenant_id=tenant_id, x_user_id="42", screen_name="jo", created_at=NOW, updated_at=NOW
        )
    )
    conversation = ports.conversations.get_or_create(
        Conversation(
            id=Conversation.id_for(tenant_id, "900", "42", Channel.DM),
            tenant_id=tenant_id,
            account_id="900",
            customer_id="42",
            customer_screen_name="jo",
            channel=Channel.DM,
            created_at=NOW,
            last_message_at=NOW,
        )
    )
    ports.messages.add(
        ConversationMessage(
            conversation_id=conversation.id,
            key=f"{clock.sortable(NOW)}#1",
            direction=MessageDirection.INBOUND,
            author="customer",
            text="hello",
            event_id="1",
            status=MessageStatus.RECEIVED,
            sent_at=NOW,
            updated_at=NOW,
        )
    )
    return {"details": details, "conversation": conversation}


def left_of(ports, tenant_id: str, data: dict[str, Any]) -> dict[str, Any]:
    details, conversation = data["details"], data["conversation"]
    return {
        "servicenow": ports.credentials.servicenow_of(tenant_id),
        "secret": details.secret_arn in ports.servicenow_secrets.stored,
        "fields": ports.custom_fields.of_tenant(tenant_id),
        "customer": ports.customers.get(tenant_id, "42"),
        "conversations": ports.conversations.of_tenant(tenant_id),
        "messages": ports.messages.of_conversation(conversation.id),
    }


def test_deleting_a_user_removes_everything_it_left_and_nothing_of_others(
    ports, tenant, admin, time
):
    other = create(ports, "other")
    key, _ = logic.create_api_key(ports, tenant)
    mine, theirs = tenant_data(ports, tenant.user.id, "t"), tenant_data(ports, other.id, "o")
    connection = connect_x(ports, tenant)
    kept = left_of(ports, other.id, theirs)
    time.advance(seconds=1)

    logic.delete_user(ports, admin, tenant.user.id)

    assert ports.users.get(tenant.user.id) is None
    assert ports.users.get_by_username("tenant@example.com") is None  # the username is free
    assert ports.tokens.get(tenant.token.digest) is None and ports.tokens.get(digest(key)) is None
    assert left_of(ports, tenant.user.id, mine) == {
        "servicenow": None,
        "secret": False,
        "fields": [],
        "customer": None,
        "conversations": [],
        "messages": [],
    }
    assert left_of(ports, other.id, theirs) == kept
    # The X account is unsubscribed, its tokens forgotten, its claim released.
    assert [call["user_id"] for call in ports.x.calls_to("unsubscribe")] == ["900"]
    assert ports.credentials.x_of(tenant.user.id) is None
    assert connection.secret_arn not in ports.x_secrets.stored
    assert ports.credentials.account_released_at("900") == NOW + timedelta(seconds=1)
    assert ports.tokens.get(admin.token.digest) == admin.token
    assert audit_actions(ports)[-1] == (
        "user.deleted",
        "admin@example.com",
        tenant.user.id,
        tenant.user.id,
        [],
    )


def test_deleting_a_user_with_nothing_left_behind_deletes_the_user(ports, tenant, admin, time):
    time.advance(seconds=1)
    logic.delete_user(ports, admin, tenant.user.id)

    assert ports.users.get(tenant.user.id) is None
    assert ports.x.calls_to("unsubscribe") == []
    assert audit_actions(ports)[-1][0] == "user.deleted"


def test_an_account_that_revoked_the_app_on_x_does_not_stop_its_tenants_deletion(
    ports, tenant, admin
):
    connect_x(ports, tenant)
    ports.x.fail(XConnectionBroken("revoked", status_code=401), "unsubscribe")

    logic.delete_user(ports, admin, tenant.user.id)

    assert ports.users.get(tenant.user.id) is None
    assert ports.credentials.x_of(tenant.user.id) is None


@pytest.mark.parametrize(
    "error",
    [
        XUnavailable("X answered 503", status_code=503),
        XRateLimited("slow down", reset_at=NOW + timedelta(minutes=1)),
    ],
)
def test_x_down_deletes_nothing_and_asks_for_a_retry(ports, tenant, admin, error):
    data = tenant_data(ports, tenant.user.id, "t")
    connection = connect_x(ports, tenant)
    before = left_of(ports, tenant.user.id, data)
    ports.x.fail(error, "unsubscribe")

    with pytest.raises(UpstreamUnavailable, match="nothing was deleted") as raised:
        logic.delete_user(ports, admin, tenant.user.id)

    assert raised.value.status == 503
    assert ports.users.get(tenant.user.id) == tenant.user
    assert ports.credentials.x_of(tenant.user.id) == connection
    assert ports.tokens.get(tenant.token.digest) == tenant.token
    assert left_of(ports, tenant.user.id, data) == before
    assert "user.deleted" not in [entry[0] for entry in audit_actions(ports)]


def test_an_admin_cannot_delete_itself_and_a_tenant_nobody(ports, tenant, admin):
    with pytest.raises(Conflict, match="cannot delete their own account"):
        logic.delete_user(ports, admin, admin.user.id)
    with pytest.raises(NotFound):
        logic.delete_user(ports, tenant, admin.user.id)
    with pytest.raises(NotFound):
        logic.delete_user(ports, admin, "no-such-id")
    assert ports.users.get(admin.user.id) is not None


def test_a_delete_of_a_user_changed_meanwhile_is_a_409_and_deletes_nothing(
    ports, tenant, admin, time, monkeypatch
):
    data = tenant_data(ports, tenant.user.id, "t")
    before = left_of(ports, tenant.user.id, data)
    time.advance(seconds=1)

    def meanwhile():
        logic.update_user(ports, tenant, tenant.user.id, PartialUpdateUserRequest(last_name="New"))

    racing(monkeypatch, ports.users, "get", meanwhile, after=True)

    with pytest.raises(Conflict, match="changed by another request"):
        logic.delete_user(ports, admin, tenant.user.id)

    assert ports.users.get(tenant.user.id).last_name == "New"
    assert left_of(ports, tenant.user.id, data) == before


def test_of_two_deletes_of_one_user_the_late_one_is_404(ports, tenant, admin, monkeypatch):
    racing(
        monkeypatch,
        ports.users,
        "get",
        lambda: logic.delete_user(ports, admin, tenant.user.id),
        after=True,
    )

    with pytest.raises(NotFound):
        logic.delete_user(ports, admin, tenant.user.id)

    assert [entry[0] for entry in audit_actions(ports)].count("user.deleted") == 1


# ---------------------------------------------------------------- the audit log


def entry(at: datetime, action: str, actor_id: str | None, tenant_id: str | None) -> AuditEntry:
    return AuditEntry(
        id=f"{action}-{at:%H%M}",
        at=at,
        actor_id=actor_id,
        actor_username=actor_id or "operator",
        action=action,
        resource_type=action.partition(".")[0],
        resource_id="r",
        tenant_id=tenant_id,
        source_ip="",
    )


@pytest.fixture
def history(ports) -> list[AuditEntry]:
    entries = [
        entry(NOW, "user.created", None, "tenant"),
        entry(NOW + timedelta(hours=1), "user.updated", "admin", "tenant"),
        entry(NOW + timedelta(hours=2), "api_key.created", "tenant", "tenant"),
        entry(NOW + timedelta(hours=3), "user.updated", "admin", "other"),
        entry(NOW + timedelta(hours=4), "user.deleted", "admin", None),
    ]
    for added in entries:
        ports.audit_log.add(added)
    return entries


@pytest.mark.parametrize(
    ("user_id", "action", "expected"),
    [
        (None, None, [4, 3, 2, 1, 0]),  # newest first
        ("tenant", None, [2, 1, 0]),  # the actor or the tenant a change concerned
        ("admin", None, [4, 3, 1]),
        ("nobody", None, []),
        (None, "user.updated", [3, 1]),  # exact
        (None, "user", []),
        ("tenant", "user.updated", [1]),
    ],
)
def test_audit_entries_are_filtered_by_user_and_action(ports, history, user_id, action, expected):
    found = logic.audit_entries(ports, user_id, action, NOW, NOW + timedelta(days=1))
    assert found == [history[i] for i in expected]


def test_audit_entries_are_those_of_the_period(ports, history):
    found = logic.audit_entries(
        ports, None, None, NOW + timedelta(hours=1), NOW + timedelta(hours=3)
    )
    assert found == [history[3], history[2], history[1]]
