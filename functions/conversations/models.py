"""Response shapes of the conversations API."""

from datetime import datetime

from twittnow.api import Body
from twittnow.models import Conversation, ConversationMessage, MessageStatus


class ConversationView(Body):
    id: str
    user: str  # the tenant
    x_account_id: str
    customer_id: str
    customer_screen_name: str
    customer_name: str
    channel: str  # "dm" or "mention"
    status: str  # "new" (no case yet), "collecting" (asking custom fields), "open"
    case_number: str | None
    case_sys_id: str | None
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
            status=conversation.status,
            case_number=conversation.case_number,
            case_sys_id=conversation.case_sys_id,
            created_at=conversation.created_at,
            last_message_at=conversation.last_message_at,
        )


class MessageView(Body):
    id: str  # sorts as the messages were sent
    direction: str  # "inbound" (to the company) or "outbound" (to the customer)
    author: str  # "customer", "staff" (the company on X), "agent" (ServiceNow), "bot"
    text: str
    media_urls: list[str]
    status: str
    status_detail: str
    case_number: str | None
    x_message_ids: list[str]
    sent_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: ConversationMessage) -> "MessageView":
        status, detail = message.status.value, message.status_detail
        if message.failure and not message.handled:
            status, detail = MessageStatus.FAILED.value, message.failure
        return cls(
            id=message.key,
            direction=message.direction,
            author=message.author,
            text=message.text,
            media_urls=message.media_urls,
            status=status,
            status_detail=detail,
            case_number=message.case_number,
            x_message_ids=message.x_message_ids,
            sent_at=message.sent_at,
            updated_at=message.updated_at,
        )
