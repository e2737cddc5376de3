"""Fakes of the tables of customers' conversations: customers, conversations, messages,
echoes and case events. Statuses go through twittnow.lifecycle's tables as in the
repositories: the same checks, the same IllegalTransition."""

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from tests.fakes.records import Item, condition_failed, item
from twittnow import clock, lifecycle
from twittnow.models import (
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Customer,
    MessageStatus,
)
from twittnow.repositories.messages import FAILURE_FIELDS


class FakeCustomers:
    def __init__(self) -> None:
        self._customers: dict[tuple[str, str], Item] = {}  # by (tenant, X user id)

    def get(self, tenant_id: str, x_user_id: str) -> Customer | None:
        found = self._customers.get((tenant_id, x_user_id))
        return Customer.model_validate(found) if found else None

    def with_consumer(self, tenant_id: str, consumer_sys_id: str) -> Customer | None:
        """Of customers sharing a consumer, the first to be written."""
        sharing = self.all_with_consumer(tenant_id, consumer_sys_id)
        return min(sharing, key=lambda customer: customer.created_at) if sharing else None

    def all_with_consumer(self, tenant_id: str, consumer_sys_id: str) -> list[Customer]:
        return [
            Customer.model_validate(customer)
            for (tenant, _), customer in self._customers.items()
            if tenant == tenant_id and customer["consumer_sys_id"] == consumer_sys_id
        ]

    def put(self, customer: Customer) -> None:
        self._customers[(customer.tenant_id, customer.x_user_id)] = item(customer)

    def delete_tenant(self, tenant_id: str) -> None:
        for key in [key for key in self._customers if key[0] == tenant_id]:
            del self._customers[key]


