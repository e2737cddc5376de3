"""The fakes (tests.fakes) hold to their repositories' contracts: the same checks, run
against each fake and against the real repository on the template's tables in moto.
A fake that drifts from its repository fails here, not in the tests built on it."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from tests.fakes import fake_ports
from tests.moto_tables import template_tables
from twittnow import clock, wiring
from twittnow.clients.x.models import PublicKeyRecord
from twittnow.lifecycle import IllegalTransition
from twittnow.models import (
    AuditEntry,
    Channel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Customer,
    CustomField,
    MessageDirection,
    MessageStatus,
    OAuthRequest,
    PendingXConnection,
    RecoveryState,
    ReplayRequest,
    SealedChatMessage,
    ServiceNowDetails,
    Token,
    TokenKind,
    User,
    XConnection,
)
from twittnow.ports import Ports
from twittnow.repositories.credentials import (
    AccountHeldByAnotherTenant,
    AlreadyConnected,
    PendingConnectionGone,
    RecordChanged,
)
from twittnow.repositories.custom_fields import FieldChanged, FieldNameTaken
from twittnow.repositories.login_attempts import TooManyAttempts
from twittnow.repositories.secrets import SecretGone
from twittnow.repositories.tokens import ConditionNotMet
from twittnow.repositories.users import UserChanged, UserGone, UsernameTaken

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=1)

TABLES = (
    "UsersTable",
    "TokensTable",
    "LoginAttemptsTable",
    "CredentialsTable",
    "CustomFieldsTable",
    "AuditLogTable",
    "OAuthRequestsTable",
    "CustomersTable",
    "ConversationsTable",
    "MessagesTable",
    "EchoesTable",
    "CaseEventsTable",
    "ChatKeysTable",
    "RecoveryTable",
)


@pytest.fixture(params=["fake", "moto"])
def ports(request, monkeypatch) -> Iterator[Ports]:
    """The fakes, or the real adapters (twittnow.wiring) on the template's tables in moto."""
    monkeypatch.setattr(clock, "now", lambda: NOW)
    if request.param == "fake":
        yield fake_ports()
        return
    with template_tables(monkeypatch, "contracts", *TABLES):
        yield wiring.ports()


# ---------------------------------------------------------------- users


def user(user_id: str = "user-1", username: str = "jane@example.com", **fields) -> User:
    values = {"password_hash": "hash-1", "created_at": NOW, "updated_at": NOW, **fields}
    return User(id=user_id, username=username, **values)


def test_a_username_is_taken_whatever_its_case_or_width(ports):
    ports.users.create(user())

    with pytest.raises(UsernameTaken):
        ports.users.create(user("user-2", "ＪＡＮＥ@example.com"))

    assert ports.users.get_by_username("JANE@EXAMPLE.COM") == user()
    assert ports.users.get_by_username("john@example.com") is None
    assert ports.users.get("user-2") is None


def test_a_user_changed_since_it_was_read_is_not_written_over(ports):
    read = user()
    ports.users.create(read)
    ports.users.replace(read.model_copy(update={"first_name": "Jo", "updated_at": LATER}), read)

    stale = read.model_copy(update={"last_name": "Doe", "updated_at": LATER})
    with pytest.raises(UserChanged):
        ports.users.replace(stale, read)
    with pytest.raises(UserChanged):
        ports.users.delete(read)

    stored = ports.users.get("user-1")
    assert stored is not None and (stored.first_name, stored.last_name) == ("Jo", "")


def test_a_deleted_user_is_gone_for_a_change_and_frees_its_username(ports):
    read = user()
    ports.users.create(read)
    ports.users.delete(read)

    with pytest.raises(UserGone):
        ports.users.replace(read.model_copy(update={"updated_at": LATER}), read)
    ports.users.create(user("user-2"))
    assert ports.users.get_by_username("jane@example.com") == user("user-2")


def test_a_rename_moves_the_claim_and_cannot_take_another_users_name(ports):
    jane, john = user(), user("user-2", "john@example.com", created_at=LATER)
    ports.users.create(jane)
    ports.users.create(john)

    with pytest.raises(UsernameTaken):
        ports.users.replace(john.model_copy(update={"username": "Jane@example.com"}), john)
    renamed = jane.model_copy(update={"username": "janet@example.com", "updated_at": LATER})
    ports.users.replace(renamed, jane)

    assert ports.users.get_by_username("janet@example.com") == renamed
    assert ports.users.get_by_username("jane@example.com") is None
    assert ports.users.list_all() == [renamed, john]


# ---------------------------------------------------------------- tokens


def token(digest: str, kind: TokenKind = TokenKind.LOGIN, user_id: str = "user-1") -> Token:
    return Token(digest=digest, user_id=user_id, kind=kind, created_at=NOW)


def test_a_login_token_is_added_only_while_the_password_read_stands(ports):
    read = user()
    ports.users.create(read)
    ports.tokens.add_while_password_is(token("login-1"), read)
    changed = read.model_copy(update={"password_hash": "hash-2", "updated_at": LATER})
    ports.users.replace(changed, read)

    with pytest.raises(ConditionNotMet):
        ports.tokens.add_while_password_is(token("login-2"), read)

    assert ports.tokens.get("login-1") is not None
    assert ports.tokens.get("login-2") is None


