"""The fakes (tests.fakes) fit their ports and behave as the other side does: X and
ServiceNow as the real clients answer, queues and secrets as SQS and Secrets Manager.
The tables' fakes are held to their repositories in test_fake_contracts.py."""

import inspect
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel

from tests.fakes import (
    FakeAuditLog,
    FakeCaseEvents,
    FakeConversations,
    FakeCredentials,
    FakeCustomers,
    FakeCustomFields,
    FakeEchoes,
    FakeLoginAttempts,
    FakeMessages,
    FakeOAuthRequests,
    FakeQueue,
    FakeSecrets,
    FakeServiceNow,
    FakeServiceNowInstance,
    FakeTokens,
    FakeUsers,
    FakeX,
    fake_ports,
    fake_settings,
)
from twittnow import clock, consumers, customer_channel, ports, servicenow_instances
from twittnow.clients.servicenow import (
    CaseState,
    ServiceNowBadCredentials,
    ServiceNowNotFound,
    ServiceNowUnavailable,
    ServiceNowUnsafeValue,
)
from twittnow.clients.x import (
    ACTIVITY_EVENT_TYPES,
    UserCredentials,
    WebhookApi,
    XConnectionBroken,
    XMediaRefused,
    XNotFound,
    XRateLimited,
    XRequestRejected,
)
from twittnow.models import (
    Channel,
    Conversation,
    Customer,
    PendingXConnection,
    ServiceNowDetails,
    Token,
    TokenKind,
    User,
    XConnection,
)
from twittnow.repositories.queues import QueueMessage, QueueSendFailed
from twittnow.repositories.secrets import SecretGone
from twittnow.repositories.tokens import ConditionNotMet

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
INSTANCE_URL = "https://acme.service-now.com"

# What mypy checks: each fake satisfies its port.
_users: ports.Users = FakeUsers()
_tokens: ports.Tokens = FakeTokens(_users)
_login_attempts: ports.LoginAttempts = FakeLoginAttempts()
_credentials: ports.Credentials = FakeCredentials()
_custom_fields: ports.CustomFields = FakeCustomFields()
_audit_log: ports.AuditLog = FakeAuditLog()
_oauth_requests: ports.OAuthRequests = FakeOAuthRequests()
_customers: ports.Customers = FakeCustomers()
_fake_conversations = FakeConversations()
_conversations: ports.Conversations = _fake_conversations
_messages: ports.Messages = FakeMessages(_fake_conversations)
_echoes: ports.Echoes = FakeEchoes()
_case_events: ports.CaseEvents = FakeCaseEvents()
_queue: ports.Queue = FakeQueue()
_secrets: ports.Secrets = FakeSecrets()
_x: ports.XApi = FakeX()
_servicenow: ports.ServiceNowApi = FakeServiceNowInstance(INSTANCE_URL)
_connect: ports.ConnectServiceNow = FakeServiceNow()

FAKES = [
    (ports.Users, FakeUsers),
    (ports.Tokens, FakeTokens),
    (ports.LoginAttempts, FakeLoginAttempts),
    (ports.Credentials, FakeCredentials),
    (ports.CustomFields, FakeCustomFields),
    (ports.AuditLog, FakeAuditLog),
    (ports.OAuthRequests, FakeOAuthRequests),
    (ports.Customers, FakeCustomers),
    (ports.Conversations, FakeConversations),
    (ports.Messages, FakeMessages),
    (ports.Echoes, FakeEchoes),
    (ports.CaseEvents, FakeCaseEvents),
    (ports.Queue, FakeQueue),
    (ports.Secrets, FakeSecrets),
    (ports.XApi, FakeX),
    (ports.ServiceNowApi, FakeServiceNowInstance),
]