class FakeConversations:
    def __init__(self) -> None:
        self._conversations: dict[str, Item] = {}  # by id

    def get(self, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        return Conversation.model_validate(found) if found else None

    def get_or_create(self, conversation: Conversation) -> Conversation:
        lifecycle.CONVERSATION.start(conversation.status)
        stored = self.get(conversation.id)
        if stored is not None:
            return stored
        self._conversations[conversation.id] = item(conversation)
        return conversation

    def update(self, conversation_id: str, **changes: Any) -> Conversation:
        """Sets the fields; None removes one (it reads back as its default)."""
        stored = self._conversations.get(conversation_id)
        if stored is None:
            raise condition_failed("UpdateItem")
        if "status" in changes:
            current, new = (
                ConversationStatus(stored["status"]),
                ConversationStatus(changes["status"]),
            )
            if current not in lifecycle.CONVERSATION.before(new):
                raise lifecycle.IllegalTransition("conversation", current, new)
        for name, value in to_jsonable_python(changes).items():
            if value is None:
                stored.pop(name, None)
            else:
                stored[name] = value
        return Conversation.model_validate(stored)

    def of_tenant(self, tenant_id: str, since: datetime | None = None) -> list[Conversation]:
        """The latest message first; with `since`, those whose latest is that recent."""
        return [
            c
            for c in self.all()
            if c.tenant_id == tenant_id and (since is None or c.last_message_at >= since)
        ]

    def with_case(self, tenant_id: str, case: str) -> Conversation | None:
        """By the case's sys_id, else by its number."""
        tenants = [c for c in self._conversations.values() if c["tenant_id"] == tenant_id]
        for attribute in ("case_sys_id", "case_number"):
            found = next((c for c in tenants if c.get(attribute) == case), None)
            if found is not None:
                return Conversation.model_validate(found)
        return None

    def all(self) -> list[Conversation]:
        """Every tenant's, the latest message first."""
        conversations = [Conversation.model_validate(c) for c in self._conversations.values()]
        return sorted(conversations, key=lambda c: c.last_message_at, reverse=True)

    def recount_failed(self, conversation_id: str, count: int, *, was: int) -> bool:
        stored = self._conversations.get(conversation_id)
        if stored is None or stored.get("failed_messages", 0) != was:
            return False
        stored["failed_messages"] = count
        return True

    def delete_tenant(self, tenant_id: str) -> list[str]:
        ids = [conversation.id for conversation in self.of_tenant(tenant_id)]
        for conversation_id in ids:
            del self._conversations[conversation_id]
        return ids

    def count_failed(self, conversation_id: str, delta: int) -> None:
        """What FakeMessages writes with a message going into or out of failed: nothing for
        a conversation gone, and never below 0 (failed before counts were kept)."""
        stored = self._conversations.get(conversation_id)
        if stored is not None and stored.get("failed_messages", 0) + delta >= 0:
            stored["failed_messages"] = stored.get("failed_messages", 0) + delta


def _shows_failed(stored: Item | None) -> bool:
    """ConversationMessage.shows_failed of a stored message; False for none."""
    if stored is None:
        return False
    failed = stored.get("status") == MessageStatus.FAILED.value
    return failed or (bool(stored.get("failure")) and not stored.get("handled"))


class FakeMessages:
    """Each message going into or out of showing failed moves its conversation's count, as
    the repository does in the message's write: by what was stored, once."""

    def __init__(self, conversations: FakeConversations) -> None:
        self._messages: dict[tuple[str, str], Item] = {}  # by (conversation id, key)
        self._conversations = conversations

    def add(self, message: ConversationMessage) -> tuple[ConversationMessage, bool]:
        """The stored message and whether it is new; one seen before is left as stored."""
        lifecycle.MESSAGE.start(message.status)
        stored = self.get(message.conversation_id, message.key)
        if stored is not None:
            return stored, False
        self._messages[(message.conversation_id, message.key)] = item(message)
        if message.shows_failed:
            self._conversations.count_failed(message.conversation_id, 1)
        return message, True

    def get(self, conversation_id: str, key: str) -> ConversationMessage | None:
        found = self._messages.get((conversation_id, key))
        return ConversationMessage.model_validate(found) if found else None

    def update(self, message: ConversationMessage, **changes: Any) -> ConversationMessage:
        """Writes `changes` and updated_at only (the rest stays as stored); answers the
        caller's message with the changes. A new status must follow the stored one."""
        changed = message.model_copy(update=changes)
        key = (message.conversation_id, message.key)
        stored = self._messages.get(key)
        if "status" in changes and stored is not None:
            current = MessageStatus(stored["status"])
            if current not in lifecycle.MESSAGE.before(changed.status):
                raise lifecycle.IllegalTransition("message", current, changed.status)
        values = changed.model_dump(mode="json", include=set(changes) | {"updated_at"})
        if not FAILURE_FIELDS.isdisjoint(changes):
            delta = int(changed.shows_failed) - int(_shows_failed(stored))
            self._conversations.count_failed(message.conversation_id, delta)
        # A message deleted meanwhile (with its tenant) is written all the same, as DynamoDB
        # does: an item of the key and these fields, which no longer reads as a message.
        self._messages.setdefault(key, {"conversation_id": key[0], "key": key[1]}).update(values)
        return changed

    def of_conversation(self, conversation_id: str) -> list[ConversationMessage]:
        """Oldest first (keys sort as the messages were sent)."""
        keys = sorted(key for key in self._messages if key[0] == conversation_id)
        return [ConversationMessage.model_validate(self._messages[key]) for key in keys]

    def delete_conversation(self, conversation_id: str) -> None:
        for key in [key for key in self._messages if key[0] == conversation_id]:
            del self._messages[key]


class FakeEchoes:
    def __init__(self) -> None:
        self._written: dict[str, datetime] = {}  # "sending#<account>#<recipient>" or "sent#..."

    def sending(self, account_id: str, recipient_id: str) -> None:
        self._written[f"sending#{account_id}#{recipient_id}"] = clock.now()

    def sent(self, account_id: str, x_message_id: str) -> None:
        self._written[f"sent#{account_id}#{x_message_id}"] = clock.now()

    def is_ours(self, account_id: str, x_message_id: str) -> bool:
        return f"sent#{account_id}#{x_message_id}" in self._written

    def sending_since(self, account_id: str, recipient_id: str) -> datetime | None:
        return self._written.get(f"sending#{account_id}#{recipient_id}")


class FakeCaseEvents:
    def __init__(self) -> None:
        self._events: dict[str, Item] = {}  # by "<tenant>#<event id>"

    def claim(
        self,
        tenant_id: str,
        event_id: str,
        message_key: str,
        conversation_id: str,
        now: datetime,
        expires_at: datetime,
    ) -> tuple[str, str]:
        """The (conversation id, message key) of the event's reply: the earlier one, if
        the event was claimed before and has not expired."""
        key = f"{tenant_id}#{event_id}"
        earlier = self._events.get(key)
        if earlier is not None and earlier["expires_at"] >= int(now.timestamp()):
            return earlier["conversation_id"], earlier["message_key"]
        self._events[key] = {
            "conversation_id": conversation_id,
            "message_key": message_key,
            "expires_at": int(expires_at.timestamp()),
        }
        return conversation_id, message_key