def test_a_new_api_key_revokes_the_one_it_replaces(ports):
    ports.tokens.replace_api_key(token("key-1", TokenKind.API_KEY))
    ports.tokens.replace_api_key(token("key-2", TokenKind.API_KEY))

    assert ports.tokens.get("key-1") is None
    assert ports.tokens.get("key-2") == token("key-2", TokenKind.API_KEY)


def test_a_users_tokens_are_deleted_by_kind_but_the_one_kept(ports):
    for digest, kind in (("login-1", TokenKind.LOGIN), ("login-2", TokenKind.LOGIN)):
        ports.tokens.add(token(digest, kind))
    ports.tokens.replace_api_key(token("key-1", TokenKind.API_KEY))
    ports.tokens.add(token("other-login", user_id="user-2"))

    ports.tokens.delete_for_user("user-1", TokenKind.LOGIN, keep_digest="login-2")

    kept = ["login-2", "key-1", "other-login"]
    assert [d for d in ("login-1", *kept) if ports.tokens.get(d)] == kept


def test_deleting_all_a_users_tokens_empties_the_api_key_slot(ports):
    ports.tokens.replace_api_key(token("key-1", TokenKind.API_KEY))
    ports.tokens.delete_for_user("user-1", keep_digest="key-1")

    # The slot went with the other tokens: the next key no longer names key-1 to revoke.
    ports.tokens.replace_api_key(token("key-2", TokenKind.API_KEY))
    assert ports.tokens.get("key-1") is not None


def test_a_tokens_expiry_is_kept_in_whole_seconds(ports):
    expires_at = NOW + timedelta(days=30, microseconds=500)
    ports.tokens.add(token("login-1").model_copy(update={"expires_at": expires_at}))

    stored = ports.tokens.get("login-1")
    assert stored is not None and stored.expires_at == NOW + timedelta(days=30)


# ---------------------------------------------------------------- login attempts


def test_attempts_past_the_limit_are_refused_until_the_window_ends(ports):
    window = timedelta(minutes=15)
    for _ in range(3):
        assert ports.login_attempts.count_attempt("jane", NOW, window, limit=3) == NOW + window

    with pytest.raises(TooManyAttempts) as refused:
        ports.login_attempts.count_attempt("jane", NOW + timedelta(minutes=5), window, limit=3)
    assert refused.value.window_ends == NOW + window

    after = NOW + window + timedelta(seconds=1)
    assert ports.login_attempts.count_attempt("jane", after, window, limit=3) == after + window


def test_an_attempt_taken_back_is_not_counted(ports):
    window = timedelta(minutes=15)
    ends = ports.login_attempts.count_attempt("jane", NOW, window, limit=2)
    ports.login_attempts.count_attempt("jane", NOW, window, limit=2)
    ports.login_attempts.take_back("jane", ends)

    ports.login_attempts.count_attempt("jane", NOW, window, limit=2)
    with pytest.raises(TooManyAttempts):
        ports.login_attempts.count_attempt("jane", NOW, window, limit=2)


def test_a_windows_only_attempt_taken_back_leaves_no_window(ports):
    window = timedelta(minutes=15)
    ends = ports.login_attempts.count_attempt("jane", NOW, window, limit=2)
    ports.login_attempts.take_back("jane", ends)

    later = NOW + timedelta(minutes=1)
    assert ports.login_attempts.count_attempt("jane", later, window, limit=2) == later + window


# ---------------------------------------------------------------- credentials


