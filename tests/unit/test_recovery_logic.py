"""Recovering missed deliveries (twittnow.recovery): X's replay of a gap, asked once per
window, and the X Chat messages X never delivered, queued once by their message id."""

import base64
import json
import struct
from datetime import datetime, timedelta

import pytest

from tests.fakes import FakeQueue, FakeRecovery, FakeX, fake_ports
from tests.fakes.chat import ChatCustomer, conversation_id_of
from tests.fakes.clock import NOW, Clock
from tests.unit.test_inbound_support import Desk
from twitter_activity import deliveries, inbound
from twittnow import clock, recovery
from twittnow.clients.x import XRequestRejected, XUnavailable
from twittnow.clients.x.models import ChatEvent
from twittnow.errors import InvalidInput
from twittnow.instance import scope
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageDirection,
    MessageStatus,
    PendingXConnection,
    XConnection,
)
from twittnow.ports import Ports
from twittnow.x_events import ChatMessage

ACCOUNT = "900"
CUSTOMER = "1600"
TENANT = "tenant-1"


@pytest.fixture(autouse=True)
def _new_instance():
    """Each test a Lambda instance of its own: none has marked a delivery yet."""
    with scope({}):
        yield


def ports_with_account(x: FakeX | None = None, account: str = ACCOUNT, tenant: str = TENANT):
    """Ports with a tenant's X account connected (OAuth 2.0) to the registered webhook."""
    x = x or FakeX()
    if not x.webhooks:
        x.register_webhook("https://api.example.com/twitter-activity")
    ports = fake_ports(x=x)
    connect(ports, account, tenant)
    return ports


def connect(ports: Ports, account: str, tenant: str) -> XConnection:
    tokens = {
        "kind": "oauth2",
        "access_token": f"oauth2-access-{account}",
        "refresh_token": f"oauth2-refresh-{account}",
        "expires_at": clock.isoformat(NOW + timedelta(days=30)),
        "scope": "dm.read dm.write",
    }
    arn, version = ports.x_secrets.create_version(f"x-{tenant}", json.dumps(tokens))
    connection = XConnection(
        id=f"x-{tenant}",
        user_id=tenant,
        x_user_id=account,
        screen_name="acme_support",
        secret_arn=arn,
        secret_version=version,
        webhook_api="activity",
        webhook_id=ports.x().webhooks[0].id,
        subscription_id="subscriptions",
        connected_at=NOW - timedelta(days=2),
        updated_at=NOW - timedelta(days=2),
        auth="oauth2",
    )
    pending = PendingXConnection(
        code_digest=f"code-{tenant}",
        user_id=tenant,
        x_user_id=account,
        screen_name="acme_support",
        sealed_tokens="sealed",
        expires_at=NOW + timedelta(minutes=10),
    )
    ports.credentials.add_x_pending(pending)
    ports.credentials.confirm_x(connection, pending)
    return connection


def fake_x(ports: Ports) -> FakeX:
    x = ports.x()
    assert isinstance(x, FakeX)
    return x


def webhook_id(ports: Ports) -> str:
    return fake_x(ports).webhooks[0].id


