"""Listing conversations (conversations.conversations) against the fakes: who sees which,
the `failed` filter over the count the messages keep on their conversation, and recounting
that count for failures from before it was kept. The API
tests (tests/api/test_conversations.py) keep the handlers' answers over the local stack."""

from datetime import timedelta

import pytest

from conversations import conversations
from conversations.models import ConversationView
from tests.fakes import fake_ports
from tests.fakes.clock import NOW
from tests.fakes.races import racing
from twittnow.auth import Caller
from twittnow.errors import PermissionDenied
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageDirection,
    MessageStatus,
    Token,
    TokenKind,
    User,
)


@pytest.fixture
def ports(time):
    return fake_ports()


def add_user(ports, name: str, *, is_admin: bool = False) -> Caller:
    user = User(
        id=f"user-{name}",
        username=f"{name}@example.com",
        is_admin=is_admin,
        password_hash="not used here",
        created_at=NOW,
        updated_at=NOW,
    )
    ports.users.create(user)
    token = Token(digest=f"token-{name}", user_id=user.id, kind=TokenKind.LOGIN, created_at=NOW)
    return Caller(user=user, token=token)


def start(ports, tenant: Caller, customer: str, minutes_ago: int) -> Conversation:
    at = NOW - timedelta(minutes=minutes_ago)
    return ports.conversations.get_or_create(
        Conversation(
            id=f"{tenant.user.id}-{customer}",
            tenant_id=tenant.user.id,
            account_id="900",
            customer_id=customer,
            customer_screen_name=customer,
            channel=Channel.DM,
            created_at=at,
            last_message_at=at,
        )
    )


def reply(ports, conversation: Conversation, key: str) -> ConversationMessage:
    added, _ = ports.messages.add(
        ConversationMessage(
            conversation_id=conversation.id,
            key=key,
            direction=MessageDirection.OUTBOUND,
            author="agent",
            text="We are on it.",
            event_id=key,
            status=MessageStatus.QUEUED,
            sent_at=NOW,
            updated_at=NOW,
        )
    )
    return added


def refused(ports, conversation: Conversation, key: str) -> ConversationMessage:
    return ports.messages.update(
        reply(ports, conversation, key), status=MessageStatus.FAILED, status_detail="refused"
    )


def ids(found: list[Conversation]) -> list[str]:
    return [conversation.id for conversation in found]


@pytest.fixture
def tenant(ports) -> Caller:
    return add_user(ports, "tenant")


@pytest.fixture
def other(ports) -> Caller:
    return add_user(ports, "other")


@pytest.fixture
def admin(ports) -> Caller:
    return add_user(ports, "admin", is_admin=True)


def test_failed_lists_the_conversations_with_a_failed_message_latest_first(ports, tenant):
    older, fine, latest = (
        start(ports, tenant, name, m) for name, m in (("a", 3), ("b", 2), ("c", 1))
    )
    refused(ports, older, "k1")
    refused(ports, latest, "k1")
    refused(ports, latest, "k2")
    reply(ports, fine, "k1")

    failed = conversations.list_of(ports, tenant, None, only_failed=True)

    assert ids(failed) == [latest.id, older.id]
    assert [ConversationView.of(c).failed_messages for c in failed] == [2, 1]
    assert ids(conversations.list_of(ports, tenant, None)) == [latest.id, fine.id, older.id]


def test_a_conversation_whose_failures_were_delivered_since_is_not_listed_failed(ports, tenant):
    conversation = start(ports, tenant, "a", 1)
    failed = refused(ports, conversation, "k1")

    ports.messages.update(failed, status=MessageStatus.DELIVERED, handled=True)

    assert conversations.list_of(ports, tenant, None, only_failed=True) == []


def test_failed_keeps_to_what_the_caller_may_list(ports, tenant, other, admin):
    mine, theirs = start(ports, tenant, "a", 2), start(ports, other, "b", 1)
    refused(ports, mine, "k1")
    refused(ports, theirs, "k1")

    assert ids(conversations.list_of(ports, tenant, None, only_failed=True)) == [mine.id]
    with pytest.raises(PermissionDenied):
        conversations.list_of(ports, tenant, other.user.id, only_failed=True)
    assert ids(conversations.list_of(ports, admin, None, only_failed=True)) == [theirs.id, mine.id]
    named = conversations.list_of(ports, admin, tenant.user.id, only_failed=True)
    assert ids(named) == [mine.id]


