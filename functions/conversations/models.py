"""Response shapes of the conversations API."""

from datetime import datetime

from twittnow.api import Body
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageChannel,
    MessageStatus,
)


class ConversationView(Body):
    id: str
    user: str  # the tenant
    x_account_id: str
    customer_id: str
    customer_screen_name: str
    customer_name: str
    channel: str  # "dm" (DMs and X Chat) or "mention"
    # How the customer's latest message came, and so how replies go: "dm", "x_chat" (in a
    # DM conversation) or "post" (a mention conversation).
    latest_channel: MessageChannel
    status: str  # "new" (no case yet), "collecting" (asking custom fields), "open"
    case_number: str | None
    case_sys_id: str | None
    # How many of its messages show "failed" in its thread (0 for one whose failures
    # happened before this count was kept).
    failed_messages: int
    created_at: datetime
    last_message_at: datetime

    @classmethod
    def of(cls, conversation: Conversation) -> "ConversationView":
        return cls(
            id=conversation.id,
            user=conversation.tenant_id,
            x_account_id=conversation.account_id,
            customer_id=conversation.customer_id,
            customer_screen_name=conversation.customer_screen_name,
            customer_name=conversation.customer_name,
            channel=conversation.channel,
            latest_channel=_latest_channel(conversation),
            status=conversation.status,
            case_number=conversation.case_number,
            case_sys_id=conversation.case_sys_id,
            failed_messages=conversation.failed_messages,
            created_at=conversation.created_at,
            last_message_at=conversation.last_message_at,
        )


class MessageView(Body):
    id: str  # sorts as the messages were sent
    direction: str  # "inbound" (to the company) or "outbound" (to the customer)
    author: str  # "customer", "staff" (the company on X), "agent" (ServiceNow), "bot"
    # How it went: "dm", "x_chat" or "post"; null for a reply not sent yet.
    channel: MessageChannel | None
    text: str
    media_urls: list[str]
    status: str
    status_detail: str
    case_number: str | None
    x_message_ids: list[str]
    sent_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: ConversationMessage, conversation: Conversation) -> "MessageView":
        status, detail = message.status.value, message.status_detail
        if message.failure and not message.handled:
            status, detail = MessageStatus.FAILED.value, message.failure
        return cls(
            id=message.key,
            direction=message.direction,
            author=message.author,
            channel=_message_channel(message, conversation),
            text=message.text,
            media_urls=message.media_urls,
            status=status,
            status_detail=detail,
            case_number=message.case_number,
            x_message_ids=message.x_message_ids,
            sent_at=message.sent_at,
            updated_at=message.updated_at,
        )


def _latest_channel(conversation: Conversation) -> MessageChannel:
    """A conversation from before X Chat names none: its DMs were legacy DMs."""
    if conversation.channel == Channel.MENTION:
        return MessageChannel.POST
    return conversation.latest_channel or MessageChannel.DM


def _message_channel(
    message: ConversationMessage, conversation: Conversation
) -> MessageChannel | None:
    """A message from before X Chat names none: a customer's or staff's went the way of
    its conversation (legacy DMs, or posts), and so did a reply sent (it has X's ids)."""
    if message.channel is not None:
        return message.channel
    if message.author in ("customer", "staff") or message.x_message_ids:
        return MessageChannel.POST if conversation.channel == Channel.MENTION else MessageChannel.DM
    return None