def minute(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M")


# ---------------------------------------------------------------- the webhook's mark


def test_the_webhook_writes_its_last_delivery_at_most_once_a_minute(time: Clock):
    ports = fake_ports()
    recovery.mark_delivery(ports, clock.now())
    first = ports.recovery.state().delivered_at

    recovery.mark_delivery(ports, time.advance(seconds=59))
    assert ports.recovery.state().delivered_at == first

    recovery.mark_delivery(ports, time.advance(seconds=1))
    assert ports.recovery.state().delivered_at == NOW + timedelta(minutes=1)


def test_an_accepted_delivery_is_marked_and_one_not_shaped_like_x_s_too(time: Clock):
    ports = ports_with_account()

    deliveries.accept(ports, json.dumps({"for_user_id": ACCOUNT, "unknown_events": []}).encode())

    assert ports.recovery.state().delivered_at == NOW
    with pytest.raises(InvalidInput):
        deliveries.accept(ports, b"not json")


def test_a_failed_mark_does_not_fail_the_delivery(time: Clock, monkeypatch):
    ports = fake_ports()

    def refused(at):
        raise RuntimeError("DynamoDB throttled the write")

    monkeypatch.setattr(ports.recovery, "delivery_accepted", refused)

    recovery.mark_delivery(ports, clock.now())  # logged, not raised


# ---------------------------------------------------------------- gaps and replays


def test_deliveries_flowing_ask_no_replay_and_cover_up_to_the_last_one(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW - timedelta(minutes=3))

    report = recovery.run(ports)

    assert report.replays == [] and fake_x(ports).replays == []
    state = ports.recovery.state()
    assert state.covered_until == NOW - timedelta(minutes=3)
    assert state.checked_at == NOW and state.gap_from is None


def test_a_silence_while_accounts_are_connected_is_replayed_once(time: Clock):
    ports = ports_with_account()
    last_delivery = NOW - timedelta(minutes=2)
    ports.recovery.delivery_accepted(last_delivery)
    recovery.run(ports)

    time.advance(minutes=10)
    report = recovery.run(ports)
    recovery.run(ports)  # a second run at once: the window is asked for already

    window = (webhook_id(ports), minute(last_delivery), minute(time.now))
    assert fake_x(ports).replays == [window]
    (request,) = report.replays
    assert (request.from_date, request.to_date, request.requested_by) == (*window[1:], "service")
    assert request.reason.startswith("no delivery since")
    recorded = ports.recovery.replays_since(NOW)
    assert [(r.job_id, r.from_date) for r in recorded] == [(request.job_id, window[1])]


def test_a_quiet_account_is_replayed_once_per_silence_not_every_run(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    for _ in range(8):  # 40 minutes of runs, five minutes apart, with no delivery
        time.advance(minutes=5)
        recovery.run(ports)

    windows = [(start, end) for _, start, end in fake_x(ports).replays]
    assert windows == [
        (minute(NOW), minute(NOW + timedelta(minutes=10))),
        (minute(NOW + timedelta(minutes=10)), minute(NOW + timedelta(minutes=20))),
        (minute(NOW + timedelta(minutes=20)), minute(NOW + timedelta(minutes=30))),
        (minute(NOW + timedelta(minutes=30)), minute(NOW + timedelta(minutes=40))),
    ]


def test_no_connected_account_asks_x_nothing(time: Clock):
    ports = fake_ports(x=FakeX())
    time.advance(hours=2)

    assert recovery.run(ports).replays == []
    assert fake_x(ports).calls == []


def test_an_invalid_webhook_is_validated_again_and_its_gap_replayed(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    fake_x(ports).set_webhook_valid(webhook_id(ports), False)
    time.advance(minutes=5)

    report = recovery.run(ports)

    assert fake_x(ports).calls_to("validate_webhook") == [{"webhook_id": webhook_id(ports)}]
    assert fake_x(ports).list_webhooks()[0].valid
    assert fake_x(ports).replays == [(webhook_id(ports), minute(NOW), minute(time.now))]
    assert report.replays[0].reason == "X marked the webhook invalid"
    assert report.invalid_webhooks == []


def test_a_webhook_still_failing_the_crc_keeps_its_gap_for_when_it_passes(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    x = fake_x(ports)
    x.set_webhook_valid(webhook_id(ports), False)
    x.crc_failing.add(webhook_id(ports))
    time.advance(minutes=5)

    report = recovery.run(ports)

    assert report.invalid_webhooks == [webhook_id(ports)] and x.replays == []
    assert ports.recovery.state().gap_from == NOW

    # X later finds the webhook valid by itself (its own CRC check): the gap is still asked.
    x.crc_failing.clear()
    x.set_webhook_valid(webhook_id(ports), True)
    ports.recovery.delivery_accepted(time.advance(minutes=5))
    recovery.run(ports)

    assert x.replays == [(webhook_id(ports), minute(NOW), minute(time.now))]
    assert ports.recovery.state().gap_from is None


def test_a_replay_x_refuses_is_asked_again_by_the_next_run_from_the_same_start(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    x = fake_x(ports)
    x.fail(XRequestRejected("ReplayConflictError", status_code=409), "replay_webhook")
    time.advance(minutes=10)

    assert recovery.run(ports).replays == []
    state = ports.recovery.state()
    assert state.gap_from == NOW and state.covered_until == NOW

    time.advance(minutes=5)
    recovery.run(ports)

    assert x.replays == [(webhook_id(ports), minute(NOW), minute(time.now))]


def test_two_runs_on_one_state_ask_for_the_window_once(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    time.advance(minutes=10)
    read = ports.recovery.state()
    recovery.run(ports)  # the other run, which wins

    class Stale(FakeRecovery):
        def state(self):
            return read

    stale = Stale()
    stale._state = ports.recovery.state()
    late = ports._replace(recovery=stale)

    assert recovery.run(late).replays == []
    assert len(fake_x(ports).replays) == 1


def test_a_run_after_missed_runs_replays_since_the_last_it_knew(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    # The service was down 20 minutes; deliveries came back before this run.
    ports.recovery.delivery_accepted(time.advance(minutes=19))
    time.advance(minutes=1)

    report = recovery.run(ports)

    assert fake_x(ports).replays == [(webhook_id(ports), minute(NOW), minute(time.now))]
    assert report.replays[0].reason.startswith("no scheduled run since")


def test_a_gap_older_than_x_keeps_is_asked_from_the_oldest_minute_x_has(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    time.advance(hours=30)

    recovery.run(ports)

    ((_, start, end),) = fake_x(ports).replays
    assert start == minute(time.now - timedelta(hours=24) + timedelta(minutes=1))
    assert end == minute(time.now)


def test_x_unreachable_leaves_the_gap_to_a_later_run(time: Clock):
    ports = ports_with_account()
    ports.recovery.delivery_accepted(NOW)
    recovery.run(ports)
    x = fake_x(ports)
    x.fail(XUnavailable("X is down"), times=None)
    time.advance(minutes=10)

    recovery.run(ports)

    assert ports.recovery.state().gap_from == NOW


# ---------------------------------------------------------------- the operator's window


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("202503011100", "202503011100", "start before it ends"),
        ("202503011130", "202503011100", "start before it ends"),
        ("202503011100", "202503011201", "future"),
        ("202502281159", "202503011100", "last 24 hours"),
    ],
)
def test_a_window_x_would_refuse_says_why(time: Clock, start, end, says):
    with pytest.raises(recovery.InvalidWindow, match=says):
        recovery.checked_window(recovery.parse_time(start), recovery.parse_time(end), NOW)


def test_a_window_is_taken_in_x_s_form_or_iso_8601_in_whole_minutes():
    window = recovery.checked_window(
        recovery.parse_time("2025-03-01T10:00:30Z"), recovery.parse_time("202503011130"), NOW
    )
    assert (window.from_date, window.to_date) == ("202503011000", "202503011130")
    assert recovery.parse_time("2025-03-01T10:00").tzinfo is not None
    with pytest.raises(recovery.InvalidWindow, match="not a time"):
        recovery.parse_time("yesterday")


# ---------------------------------------------------------------- X Chat reconciliation


@pytest.fixture
def chat_customer() -> ChatCustomer:
    return ChatCustomer(CUSTOMER)


def chat_ports(customer: ChatCustomer):
    """An account with an X Chat conversation with `customer`, active an hour ago."""
    ports = ports_with_account()
    account = ChatCustomer(ACCOUNT)  # the account's keys: only its public record is used
    chat_id = conversation_id_of(ACCOUNT, customer.user_id)
    key_change = customer.start_conversation(ACCOUNT, account.record)
    conversation = Conversation(
        id=Conversation.id_for(TENANT, ACCOUNT, customer.user_id, Channel.DM),
        tenant_id=TENANT,
        account_id=ACCOUNT,
        customer_id=customer.user_id,
        customer_screen_name="jane",
        channel=Channel.DM,
        chat_conversation_id=chat_id,
        created_at=NOW - timedelta(hours=1),
        last_message_at=NOW - timedelta(hours=1),
    )
    ports.conversations.get_or_create(conversation)
    fake_x(ports).chat_history[chat_id] = [ChatEvent(id="1", encoded_event=key_change)]
    return ports, conversation


def history(ports: Ports, conversation: Conversation) -> list[ChatEvent]:
    assert conversation.chat_conversation_id is not None
    return fake_x(ports).chat_history[conversation.chat_conversation_id]


def written(ports, conversation, customer: ChatCustomer, text: str, at: datetime):
    """The customer writes at `at`: on X's history (newest first), delivered or not."""
    message = customer.write(ACCOUNT, text)
    event = _at(message.encoded_event, at)
    history(ports, conversation).insert(
        0, ChatEvent(id=str(len(history(ports, conversation))), encoded_event=event)
    )
    return message


def _at(encoded_event: str, at: datetime) -> str:
    """The encoded event with created_at_msec set to `at` (X's, unsigned)."""
    data = base64.b64decode(encoded_event)
    old = recovery.read_envelope(encoded_event)
    assert old is not None
    before = str(int(old.created_at.timestamp() * 1000)).encode()
    after = str(int(at.timestamp() * 1000)).encode()
    assert len(before) == len(after)
    marker = b"\x0b" + struct.pack(">h", 6) + struct.pack(">i", len(before)) + before
    return base64.b64encode(data.replace(marker, marker[: -len(before)] + after)).decode()


def stored(ports, conversation, message_id: str, **fields) -> None:
    ports.messages.add(
        ConversationMessage(
            conversation_id=conversation.id,
            key=f"{clock.sortable(NOW)}#{message_id}",
            direction=fields.pop("direction", MessageDirection.INBOUND),
            author="customer",
            text="stored",
            event_id=fields.pop("event_id", message_id),
            status=MessageStatus.RECEIVED,
            sent_at=NOW,
            updated_at=NOW,
            **fields,
        )
    )


def queued(ports: Ports) -> list[ChatMessage]:
    queue = ports.inbound_queue
    assert isinstance(queue, FakeQueue)
    return [message.body for message in queue.sent]  # type: ignore[misc]


def test_an_x_chat_message_never_delivered_is_queued_once(time: Clock, chat_customer):
    ports, conversation = chat_ports(chat_customer)
    message = written(
        ports, conversation, chat_customer, "Where is my parcel?", NOW - timedelta(minutes=30)
    )

    first = recovery.run(ports)
    time.advance(minutes=5)
    second = recovery.run(ports)

    assert (first.reconciled, second.reconciled) == (1, 0)
    (event,) = queued(ports)
    assert isinstance(event, ChatMessage)
    assert event.message_id == message.message_id
    assert event.event_id == f"reconciled:{message.message_id}"
    assert (event.direction, event.sender_id, event.customer_id) == ("received", CUSTOMER, CUSTOMER)
    assert event.chat_conversation_id == conversation.chat_conversation_id
    assert event.key_version == message.key_version
    assert event.created_at == NOW - timedelta(minutes=30)
    assert event.received_at is None  # never accepted by the webhook
    queue = ports.inbound_queue
    assert isinstance(queue, FakeQueue)
    assert queue.sent[0].group_id == f"{ACCOUNT}:{CUSTOMER}"


def test_what_the_conversation_has_or_x_still_delivers_is_not_queued(time: Clock, chat_customer):
    ports, conversation = chat_ports(chat_customer)
    had = written(ports, conversation, chat_customer, "had", NOW - timedelta(minutes=40))
    unreadable = written(
        ports, conversation, chat_customer, "unreadable", NOW - timedelta(minutes=35)
    )
    written(ports, conversation, chat_customer, "on its way", NOW - timedelta(seconds=30))
    stored(ports, conversation, had.message_id)
    stored(ports, conversation, "x", event_id=f"unreadable:{unreadable.message_id}")

    assert recovery.run(ports).reconciled == 0
    assert queued(ports) == []


def test_the_account_s_own_messages_known_by_x_id_or_echo_are_not_queued(
    time: Clock, chat_customer
):
    ports, conversation = chat_ports(chat_customer)
    account = ChatCustomer(ACCOUNT)
    account.keys = chat_customer.keys  # the account writes with the conversation's key
    account.latest = chat_customer.latest
    ours = account.write(CUSTOMER, "Your case is CS0001")
    echoed = account.write(CUSTOMER, "We are on it")
    staff = account.write(CUSTOMER, "Typed in X's app")
    for message in (ours, echoed, staff):
        history(ports, conversation).insert(
            0,
            ChatEvent(
                id=message.message_id,
                encoded_event=_at(message.encoded_event, NOW - timedelta(minutes=20)),
            ),
        )
    stored(
        ports,
        conversation,
        "reply",
        direction=MessageDirection.OUTBOUND,
        x_message_ids=[ours.message_id],
        event_id="ours-1",
    )
    ports.echoes.sent(ACCOUNT, echoed.message_id)

    recovery.run(ports)

    (event,) = queued(ports)
    assert (event.message_id, event.direction) == (staff.message_id, "sent")


def test_old_messages_and_key_changes_are_not_reconciled(time: Clock, chat_customer):
    ports, conversation = chat_ports(chat_customer)
    written(ports, conversation, chat_customer, "before the day", NOW - timedelta(hours=25))

    assert recovery.run(ports).reconciled == 0


def test_only_recent_x_chat_conversations_are_read(time: Clock, chat_customer):
    ports, conversation = chat_ports(chat_customer)
    written(ports, conversation, chat_customer, "hello", NOW - timedelta(minutes=30))
    ports.conversations.update(conversation.id, last_message_at=NOW - timedelta(hours=25))

    assert recovery.run(ports).reconciled == 0
    assert fake_x(ports).calls_to("conversation_events") == []


def test_an_account_x_refuses_is_left_for_the_next_run(time: Clock, chat_customer):
    ports, conversation = chat_ports(chat_customer)
    written(ports, conversation, chat_customer, "hello", NOW - timedelta(minutes=30))
    fake_x(ports).fail(XUnavailable("X is down"), "conversation_events")

    assert recovery.run(ports).reconciled == 0
    time.advance(minutes=5)
    assert recovery.run(ports).reconciled == 1


def test_an_event_not_shaped_like_x_s_is_left_alone(time: Clock, chat_customer):
    ports, conversation = chat_ports(chat_customer)
    history(ports, conversation).insert(0, ChatEvent(id="9", encoded_event="bm90IHRocmlmdA=="))

    assert recovery.run(ports).reconciled == 0


def test_an_envelope_tells_a_message_from_a_key_change(chat_customer):
    account = ChatCustomer(ACCOUNT)
    key_change = chat_customer.start_conversation(ACCOUNT, account.record)
    message = chat_customer.write(ACCOUNT, "hi")

    change = recovery.read_envelope(key_change)
    read = recovery.read_envelope(message.encoded_event)

    assert change is not None and not change.is_message
    assert read is not None and read.is_message
    assert (read.message_id, read.sender_id, read.key_version) == (
        message.message_id,
        CUSTOMER,
        message.key_version,
    )
    assert recovery.read_envelope("not base64!") is None
    assert recovery.read_envelope("CwAC") is None  # cut short


# ---------------------------------------------------------------- the metric


def emitted(output: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "RecoveredMessages" in record:
            values = record["RecoveredMessages"]
            values = values if isinstance(values, list) else [values]
            totals[record["path"]] = totals.get(record["path"], 0) + sum(values)
    return totals


def test_recovered_messages_are_counted_by_path(monkeypatch, capsys, time: Clock, chat_customer):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    ports, conversation = chat_ports(chat_customer)
    written(ports, conversation, chat_customer, "one", NOW - timedelta(minutes=30))
    written(ports, conversation, chat_customer, "two", NOW - timedelta(minutes=20))

    recovery.run(ports)
    recovery.count_if_replayed(NOW, NOW - timedelta(minutes=3))  # came late: replayed
    recovery.count_if_replayed(NOW, NOW - timedelta(seconds=5))  # came in time
    recovery.count_if_replayed(None, NOW - timedelta(minutes=3))  # never through the webhook

    assert emitted(capsys.readouterr().out) == {"reconciliation": 2, "replay": 1}


def test_the_processor_counts_a_late_new_message_as_replayed_once(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    desk = Desk(Clock(monkeypatch))
    late = desk.dm("Sent during the outage", sent_at=NOW - timedelta(minutes=20), received_at=NOW)
    on_time = desk.dm("Sent just now", received_at=NOW)

    for event in (late, late, on_time):  # the second copy: X's retry of the replay
        inbound.handle(desk.ports, event)

    assert emitted(capsys.readouterr().out) == {"replay": 1}