def test_a_conversation_stored_before_the_count_reads_as_none_failed(ports, tenant):
    conversation = start(ports, tenant, "a", 1)
    ports.conversations.update(conversation.id, failed_messages=None)  # the attribute absent

    stored = ports.conversations.get(conversation.id)
    assert stored is not None and stored.failed_messages == 0
    assert conversations.list_of(ports, tenant, None, only_failed=True) == []


# ---------------------------------------------------------------- recounting failures


def failed_before_counts(ports, conversation: Conversation, *keys: str) -> list:
    """Messages that failed before the conversation's count was kept: it reads 0."""
    failed = [refused(ports, conversation, key) for key in keys]
    ports.conversations.update(conversation.id, failed_messages=None)
    return failed


def count_of(ports, conversation: Conversation) -> int:
    return ports.conversations.get(conversation.id).failed_messages


def test_a_recount_finds_failures_from_before_counts_were_kept(ports, tenant):
    old, counted, fine = (
        start(ports, tenant, name, m) for name, m in (("a", 3), ("b", 2), ("c", 1))
    )
    failed_before_counts(ports, old, "k1", "k2")
    refused(ports, counted, "k1")
    reply(ports, fine, "k1")

    done = conversations.recount_failed_messages(ports)

    assert done == conversations.Recount(conversations=3, corrected=1, unsettled=[])
    assert [count_of(ports, c) for c in (old, counted, fine)] == [2, 1, 0]
    assert ids(conversations.list_of(ports, tenant, None, only_failed=True)) == [counted.id, old.id]
    assert conversations.recount_failed_messages(ports).corrected == 0  # safe to run again


def test_a_failure_counted_during_a_recount_is_not_written_over(ports, tenant, monkeypatch):
    conversation = start(ports, tenant, "a", 1)
    failed_before_counts(ports, conversation, "k1")
    # Between reading the messages and writing the count, a reply fails (and counts).
    racing(
        monkeypatch,
        ports.messages,
        "of_conversation",
        lambda: refused(ports, conversation, "k2"),
        after=True,
    )
    writes = []
    write = ports.conversations.recount_failed

    def recorded(conversation_id, count, *, was):
        writes.append((count, write(conversation_id, count, was=was)))
        return writes[-1][1]

    monkeypatch.setattr(ports.conversations, "recount_failed", recorded)

    done = conversations.recount_failed_messages(ports)

    assert writes == [(1, False), (2, True)]  # the stale count of 1 never landed
    assert done.corrected == 1 and count_of(ports, conversation) == 2


def test_a_failure_from_before_delivered_during_a_recount_is_counted_again(
    ports, tenant, monkeypatch
):
    conversation = start(ports, tenant, "a", 1)
    first, _ = failed_before_counts(ports, conversation, "k1", "k2")
    # After the messages are read, a redrive delivers one: the count, still 0, cannot
    # move, so the count written (2) is one too many until the recount reads again.
    racing(
        monkeypatch,
        ports.messages,
        "of_conversation",
        lambda: ports.messages.update(first, status=MessageStatus.DELIVERED, handled=True),
        after=True,
    )

    conversations.recount_failed_messages(ports)

    assert count_of(ports, conversation) == 1


def test_a_conversation_that_keeps_changing_is_reported_not_guessed(ports, tenant, monkeypatch):
    conversation = start(ports, tenant, "a", 1)
    failed_before_counts(ports, conversation, "k1")
    keys = iter(range(100))
    listing = ports.messages.of_conversation

    def listed_then_another_fails(conversation_id):
        found = listing(conversation_id)
        refused(ports, conversation, f"k-more-{next(keys)}")
        return found

    monkeypatch.setattr(ports.messages, "of_conversation", listed_then_another_fails)

    done = conversations.recount_failed_messages(ports)

    assert done.unsettled == [conversation.id] and done.corrected == 0


def test_a_conversation_deleted_before_its_recount_is_left_alone(ports, tenant, monkeypatch):
    gone = start(ports, tenant, "a", 1)
    failed_before_counts(ports, gone, "k1")
    listed = ports.conversations.all()
    monkeypatch.setattr(ports.conversations, "all", lambda: listed)
    ports.conversations.delete_tenant(tenant.user.id)

    done = conversations.recount_failed_messages(ports)

    assert done == conversations.Recount(conversations=1, corrected=0, unsettled=[])
    assert ports.conversations.get(gone.id) is None