def servicenow_details(tenant_id: str = "tenant-1", **fields) -> ServiceNowDetails:
    values = {
        "id": f"details-{tenant_id}",
        "instance_url": "https://acme.service-now.com",
        "admin_user": "admin",
        "secret_arn": "arn:secret",
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return ServiceNowDetails(user_id=tenant_id, **values)


def test_a_tenant_has_one_servicenow_record(ports):
    ports.credentials.add_servicenow(servicenow_details())

    with pytest.raises(AlreadyConnected):
        ports.credentials.add_servicenow(servicenow_details(id="details-2"))
    assert ports.credentials.servicenow_by_id("details-tenant-1") == servicenow_details()
    assert ports.credentials.servicenow_by_id("details-2") is None


def test_servicenow_details_changed_meanwhile_take_neither_a_change_nor_a_status(ports):
    read = servicenow_details()
    ports.credentials.add_servicenow(read)
    first = read.model_copy(update={"admin_user": "first", "updated_at": LATER})
    ports.credentials.replace_servicenow(first, read)

    with pytest.raises(RecordChanged):
        ports.credentials.replace_servicenow(read.model_copy(update={"updated_at": LATER}), read)
    outcome = {"status": "bad_credentials", "status_detail": "401", "status_checked_at": LATER}
    assert not ports.credentials.record_servicenow_status(read.model_copy(update=outcome))
    checked = first.model_copy(update=outcome)
    assert ports.credentials.record_servicenow_status(checked)
    assert ports.credentials.servicenow_of("tenant-1") == checked


def pending(tenant_id: str = "tenant-1", x_user_id: str = "900", **fields) -> PendingXConnection:
    values = {"code_digest": f"code-{tenant_id}-{x_user_id}", "screen_name": "acme", **fields}
    return PendingXConnection(
        user_id=tenant_id,
        x_user_id=x_user_id,
        sealed_tokens="sealed",
        expires_at=NOW + timedelta(minutes=10),
        **values,
    )


def connection(tenant_id: str = "tenant-1", x_user_id: str = "900", **fields) -> XConnection:
    values = {
        "id": f"connection-{tenant_id}-{x_user_id}",
        "screen_name": "acme",
        "secret_arn": "arn:secret",
        "webhook_api": "activity",
        "webhook_id": "webhook-1",
        "subscription_id": "subscription-1",
        "connected_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return XConnection(user_id=tenant_id, x_user_id=x_user_id, **values)


def test_confirming_uses_up_the_pending_connection_and_claims_the_account(ports):
    ports.credentials.add_x_pending(pending())
    assert ports.credentials.x_pending("code-tenant-1-900") == pending()

    ports.credentials.confirm_x(connection(), pending())

    assert ports.credentials.x_pending("code-tenant-1-900") is None
    assert ports.credentials.holds_account("900")
    assert ports.credentials.x_by_account("900") == connection()
    assert ports.credentials.x_by_id("connection-tenant-1-900") == connection()
    with pytest.raises(PendingConnectionGone):
        ports.credentials.confirm_x(connection(), pending())


def test_a_pending_connection_expired_or_of_another_tenant_connects_nothing(ports, monkeypatch):
    ports.credentials.add_x_pending(pending())

    with pytest.raises(PendingConnectionGone):
        ports.credentials.confirm_x(connection("tenant-2"), pending())
    monkeypatch.setattr(clock, "now", lambda: NOW + timedelta(minutes=10))
    assert ports.credentials.x_pending("code-tenant-1-900") is None
    with pytest.raises(PendingConnectionGone):
        ports.credentials.confirm_x(connection(), pending())
    assert not ports.credentials.holds_account("900")


def test_one_tenant_per_account_and_one_account_per_tenant(ports):
    ports.credentials.add_x_pending(pending())
    ports.credentials.confirm_x(connection(), pending())

    ports.credentials.add_x_pending(pending("tenant-2"))
    with pytest.raises(AccountHeldByAnotherTenant):
        ports.credentials.confirm_x(connection("tenant-2"), pending("tenant-2"))
    ports.credentials.add_x_pending(pending(x_user_id="901"))
    with pytest.raises(AlreadyConnected):
        ports.credentials.confirm_x(connection(x_user_id="901"), pending(x_user_id="901"))

    # The same account again replaces the tenant's record.
    ports.credentials.add_x_pending(pending(code_digest="again"))
    again = connection(screen_name="acme_new")
    ports.credentials.confirm_x(again, pending(code_digest="again"))
    assert ports.credentials.all_x() == [again]


def test_a_disconnected_account_is_released_and_its_record_takes_no_change(ports):
    ports.credentials.add_x_pending(pending())
    ports.credentials.confirm_x(connection(), pending())
    assert ports.credentials.replace_x(connection(status="broken"))

    ports.credentials.disconnect_x(connection(), released_at=LATER)

    assert not ports.credentials.holds_account("900")
    assert ports.credentials.x_by_account("900") is None
    assert ports.credentials.account_released_at("900") == LATER
    assert not ports.credentials.replace_x(connection())
    assert ports.credentials.x_of("tenant-1") is None


def test_a_connection_s_refresh_lease_has_one_holder_until_it_runs_out(ports):
    credentials = ports.credentials
    until = NOW + timedelta(seconds=15)

    assert credentials.take_x_refresh("connection-1", "first", NOW, until)
    assert not credentials.take_x_refresh("connection-1", "second", NOW, until)
    # Another connection's lease is its own.
    assert credentials.take_x_refresh("connection-2", "second", NOW, until)
    # Still running a millisecond before its end; taken over (a crashed holder) at it.
    almost = until - timedelta(milliseconds=1)
    assert not credentials.take_x_refresh("connection-1", "second", almost, almost + (until - NOW))
    assert credentials.take_x_refresh(
        "connection-1", "second", until, until + timedelta(seconds=15)
    )
    # The crashed holder's release leaves the new holder's lease alone.
    credentials.release_x_refresh("connection-1", "first")
    assert not credentials.take_x_refresh("connection-1", "third", until, until)
    credentials.release_x_refresh("connection-1", "second")
    assert credentials.take_x_refresh("connection-1", "third", until, until)
    # Leases are not connections.
    assert credentials.all_x() == []
    assert credentials.x_by_id("connection-1") is None


def test_a_renewed_secret_version_is_recorded_on_the_connection_alone(ports):
    ports.credentials.add_x_pending(pending())
    ports.credentials.confirm_x(connection(secret_version="v1"), pending())
    assert ports.credentials.replace_x(connection(secret_version="v1", status="broken"))

    assert ports.credentials.record_x_secret_version(connection(), "v2")

    stored = ports.credentials.x_current(connection())
    assert stored == connection(secret_version="v2", status="broken")
    assert ports.credentials.x_current(connection(id="another")) is None
    ports.credentials.disconnect_x(connection(), released_at=LATER)
    assert not ports.credentials.record_x_secret_version(connection(), "v3")
    assert ports.credentials.x_current(connection()) is None
    assert ports.credentials.x_of("tenant-1") is None


# ---------------------------------------------------------------- custom fields


def field(field_id: str, name: str, tenant_id: str = "tenant-1", **fields) -> CustomField:
    values = {"message": f"Your {name}?", "created_at": NOW, "updated_at": NOW, **fields}
    return CustomField(id=field_id, user_id=tenant_id, field_name=name, **values)


def test_field_names_are_unique_per_tenant_and_fields_come_in_question_order(ports):
    ports.custom_fields.add(field("f-2", "order", created_at=LATER))
    ports.custom_fields.add(field("f-1", "email"))
    ports.custom_fields.add(field("f-3", "Order", tenant_id="tenant-2"))

    with pytest.raises(FieldNameTaken):
        ports.custom_fields.add(field("f-4", "ORDER"))
    assert [f.id for f in ports.custom_fields.of_tenant("tenant-1")] == ["f-1", "f-2"]

    with pytest.raises(FieldChanged):
        ports.custom_fields.delete(field("f-1", "email", updated_at=LATER))
    ports.custom_fields.delete_tenant("tenant-1")
    assert ports.custom_fields.of_tenant("tenant-1") == []
    ports.custom_fields.add(field("f-5", "order"))


# ---------------------------------------------------------------- audit log and OAuth


def test_the_audit_log_answers_a_period_newest_first(ports):
    for minutes in (0, 1, 2):
        ports.audit_log.add(
            AuditEntry(
                id=f"entry-{minutes}",
                at=NOW + timedelta(minutes=minutes),
                actor_username="admin",
                action="user.created",
                resource_type="user",
                resource_id="user-1",
                source_ip="127.0.0.1",
            )
        )

    found = ports.audit_log.between(NOW + timedelta(minutes=1), NOW + timedelta(minutes=2))
    assert [entry.id for entry in found] == ["entry-2", "entry-1"]


def test_an_oauth_request_is_spent_once_or_by_too_many_refused_verifiers(ports):
    request = OAuthRequest(
        oauth_token="request-1",
        oauth_token_secret="secret",
        user_id="tenant-1",
        expires_at=NOW + timedelta(minutes=15),
    )
    ports.oauth_requests.add(request)
    ports.oauth_requests.verifier_refused(request, max_failures=2)

    stored = ports.oauth_requests.get("request-1")
    assert stored is not None and stored.verifier_failures == 1
    ports.oauth_requests.verifier_refused(request, max_failures=2)  # the caller's copy: 0
    assert ports.oauth_requests.get("request-1") is None

    ports.oauth_requests.add(request)
    assert ports.oauth_requests.spend("request-1")
    assert not ports.oauth_requests.spend("request-1")


@pytest.mark.parametrize("return_to_console", [True, False])
def test_an_oauth_request_keeps_whether_it_returns_to_the_console(ports, return_to_console):
    request = OAuthRequest(
        oauth_token="oauth2:" + "cd" * 32,
        user_id="tenant-1",
        expires_at=NOW + timedelta(minutes=15),
        code_verifier="v" * 86,
        redirect_uri="https://api.example.com/twitter-callback",
        return_to_console=return_to_console,
    )
    ports.oauth_requests.add(request)

    stored = ports.oauth_requests.get(request.oauth_token)
    assert stored is not None and stored.return_to_console is return_to_console


def test_an_oauth2_request_keeps_its_verifier_and_redirect_and_expires(ports, monkeypatch):
    request = OAuthRequest(
        oauth_token="oauth2:" + "ab" * 32,
        user_id="tenant-1",
        expires_at=NOW + timedelta(minutes=15),
        code_verifier="v" * 86,
        redirect_uri="https://api.example.com/twitter-callback",
    )
    ports.oauth_requests.add(request)

    assert ports.oauth_requests.get(request.oauth_token) == request
    monkeypatch.setattr(clock, "now", lambda: NOW + timedelta(minutes=15))
    assert ports.oauth_requests.get(request.oauth_token) is None
    assert ports.oauth_requests.spend(request.oauth_token)  # still there until TTL deletes it


# ---------------------------------------------------------------- customers and echoes


def test_of_customers_sharing_a_consumer_the_first_written_is_its(ports):
    for x_user_id, created_at in (("201", LATER), ("200", NOW)):
        ports.customers.put(
            Customer(
                tenant_id="tenant-1",
                x_user_id=x_user_id,
                screen_name=f"customer{x_user_id}",
                consumer_sys_id="consumer-1",
                created_at=created_at,
                updated_at=created_at,
            )
        )

    first = ports.customers.with_consumer("tenant-1", "consumer-1")
    assert first is not None and first.x_user_id == "200"
    assert ports.customers.with_consumer("tenant-2", "consumer-1") is None


def test_echoes_tell_what_the_service_sent(ports):
    ports.echoes.sending("900", "200")
    ports.echoes.sent("900", "dm-1")

    assert ports.echoes.is_ours("900", "dm-1")
    assert not ports.echoes.is_ours("900", "dm-2")
    assert ports.echoes.sending_since("900", "200") == NOW
    assert ports.echoes.sending_since("900", "201") is None


# ---------------------------------------------------------------- conversations


def conversation(conversation_id: str = "conversation-1", **fields) -> Conversation:
    values = {
        "tenant_id": "tenant-1",
        "account_id": "900",
        "customer_id": "200",
        "customer_screen_name": "jane",
        "channel": Channel.DM,
        "created_at": NOW,
        "last_message_at": NOW,
        **fields,
    }
    return Conversation(id=conversation_id, **values)


def test_a_conversation_is_created_once_and_only_new(ports):
    with pytest.raises(IllegalTransition):
        ports.conversations.get_or_create(conversation(status=ConversationStatus.OPEN))
    assert ports.conversations.get("conversation-1") is None

    first = ports.conversations.get_or_create(conversation())
    assert ports.conversations.get_or_create(conversation(customer_name="Jane")) == first


def test_a_conversations_status_changes_only_along_the_lifecycle(ports):
    ports.conversations.get_or_create(conversation())
    collecting = ports.conversations.update(
        "conversation-1", status=ConversationStatus.COLLECTING, pending_field="email"
    )
    assert (collecting.status, collecting.pending_field) == (ConversationStatus.COLLECTING, "email")
    opened = ports.conversations.update(
        "conversation-1", status=ConversationStatus.OPEN, case_sys_id="a" * 32, pending_field=None
    )
    assert (opened.status, opened.pending_field) == (ConversationStatus.OPEN, None)

    with pytest.raises(IllegalTransition):
        ports.conversations.update("conversation-1", status=ConversationStatus.COLLECTING)
    assert ports.conversations.get("conversation-1") == opened


def test_a_field_updated_to_none_reads_back_as_its_default(ports):
    ports.conversations.get_or_create(conversation(customer_name="Jane"))

    updated = ports.conversations.update("conversation-1", customer_name=None)

    assert updated.customer_name == ""
    assert ports.conversations.get("conversation-1") == updated


def test_an_update_of_an_unknown_conversation_is_refused(ports):
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ports.conversations.update("conversation-9", customer_name="Jane")


def test_a_tenants_conversations_are_found_by_case_and_latest_first(ports):
    ports.conversations.get_or_create(conversation())
    ports.conversations.get_or_create(conversation("conversation-2", last_message_at=LATER))
    ports.conversations.get_or_create(conversation("conversation-3", tenant_id="tenant-2"))
    ports.conversations.update("conversation-1", case_sys_id="a" * 32, case_number="CS0000001")

    found_by_id = ports.conversations.with_case("tenant-1", "a" * 32)
    found_by_number = ports.conversations.with_case("tenant-1", "CS0000001")
    assert found_by_id == found_by_number and found_by_id is not None
    assert found_by_id.id == "conversation-1"
    assert ports.conversations.with_case("tenant-2", "CS0000001") is None
    assert [c.id for c in ports.conversations.of_tenant("tenant-1")] == [
        "conversation-2",
        "conversation-1",
    ]
    assert ports.conversations.delete_tenant("tenant-1") == ["conversation-2", "conversation-1"]
    assert [c.id for c in ports.conversations.all()] == ["conversation-3"]


# ---------------------------------------------------------------- messages


def message(key: str = "0001#event-1", status: MessageStatus = MessageStatus.RECEIVED, **fields):
    values = {
        "direction": MessageDirection.INBOUND,
        "author": "customer",
        "text": "My order is late.",
        "event_id": key.partition("#")[2],
        "sent_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return ConversationMessage(conversation_id="conversation-1", key=key, status=status, **values)


def test_a_message_is_added_once(ports):
    assert ports.messages.add(message()) == (message(), True)

    assert ports.messages.add(message(text="Again")) == (message(), False)
    with pytest.raises(IllegalTransition):
        ports.messages.add(message("0002#event-2", MessageStatus.COMMENTED))
    assert ports.messages.get("conversation-1", "0002#event-2") is None


def test_a_message_status_follows_the_stored_one_not_the_callers_copy(ports):
    read, _ = ports.messages.add(message())
    commenting = ports.messages.update(read, status=MessageStatus.COMMENTING, updated_at=LATER)
    ports.messages.update(commenting, status=MessageStatus.COMMENTED)

    # From RECEIVED (the stale copy) ANSWERED is allowed; from COMMENTED it is not.
    with pytest.raises(IllegalTransition) as refused:
        ports.messages.update(read, status=MessageStatus.ANSWERED)
    assert refused.value.current == MessageStatus.COMMENTED
    stored = ports.messages.get("conversation-1", "0001#event-1")
    assert stored is not None and stored.status == MessageStatus.COMMENTED


def test_an_update_writes_only_the_changed_fields(ports):
    read, _ = ports.messages.add(message())
    ports.messages.update(read, failure="ServiceNow failed")

    answered = ports.messages.update(read, handled=True, updated_at=LATER)

    assert answered.failure == ""  # the caller's copy, with its changes
    stored = ports.messages.get("conversation-1", "0001#event-1")
    assert stored is not None
    assert (stored.failure, stored.handled, stored.updated_at) == ("ServiceNow failed", True, LATER)


def test_a_sealed_chat_part_is_kept_then_dropped_with_the_id_recorded(ports):
    sealed = SealedChatMessage(
        message_id="6b1c4a5e-0d6f-4c8e-9f2a-1c3d5e7f9a0b",
        chat_conversation_id="200:900",
        key_version="1796648266141",
        encoded_message_create_event="Y2lwaGVydGV4dA==",
        encoded_message_event_signature="c2lnbmF0dXJl",
    )
    read, _ = ports.messages.add(message(direction=MessageDirection.OUTBOUND, author="agent"))
    ports.messages.update(read, pending_chat_part=sealed)
    stored = ports.messages.get("conversation-1", "0001#event-1")
    assert stored is not None and stored.pending_chat_part == sealed

    ports.messages.update(read, x_message_ids=[sealed.message_id], pending_chat_part=None)

    stored = ports.messages.get("conversation-1", "0001#event-1")
    assert stored is not None
    assert (stored.x_message_ids, stored.pending_chat_part) == ([sealed.message_id], None)


def test_an_update_of_a_deleted_message_leaves_a_partial_record(ports):
    ports.messages.update(message(), status=MessageStatus.COMMENTING)

    # DynamoDB's update makes an item of the key and the changed fields alone.
    with pytest.raises(ValidationError):
        ports.messages.get("conversation-1", "0001#event-1")


def test_a_conversations_messages_come_oldest_first_and_go_with_it(ports):
    for key in ("0002#event-2", "0001#event-1", "0003#event-3"):
        ports.messages.add(message(key))

    keys = [m.key for m in ports.messages.of_conversation("conversation-1")]
    assert keys == ["0001#event-1", "0002#event-2", "0003#event-3"]
    ports.messages.delete_conversation("conversation-1")
    assert ports.messages.of_conversation("conversation-1") == []


def failed_count(ports) -> int | None:
    stored = ports.conversations.get("conversation-1")
    return None if stored is None else stored.failed_messages


def reply(key: str = "0001#reply-1", status: MessageStatus = MessageStatus.QUEUED, **fields):
    return message(key, status, direction=MessageDirection.OUTBOUND, author="agent", **fields)


def test_a_message_added_failed_counts_on_its_conversation_once(ports):
    ports.conversations.get_or_create(conversation())
    unreadable = message(status=MessageStatus.FAILED, status_detail="unreadable", handled=True)

    assert ports.messages.add(unreadable) == (unreadable, True)
    assert ports.messages.add(unreadable) == (unreadable, False)  # X delivering it again
    ports.messages.add(message("0002#event-2"))
    assert failed_count(ports) == 1


def test_a_reply_counts_going_into_failed_and_out_once(ports):
    ports.conversations.get_or_create(conversation())
    queued, _ = ports.messages.add(reply())

    failed = ports.messages.update(queued, status=MessageStatus.FAILED, status_detail="refused")
    assert failed_count(ports) == 1
    # A retried give-up, from the copy read before or after the first: counted once.
    ports.messages.update(queued, status=MessageStatus.FAILED, status_detail="refused")
    ports.messages.update(failed, status=MessageStatus.FAILED, status_detail="again")
    assert failed_count(ports) == 1

    # Redriven and delivered, from a copy that still says queued: no longer failed.
    ports.messages.update(queued, status=MessageStatus.DELIVERED, handled=True)
    assert failed_count(ports) == 0
    with pytest.raises(IllegalTransition):
        ports.messages.update(failed, status=MessageStatus.FAILED)
    assert failed_count(ports) == 0


def test_a_customers_message_counts_while_its_last_attempt_failed(ports):
    ports.conversations.get_or_create(conversation())
    read, _ = ports.messages.add(message())

    ports.messages.update(read, failure="ServiceNow failed")
    failing = ports.messages.update(read, failure="ServiceNow failed again")
    assert failed_count(ports) == 1
    ports.messages.update(failing, status=MessageStatus.COMMENTING)  # still failing
    assert failed_count(ports) == 1

    # A redrive succeeds, from the copy read before the failures.
    ports.messages.update(read, handled=True, failure="")
    assert failed_count(ports) == 0
    ports.messages.update(read, handled=True, failure="")
    assert failed_count(ports) == 0


def test_a_failure_from_before_counts_were_kept_takes_the_count_below_0_never(ports):
    # Failed with no conversation to count on: as one stored before the count was kept.
    queued, _ = ports.messages.add(reply())
    failed = ports.messages.update(queued, status=MessageStatus.FAILED)
    ports.conversations.get_or_create(conversation())

    ports.messages.update(failed, status=MessageStatus.DELIVERED, handled=True)
    assert failed_count(ports) == 0
    assert ports.messages.get("conversation-1", queued.key).status == MessageStatus.DELIVERED


def test_a_conversation_stored_before_the_count_starts_it_at_0(ports):
    ports.conversations.get_or_create(conversation())
    ports.conversations.update("conversation-1", failed_messages=None)  # no such attribute
    assert failed_count(ports) == 0
    queued, _ = ports.messages.add(reply())

    ports.messages.update(queued, status=MessageStatus.FAILED)

    assert failed_count(ports) == 1


def test_a_recount_is_written_only_over_the_count_it_was_made_from(ports):
    ports.conversations.get_or_create(conversation())
    ports.conversations.update("conversation-1", failed_messages=None)  # from before counts

    assert ports.conversations.recount_failed("conversation-1", 2, was=0)
    assert failed_count(ports) == 2
    # A message went out of failed since the count was read: not written over.
    assert not ports.conversations.recount_failed("conversation-1", 5, was=0)
    assert failed_count(ports) == 2
    assert ports.conversations.recount_failed("conversation-1", 1, was=2)
    assert failed_count(ports) == 1
    assert not ports.conversations.recount_failed("conversation-2", 1, was=0)  # none such
    assert ports.conversations.get("conversation-2") is None


def test_a_failed_message_makes_no_conversation(ports):
    unreadable = message(status=MessageStatus.FAILED, handled=True)
    ports.messages.add(unreadable)
    queued, _ = ports.messages.add(reply())
    ports.messages.update(queued, status=MessageStatus.FAILED)

    assert ports.conversations.get("conversation-1") is None
    assert [m.status for m in ports.messages.of_conversation("conversation-1")] == [
        MessageStatus.FAILED,
        MessageStatus.FAILED,
    ]


def test_an_illegal_status_leaves_the_count(ports):
    ports.conversations.get_or_create(conversation())
    read, _ = ports.messages.add(message())
    commenting = ports.messages.update(read, status=MessageStatus.COMMENTING)
    ports.messages.update(commenting, status=MessageStatus.COMMENTED)

    with pytest.raises(IllegalTransition):
        ports.messages.update(read, status=MessageStatus.FAILED)
    assert failed_count(ports) == 0


# ---------------------------------------------------------------- case events


def test_a_case_event_is_claimed_once_until_it_expires(ports):
    expires_at = NOW + timedelta(hours=1)
    claim = ports.case_events.claim
    assert claim("tenant-1", "event-1", "key-1", "conversation-1", NOW, expires_at) == (
        "conversation-1",
        "key-1",
    )

    again = claim("tenant-1", "event-1", "key-2", "conversation-2", NOW, expires_at)
    assert again == ("conversation-1", "key-1")
    other_tenant = claim("tenant-2", "event-1", "key-3", "conversation-3", NOW, expires_at)
    assert other_tenant == ("conversation-3", "key-3")
    after = expires_at + timedelta(seconds=1)
    renewed = claim(
        "tenant-1", "event-1", "key-4", "conversation-4", after, after + timedelta(hours=1)
    )
    assert renewed == ("conversation-4", "key-4")


# ---------------------------------------------------------------- secrets


def test_a_secret_read_by_version_is_the_value_stored_with_it(ports):
    arn, first = ports.servicenow_secrets.create_version("details-1", "first")
    second = ports.servicenow_secrets.put(arn, "second")

    assert first != second
    assert ports.servicenow_secrets.get(arn, first) == "first"
    assert ports.servicenow_secrets.get(arn, second) == "second"
    ports.servicenow_secrets.delete(arn)
    ports.servicenow_secrets.delete(arn)  # gone already: fine


def test_a_deleted_secret_is_gone_for_a_read_and_a_new_version(ports):
    arn, stored = ports.servicenow_secrets.create_version("details-1", "first")
    ports.servicenow_secrets.delete(arn)

    with pytest.raises(SecretGone):
        ports.servicenow_secrets.get(arn, stored)
    with pytest.raises(SecretGone):
        ports.servicenow_secrets.get(arn)
    with pytest.raises(SecretGone):
        ports.servicenow_secrets.put(arn, "second")
    other, _ = ports.servicenow_secrets.create_version("details-2", "second")
    with pytest.raises(SecretGone):  # an unknown version of a secret that is there, too
        ports.servicenow_secrets.get(other, "00000000-0000-4000-8000-000000000000")


def test_a_secret_is_read_and_written_by_its_name_too(ports):
    name = ports.settings.x_chat_secret_prefix + "900"
    ports.x_chat_secrets.create_version("900", "first")

    assert ports.x_chat_secrets.get(name) == "first"
    assert ports.x_chat_secrets.get(name, fresh=True) == "first"
    second = ports.x_chat_secrets.put(name, "second")
    assert ports.x_chat_secrets.get(name, second) == "second"
    assert ports.x_chat_secrets.get(name, fresh=True) == "second"
    with pytest.raises(SecretGone):
        ports.x_chat_secrets.get(ports.settings.x_chat_secret_prefix + "901")


def test_a_second_secret_of_one_name_is_refused(ports):
    ports.x_chat_secrets.create_version("900", "first")

    with pytest.raises(ClientError) as refused:
        ports.x_chat_secrets.create_version("900", "second")
    assert refused.value.response["Error"]["Code"] == "ResourceExistsException"


# ---------------------------------------------------------------- X Chat keys


def test_a_conversation_key_version_is_kept_once_and_the_latest_is_the_highest_number(ports):
    keys = ports.chat_keys
    assert keys.latest_conversation_key("900", "200:900") is None

    keys.add_conversation_key("900", "200:900", "999", "encrypted-999")
    keys.add_conversation_key("900", "200:900", "1000", "encrypted-1000")
    keys.add_conversation_key("900", "200:900", "999", "encrypted-again")  # kept as it was
    keys.add_conversation_key("900", "300:900", "2000", "encrypted-other")

    assert keys.conversation_key("900", "200:900", "999") == "encrypted-999"
    assert keys.conversation_key("900", "200:900", "1001") is None
    assert keys.conversation_key("901", "200:900", "999") is None
    # Versions are numbers of varying length: "1000" is after "999".
    assert keys.latest_conversation_key("900", "200:900") == ("1000", "encrypted-1000")


def test_public_keys_are_cached_until_they_expire(ports):
    record = PublicKeyRecord("1700000000000", "identity", "signing", "binding")
    ports.chat_keys.cache_public_keys("200", [record], NOW + timedelta(hours=1))
    ports.chat_keys.cache_public_keys("300", [record], NOW)

    assert ports.chat_keys.cached_public_keys("200") == [record]
    assert ports.chat_keys.cached_public_keys("300") is None  # expired: TTL deletes it late
    assert ports.chat_keys.cached_public_keys("400") is None


# ---------------------------------------------------------------- recovery


def test_the_last_delivery_only_moves_forward_and_is_not_the_runs_to_write(ports):
    assert ports.recovery.state() == RecoveryState()
    ports.recovery.delivery_accepted(LATER)
    ports.recovery.delivery_accepted(NOW)  # an instance writing late

    read = ports.recovery.state()
    assert read.delivered_at == LATER
    saved = read.model_copy(
        update={"checked_at": NOW, "covered_until": NOW, "delivered_at": None, "version": 1}
    )
    assert ports.recovery.save_state(saved, read)
    assert ports.recovery.state() == saved.model_copy(update={"delivered_at": LATER})


def test_a_run_s_state_is_written_only_over_the_version_it_read(ports):
    read = ports.recovery.state()
    gap = read.model_copy(update={"gap_from": NOW, "gap_reason": "why", "version": 1})
    assert ports.recovery.save_state(gap, read)
    assert not ports.recovery.save_state(gap.model_copy(update={"version": 1}), read)

    closed = gap.model_copy(update={"gap_from": None, "gap_reason": "", "version": 2})
    assert ports.recovery.save_state(closed, gap)
    assert ports.recovery.state() == closed
    assert not ports.recovery.save_state(closed.model_copy(update={"version": 3}), gap)


def test_a_reconciled_message_is_claimed_once_and_replays_are_listed(ports):
    expires = NOW + timedelta(days=2)
    assert ports.recovery.claim_reconciled("900", "message-1", expires)
    assert not ports.recovery.claim_reconciled("900", "message-1", expires)
    assert ports.recovery.claim_reconciled("901", "message-1", expires)

    def request(at: datetime, job: str) -> ReplayRequest:
        return ReplayRequest(
            webhook_id="1",
            from_date="202503011100",
            to_date="202503011130",
            job_id=job,
            requested_at=at,
            requested_by="service",
            reason="no delivery",
        )

    ports.recovery.add_replay(request(NOW, "job-1"), expires)
    ports.recovery.add_replay(request(LATER, "job-2"), expires)
    assert ports.recovery.replays_since(NOW) == [request(NOW, "job-1"), request(LATER, "job-2")]
    assert ports.recovery.replays_since(LATER) == [request(LATER, "job-2")]


def test_a_tenants_conversations_since_a_time_are_those_that_recent(ports):
    for number, minutes in enumerate((0, 30, 90)):
        ports.conversations.get_or_create(
            Conversation(
                id=f"conversation-{number}",
                tenant_id="tenant-1",
                account_id="900",
                customer_id=f"160{number}",
                customer_screen_name="jane",
                channel=Channel.DM,
                created_at=NOW,
                last_message_at=NOW - timedelta(minutes=minutes),
            )
        )

    recent = ports.conversations.of_tenant("tenant-1", since=NOW - timedelta(minutes=30))

    assert [conversation.id for conversation in recent] == ["conversation-0", "conversation-1"]
    assert len(ports.conversations.of_tenant("tenant-1")) == 3
