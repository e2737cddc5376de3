"""The lifecycles of conversations and messages (twittnow.lifecycle): every change the
tables allow, every one they refuse, the statuses the code creates records with, and the
repositories refusing what the tables refuse, in moto."""

import ast
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.moto_tables import template_tables
from twittnow.lifecycle import CONVERSATION, MESSAGE, IllegalTransition
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    MessageDirection,
    MessageStatus,
)
from twittnow.repositories.conversations import ConversationsRepository
from twittnow.repositories.messages import MessagesRepository

FUNCTIONS = Path(__file__).parents[2] / "functions"
LIFECYCLES = {
    "message": (MESSAGE, MessageStatus),
    "conversation": (CONVERSATION, ConversationStatus),
}


def _pairs(allowed: bool) -> list:
    return [
        pytest.param(record, current, new, id=f"{record}:{current}->{new}")
        for record, (table, statuses) in LIFECYCLES.items()
        for current, new in itertools.product(statuses, repeat=2)
        if (new in table.states[current].then) == allowed
    ]


@pytest.mark.parametrize("record,current,new", _pairs(allowed=True))
def test_every_transition_of_the_tables_is_allowed(record, current, new):
    table, _ = LIFECYCLES[record]

    assert table.change(current, new) is new
    assert current in table.before(new)


@pytest.mark.parametrize("record,current,new", _pairs(allowed=False))
def test_every_other_change_raises_naming_both_statuses(record, current, new):
    table, _ = LIFECYCLES[record]

    with pytest.raises(IllegalTransition) as raised:
        table.change(current, new)

    assert str(raised.value) == f"A {record} cannot go from '{current}' to '{new}'."
    assert current not in table.before(new)


def test_the_tables_list_what_the_code_does():
    assert CONVERSATION.transitions() == [
        (ConversationStatus.NEW, ConversationStatus.COLLECTING),
        (ConversationStatus.NEW, ConversationStatus.NEW),
        (ConversationStatus.NEW, ConversationStatus.OPEN),
        (ConversationStatus.COLLECTING, ConversationStatus.COLLECTING),
        (ConversationStatus.COLLECTING, ConversationStatus.NEW),
        (ConversationStatus.COLLECTING, ConversationStatus.OPEN),
        (ConversationStatus.OPEN, ConversationStatus.NEW),
    ]
    m = MessageStatus
    assert set(MESSAGE.transitions()) == {
        (m.RECEIVED, m.COMMENTING),
        (m.RECEIVED, m.ANSWERED),
        (m.RECEIVED, m.WAITING_FOR_ANSWERS),
        (m.RECEIVED, m.CASE_CREATED),
        (m.COMMENTING, m.COMMENTED),
        (m.COMMENTING, m.COMMENTING),
        (m.COMMENTING, m.WAITING_FOR_ANSWERS),
        (m.COMMENTING, m.CASE_CREATED),
        (m.WAITING_FOR_ANSWERS, m.CASE_CREATED),
        (m.ANSWERED, m.CASE_CREATED),
        (m.CASE_CREATED, m.CASE_CREATED),
        (m.QUEUED, m.DELIVERED),
        (m.QUEUED, m.FAILED),
        (m.DELIVERED, m.COMMENTING),
        (m.FAILED, m.DELIVERED),
        (m.FAILED, m.FAILED),
    }


@pytest.mark.parametrize("record", LIFECYCLES)
def test_every_status_is_a_state_with_its_meaning(record):
    table, statuses = LIFECYCLES[record]

    assert set(table.states) == set(statuses)
    assert all(state.meaning for state in table.states.values())
    assert table.initial <= set(statuses)


def _statuses_created_by_the_code(model: type, statuses: type) -> set:
    """The status of each `model(...)` the functions build: its `status=` keyword (an
    enum member), or the model's default."""
    default = model.model_fields["status"].default
    found = set()
    for path in FUNCTIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == model.__name__:
                status = next((k.value for k in node.keywords if k.arg == "status"), None)
                found.add(default if status is None else statuses[status.attr])
    return found


def test_records_are_created_with_the_initial_statuses():
    created = _statuses_created_by_the_code(ConversationMessage, MessageStatus)
    assert (
        created
        == MESSAGE.initial
        == {
            MessageStatus.RECEIVED,  # a customer's message
            MessageStatus.QUEUED,  # the bot's or an agent's reply
            MessageStatus.DELIVERED,  # the company's staff's DM, sent from X's own app
            MessageStatus.FAILED,  # an X Chat message that could not be verified or decrypted
        }
    )
    created = _statuses_created_by_the_code(Conversation, ConversationStatus)
    assert created == CONVERSATION.initial == {ConversationStatus.NEW}


