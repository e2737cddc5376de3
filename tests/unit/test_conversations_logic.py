"""Listing conversations (conversations.conversations) against the fakes: who sees which,
and the `failed` filter over the count the messages keep on their conversation. The API
tests (tests/api/test_conversations.py) keep the handlers' answers over the local stack."""

from datetime import timedelta

import pytest

from conversations import conversations
from conversations.models import ConversationView
from tests.fakes import fake_ports
from tests.fakes.clock import NOW
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
