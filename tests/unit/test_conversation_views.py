"""How the conversations API shows where a thread and each message went on X, so that a
console can say "X Chat", "DM" or "post": the channel recorded, and for records made
before X Chat (none recorded) the one their conversation's channel implies."""

import pytest

from conversations.models import ConversationView, MessageView
from tests.fakes.clock import NOW
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageChannel,
    MessageDirection,
    MessageStatus,
)


def conversation(channel: Channel = Channel.DM, **fields) -> Conversation:
    return Conversation(
        **{
            "id": "c1",
            "tenant_id": "tenant-1",
            "account_id": "900",
            "customer_id": "200",
            "customer_screen_name": "jane",
            "channel": channel,
            "created_at": NOW,
            "last_message_at": NOW,
            **fields,
        }
    )


def message(author: str = "customer", **fields) -> ConversationMessage:
    inbound = author in ("customer", "staff")
    return ConversationMessage(
        **{
            "conversation_id": "c1",
            "key": "k1",
            "direction": MessageDirection.INBOUND if inbound else MessageDirection.OUTBOUND,
            "author": author,
            "text": "Hello",
            "event_id": "e1",
            "status": MessageStatus.RECEIVED if inbound else MessageStatus.QUEUED,
            "sent_at": NOW,
            "updated_at": NOW,
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("thread", "shown"),
    [
        (conversation(latest_channel=MessageChannel.X_CHAT), "x_chat"),
        (conversation(latest_channel=MessageChannel.DM), "dm"),
        (conversation(), "dm"),  # from before X Chat: legacy DMs
        (conversation(Channel.MENTION), "post"),
    ],
    ids=["x chat", "dm", "dm before x chat", "mention"],
)
def test_a_conversation_shows_how_replies_go(thread, shown):
    view = ConversationView.of(thread)

    assert view.latest_channel == shown
    assert view.model_dump(mode="json")["latest_channel"] == shown


@pytest.mark.parametrize(
    ("item", "thread", "shown"),
    [
        (message(channel=MessageChannel.X_CHAT), conversation(), "x_chat"),
        (message(), conversation(), "dm"),  # a customer's, from before X Chat
        (message("staff"), conversation(), "dm"),
        (message(), conversation(Channel.MENTION), "post"),
        (message("bot", x_message_ids=["dm-1"]), conversation(), "dm"),  # sent before
        (message("agent"), conversation(), None),  # not sent yet
        (message("agent", channel=MessageChannel.X_CHAT), conversation(), "x_chat"),
    ],
    ids=["x chat", "old dm", "old staff dm", "old post", "old reply sent", "unsent", "reply"],
)
def test_a_message_shows_how_it_went(item, thread, shown):
    assert MessageView.of(item, thread).model_dump(mode="json")["channel"] == shown


def test_an_unreadable_x_chat_message_shows_failed_with_why():
    unreadable = message(
        channel=MessageChannel.X_CHAT,
        text="",
        status=MessageStatus.FAILED,
        status_detail="An X Chat message to @acme could not be read: ...",
        handled=True,
    )

    view = MessageView.of(unreadable, conversation())

    assert (view.status, view.status_detail, view.channel) == (
        "failed",
        "An X Chat message to @acme could not be read: ...",
        MessageChannel.X_CHAT,
    )