@pytest.fixture(autouse=True)
def now(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.mark.parametrize(("port", "fake"), FAKES, ids=[port.__name__ for port, _ in FAKES])
def test_each_fake_has_its_ports_methods_with_their_parameters(port, fake):
    """At run time what mypy checks above: a method renamed or given a parameter in the
    port, and not in its fake, fails here."""
    members = {
        name: value
        for name, value in vars(port).items()
        if inspect.isfunction(value) and not name.startswith("_")  # Protocol's own __init__
    }
    assert members, port
    for name, method in members.items():
        expected = _parameters(method)
        assert _parameters(getattr(fake, name)) == expected, f"{fake.__name__}.{name}"


def _parameters(function) -> list[tuple[str, inspect._ParameterKind, bool]]:
    """Name, kind, and whether it has a default, of each parameter."""
    return [
        (parameter.name, parameter.kind, parameter.default is not inspect.Parameter.empty)
        for parameter in inspect.signature(function).parameters.values()
    ]


def test_fake_ports_are_all_fakes_and_take_overrides():
    x = FakeX()
    settings = fake_settings(x_webhook_api="account_activity")

    built = fake_ports(x=x, settings=settings)

    assert built.x is x and built.x() is x
    assert built.settings.x_webhook_api == "account_activity"
    assert isinstance(built.servicenow, FakeServiceNow)
    assert isinstance(built.outbound_queue, FakeQueue)
    assert built.outbound_queue is not built.inbound_queue
    arn, _ = built.x_secrets.create_version("connection-1", "{}")
    assert ":secret:test/x/connection-1-" in arn


def test_tokens_check_the_password_in_the_users_fake_ports_holds():
    built = fake_ports()
    user = User(id="u", username="jane", password_hash="h", created_at=NOW, updated_at=NOW)
    token = Token(digest="d", user_id="u", kind=TokenKind.LOGIN, created_at=NOW)

    with pytest.raises(ConditionNotMet):  # no such user yet
        built.tokens.add_while_password_is(token, user)
    built.users.create(user)
    built.tokens.add_while_password_is(token, user)


# ---------------------------------------------------------------- scripted failures


def test_a_scripted_failure_is_raised_by_the_calls_it_names_then_calls_succeed():
    x = FakeX()
    credentials = UserCredentials("token", "secret")
    x.fail(XConnectionBroken("revoked", status_code=401), "send_dm")

    x.reply(credentials, "post-1", "@jane hello")  # another method: unaffected
    with pytest.raises(XConnectionBroken):
        x.send_dm(credentials, "200", "Hello")
    dm_id = x.send_dm(credentials, "200", "Hello")

    assert [(dm.id, dm.to, dm.text) for dm in x.dms] == [(dm_id, "200", "Hello")]
    assert [args["text"] for args in x.calls_to("send_dm")] == ["Hello", "Hello"]


def test_failures_for_every_call_and_for_any_method():
    instance = FakeServiceNowInstance(INSTANCE_URL)
    instance.fail(ServiceNowUnavailable("down"), times=None)

    for _ in range(3):
        with pytest.raises(ServiceNowUnavailable):
            instance.check_case_api()
    with pytest.raises(ServiceNowUnavailable):
        instance.find_case_by_correlation_id("twittnow:c:1")


def test_a_failure_for_a_method_the_fake_lacks_is_refused():
    with pytest.raises(ValueError, match="send_direct_message"):
        FakeX().fail(XRateLimited("slow", reset_at=NOW), "send_direct_message")


# ---------------------------------------------------------------- X


def test_x_exchanges_the_expected_verifier_only():
    x = FakeX()
    request_token = x.request_token("https://api.example.com/twitter-callback/")

    with pytest.raises(XRequestRejected):
        x.access_token(request_token, "forged")
    assert x.access_token(request_token, x.verifier) == x.account
    assert request_token.oauth_token in x.authorize_url(request_token.oauth_token)


def test_x_subscribes_to_a_registered_webhook_only():
    x = FakeX()
    credentials = UserCredentials("token", "secret")
    with pytest.raises(XRequestRejected):
        x.subscribe(WebhookApi.ACTIVITY, "webhook-9", "900", credentials)

    webhook = x.register_webhook("https://api.example.com/webhook/twitter")
    ids = x.subscribe(WebhookApi.ACTIVITY, webhook.id, "900", credentials)
    assert len(ids.split(",")) == len(ACTIVITY_EVENT_TYPES) == 6  # one per event type
    assert x.subscribe(WebhookApi.ACCOUNT_ACTIVITY, webhook.id, "900", credentials) == "900"
    assert x.list_webhooks() == [webhook]

    x.unsubscribe(WebhookApi.ACCOUNT_ACTIVITY, webhook.id, "900", "900")
    x.unsubscribe(WebhookApi.ACCOUNT_ACTIVITY, webhook.id, "900", "900")  # gone: fine
    assert x.subscriptions == {}


def test_x_media_is_downloaded_from_x_within_the_limit():
    x = FakeX()
    credentials = UserCredentials("token", "secret")
    url = "https://ton.twitter.com/1.1/ton/data/dm/1/2/photo.jpg"
    x.add_media(url, b"12345")

    assert x.download_media(credentials, url).file_name == "photo.jpg"
    with pytest.raises(XMediaRefused):
        x.download_media(credentials, url, max_bytes=4)
    with pytest.raises(XMediaRefused):
        x.download_media(credentials, "https://evil.example.com/photo.jpg")
    with pytest.raises(XNotFound):
        x.download_media(credentials, "https://pbs.twimg.com/media/gone.jpg")


def connected(built: ports.Ports) -> tuple[XConnection, Conversation]:
    """A tenant's X account connected (its tokens in the X secrets), and a DM conversation."""
    arn, version = built.x_secrets.create_version(
        "connection-1", json.dumps({"access_token": "t", "access_token_secret": "s"})
    )
    connection = XConnection(
        id="connection-1",
        user_id="tenant-1",
        x_user_id="900",
        screen_name="acme",
        secret_arn=arn,
        secret_version=version,
        webhook_api="activity",
        webhook_id="webhook-1",
        subscription_id="s",
        connected_at=NOW,
        updated_at=NOW,
    )
    pending = PendingXConnection(
        code_digest="code",
        user_id="tenant-1",
        x_user_id="900",
        screen_name="acme",
        sealed_tokens="sealed",
        expires_at=NOW + timedelta(minutes=10),
    )
    built.credentials.add_x_pending(pending)
    built.credentials.confirm_x(connection, pending)
    conversation = Conversation(
        id="conversation-1",
        tenant_id="tenant-1",
        account_id="900",
        customer_id="200",
        customer_screen_name="jane",
        channel=Channel.DM,
        created_at=NOW,
        last_message_at=NOW,
    )
    return connection, conversation


def test_the_domain_sends_a_dm_through_the_fakes():
    x = FakeX()
    built = fake_ports(x=x)
    connection, conversation = connected(built)

    sent = customer_channel.send(built, connection, conversation, "Thanks, we're on it.")

    assert [(dm.id, dm.to, dm.text) for dm in x.dms] == [(sent[0], "200", "Thanks, we're on it.")]
    assert x.dms[0].credentials == UserCredentials("t", "s")
    assert built.echoes.is_ours("900", sent[0])


def test_a_refused_token_marks_the_connection_broken_through_the_fakes():
    x = FakeX()
    built = fake_ports(x=x)
    connection, conversation = connected(built)
    x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")

    with pytest.raises(XConnectionBroken):
        customer_channel.send(built, connection, conversation, "Hello")

    stored = built.credentials.x_of("tenant-1")
    assert stored is not None and stored.status == "broken"
    [entry] = built.audit_log.between(NOW, NOW)
    assert entry.action == "x_connection.broken"


# ---------------------------------------------------------------- ServiceNow


def test_connecting_records_the_password_of_the_details_version():
    built = fake_ports()
    arn, first = built.servicenow_secrets.create_version("details-1", "first")
    built.servicenow_secrets.put(arn, "second")
    details = ServiceNowDetails(
        id="details-1",
        user_id="tenant-1",
        instance_url=INSTANCE_URL + "/",
        admin_user="integration",
        secret_arn=arn,
        secret_version=first,
        created_at=NOW,
        updated_at=NOW,
    )

    client = servicenow_instances.client_for(built, details)

    servicenow = built.servicenow
    assert isinstance(servicenow, FakeServiceNow)
    assert servicenow.connections == [(INSTANCE_URL, "integration", "first")]
    assert client is servicenow.instance(INSTANCE_URL)


def test_cases_are_numbered_and_found_by_correlation_id_newest_first():
    instance = FakeServiceNowInstance(INSTANCE_URL)
    first = instance.create_case(
        "DM from @jane", "Late order", "c" * 32, correlation_id="twittnow:c:1"
    )
    second = instance.create_case("DM from @jane", "Again", "c" * 32, correlation_id="twittnow:c:1")

    assert (first.number, second.number) == ("CS0000001", "CS0000002")
    assert (first.state, first.active, first.is_open) == (CaseState.NEW, True, True)
    assert instance.find_case_by_correlation_id("twittnow:c:1") == second
    assert instance.find_case_by_correlation_id("twittnow:c:2") is None
    assert instance.get_case("CS0000001") == first
    with pytest.raises(ServiceNowUnsafeValue):
        instance.find_case_by_correlation_id("x^active=true")


def test_comments_notes_and_files_land_on_the_case_and_its_activities():
    instance = FakeServiceNowInstance(INSTANCE_URL)
    case = instance.add_case(state=CaseState.OPEN)
    instance.add_comment(case.sys_id, "Where is it?")
    instance.add_work_note(case.sys_id, "Checked the warehouse.")
    instance.attach_file(case.sys_id, "photo.jpg", "image/jpeg", b"123")

    assert instance.comments(case.number) == ["Where is it?"]
    assert instance.work_notes(case.sys_id) == ["Checked the warehouse."]
    assert [f.file_name for f in instance.files(case.number)] == ["photo.jpg"]
    kinds = [activity.kind for activity in instance.case_activities(case.sys_id)]
    assert kinds == ["attachment", "work_notes", "comments"]  # newest first


def test_a_finished_or_deleted_case_answers_as_servicenow_does():
    instance = FakeServiceNowInstance(INSTANCE_URL)
    case = instance.add_case(state=CaseState.OPEN)

    assert not instance.set_state(case.number, CaseState.RESOLVED).is_open
    assert instance.add_comment(case.sys_id, "Thanks").state == CaseState.RESOLVED
    assert not instance.set_state(case.number, CaseState.CLOSED).active
    instance.delete_case(case.sys_id)
    for missing in (case.sys_id, case.number, "not-a-sys-id"):
        with pytest.raises(ServiceNowNotFound):
            instance.get_case(missing)
    with pytest.raises(ServiceNowNotFound):
        instance.add_comment(case.sys_id, "Hello?")


def test_a_scripted_bad_password_is_what_the_domain_records():
    instance = FakeServiceNowInstance(INSTANCE_URL)
    instance.fail(ServiceNowBadCredentials("User Not Authenticated", status_code=401))

    with pytest.raises(ServiceNowBadCredentials) as refused:
        instance.check_case_api()
    status, _ = servicenow_instances.status_for(refused.value)
    assert status == servicenow_instances.BAD_CREDENTIALS


def test_the_domain_matches_a_customer_to_a_consumer_by_x_user_id():
    built = fake_ports()
    instance = FakeServiceNow().instance(INSTANCE_URL)
    jane = Customer(
        tenant_id="tenant-1",
        x_user_id="200",
        screen_name="jane",
        name="Jane Doe",
        created_at=NOW,
        updated_at=NOW,
    )

    matched = consumers.consumer_of(built.customers, instance, jane)

    [consumer_sys_id] = instance.consumers
    assert instance.consumers[consumer_sys_id]["last_name"] == "Doe"
    assert matched.consumer_sys_id == consumer_sys_id
    profile = instance.find_social_profile("Twitter", "200")
    assert profile is not None and profile.sys_id == matched.social_profile_sys_id
    assert profile.handle == "jane" and profile.consumer.first_name == "Jane"
    # A new record of the same X user finds the consumer by the profile's social_id.
    again = consumers.consumer_of(built.customers, instance, jane)
    assert again.consumer_sys_id == consumer_sys_id
    assert len(instance.calls_to("create_consumer")) == 1


def test_an_instance_without_the_channel_makes_no_profile():
    instance = FakeServiceNowInstance(INSTANCE_URL)
    instance.social_channels = set()

    consumer = instance.create_consumer("Jane", "Doe", "Twitter", "jane", "https://x.com/jane")

    assert instance.get_consumer(consumer.sys_id) == consumer
    assert instance.social_profile_of(consumer.sys_id, "Twitter") is None


# ---------------------------------------------------------------- queues and secrets


class Job(BaseModel):
    conversation_id: str


def test_a_queue_keeps_one_message_per_deduplication_id_and_records_retries():
    queue = FakeQueue()
    queue.fail(QueueSendFailed("SQS refused 1 messages"))
    message = QueueMessage(Job(conversation_id="c-1"), "c-1", "c-1:event-1")

    with pytest.raises(QueueSendFailed):
        queue.send([message])
    queue.send([message, message, QueueMessage(Job(conversation_id="c-1"), "c-1", "c-1:event-2")])
    queue.retry_after("receipt-1", 30)

    assert len(queue.sent) == 3
    assert queue.jobs == [Job(conversation_id="c-1"), Job(conversation_id="c-1")]
    assert queue.retries == [("receipt-1", 30)]


def test_secrets_keep_every_version_and_refuse_the_unknown():
    secrets = FakeSecrets("test/servicenow/")
    arn, first = secrets.create_version("details-1", "first")
    second = secrets.put(arn, "second")

    assert secrets.get(arn) == "second"
    assert secrets.get(arn, first) == "first"
    assert secrets.stored[arn].current == second
    with pytest.raises(ClientError, match="ResourceExists"):
        secrets.create_version("details-1", "again")
    secrets.delete(arn)
    with pytest.raises(SecretGone):
        secrets.get(arn, first)
    with pytest.raises(SecretGone):
        secrets.put(arn, "third")