@pytest.mark.parametrize(
    "table,status",
    [(MESSAGE, status) for status in MessageStatus if status not in MESSAGE.initial]
    + [
        (CONVERSATION, status)
        for status in ConversationStatus
        if status not in CONVERSATION.initial
    ],
)
def test_no_record_starts_in_a_later_status(table, status):
    with pytest.raises(IllegalTransition, match=f"A {table.record} cannot start as '{status}'."):
        table.start(status)


# ---------------------------------------------------------------- the repositories, in moto

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def tables(monkeypatch):
    """The template's conversations and messages tables, in moto."""
    with template_tables(monkeypatch, "lifecycle", "ConversationsTable", "MessagesTable") as made:
        yield (
            ConversationsRepository(made["ConversationsTable"].name),
            MessagesRepository(made["MessagesTable"].name, made["ConversationsTable"].name),
        )


def _conversation(**fields) -> Conversation:
    return Conversation(
        id="conversation-1",
        tenant_id="tenant-1",
        account_id="100",
        customer_id="200",
        customer_screen_name="jane",
        channel=Channel.DM,
        created_at=NOW,
        last_message_at=NOW,
        **fields,
    )


def _message(status: MessageStatus) -> ConversationMessage:
    return ConversationMessage(
        conversation_id="conversation-1",
        key="0001#event-1",
        direction=MessageDirection.INBOUND,
        author="customer",
        text="My order is late.",
        event_id="event-1",
        status=status,
        sent_at=NOW,
        updated_at=NOW,
    )


def test_a_message_is_stored_only_with_an_initial_status(tables):
    _, messages = tables

    with pytest.raises(IllegalTransition, match=r"A message cannot start as 'commented'\."):
        messages.add(_message(MessageStatus.COMMENTED))

    assert messages.get("conversation-1", "0001#event-1") is None
    assert messages.add(_message(MessageStatus.RECEIVED))[1] is True


def test_a_message_takes_an_allowed_status_and_refuses_another_unchanged(tables):
    _, messages = tables
    message, _ = messages.add(_message(MessageStatus.RECEIVED))

    commenting = messages.update(message, status=MessageStatus.COMMENTING, updated_at=NOW)
    commented = messages.update(commenting, status=MessageStatus.COMMENTED, case_number="CS1")
    with pytest.raises(IllegalTransition, match="from 'commented' to 'waiting_for_answers'"):
        messages.update(commented, status=MessageStatus.WAITING_FOR_ANSWERS, case_number="CS2")

    stored = messages.get("conversation-1", "0001#event-1")
    assert (stored.status, stored.case_number) == (MessageStatus.COMMENTED, "CS1")


def test_a_message_status_is_checked_against_the_stored_one_not_the_callers_copy(tables):
    _, messages = tables
    received, _ = messages.add(_message(MessageStatus.RECEIVED))
    messages.update(received, status=MessageStatus.WAITING_FOR_ANSWERS)

    # RECEIVED -> COMMENTING is allowed, but the message is held now.
    with pytest.raises(IllegalTransition, match="from 'waiting_for_answers' to 'commenting'"):
        messages.update(received, status=MessageStatus.COMMENTING)

    assert (
        messages.get("conversation-1", "0001#event-1").status == MessageStatus.WAITING_FOR_ANSWERS
    )
    # Changes that leave the status alone are written as before.
    assert (
        messages.update(received, failure="ServiceNow timed out").failure == "ServiceNow timed out"
    )
    assert messages.get("conversation-1", "0001#event-1").failure == "ServiceNow timed out"


def test_a_conversation_is_stored_only_with_an_initial_status(tables):
    conversations, _ = tables

    with pytest.raises(IllegalTransition, match=r"A conversation cannot start as 'open'\."):
        conversations.get_or_create(_conversation(status=ConversationStatus.OPEN))

    assert conversations.get("conversation-1") is None
    assert conversations.get_or_create(_conversation()).status == ConversationStatus.NEW


def test_a_conversation_takes_an_allowed_status_and_refuses_another_unchanged(tables):
    conversations, _ = tables
    conversations.get_or_create(_conversation())

    opened = conversations.update(
        "conversation-1", status=ConversationStatus.OPEN, case_number="CS1"
    )
    with pytest.raises(
        IllegalTransition, match=r"A conversation cannot go from 'open' to 'collecting'\."
    ):
        conversations.update(
            "conversation-1", status=ConversationStatus.COLLECTING, pending_field="order"
        )

    assert conversations.get("conversation-1") == opened
    assert (
        conversations.update("conversation-1", status=ConversationStatus.NEW).case_number == "CS1"
    )


@pytest.mark.parametrize("changes", [{"status": ConversationStatus.NEW}, {"case_number": "CS1"}])
def test_updating_a_missing_conversation_fails_as_before(tables, changes):
    conversations, _ = tables

    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        conversations.update("no-such-conversation", **changes)

    assert conversations.get("no-such-conversation") is None
