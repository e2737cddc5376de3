"""Conversations as tenants read them: each customer thread with its case, and its
messages either way with what became of them."""

from typing import NamedTuple

from twittnow.auth import Caller
from twittnow.errors import NotFound, PermissionDenied
from twittnow.models import Conversation, ConversationMessage
from twittnow.ports import Ports


def list_of(
    ports: Ports, caller: Caller, user_id: str | None, only_failed: bool = False
) -> list[Conversation]:
    """The caller's conversations, the latest first; an admin may name another tenant, or
    no one for every tenant's. `only_failed`: those with a message that shows failed."""
    if user_id is None and caller.user.is_admin:
        found = ports.conversations.all()
    else:
        owner_id = user_id or caller.user.id
        if not caller.may_manage(owner_id):
            raise PermissionDenied("Only an admin may list another user's conversations.")
        found = ports.conversations.of_tenant(owner_id)
    if only_failed:
        return [conversation for conversation in found if conversation.failed_messages > 0]
    return found


def messages_of(
    ports: Ports, caller: Caller, conversation_id: str
) -> tuple[Conversation, list[ConversationMessage]]:
    # Another tenant's id answers 404 like an unknown one: ids don't reveal who exists.
    conversation = ports.conversations.get(conversation_id)
    if conversation is None or not caller.may_manage(conversation.tenant_id):
        raise NotFound(f"No conversation with id {conversation_id}.")
    return conversation, ports.messages.of_conversation(conversation_id)


# Tries per conversation before a recount gives up on one whose messages keep changing.
RECOUNT_ATTEMPTS = 5


class Recount(NamedTuple):
    """What recount_failed_messages did: conversations read, counts corrected, and the ids
    of those whose messages changed on every attempt (run it again)."""

    conversations: int
    corrected: int
    unsettled: list[str]


def recount_failed_messages(ports: Ports) -> Recount:
    """Every conversation's failed_messages, counted from its messages. Counts are kept
    from the version that added them on (twittnow.repositories.messages), so failures from
    before read 0 and the failed filter above misses them: this counts them. Safe to run
    again, and while messages come and go."""
    conversations = ports.conversations.all()
    corrected, unsettled = 0, []
    for conversation in conversations:
        outcome = _recount(ports, conversation.id)
        corrected += outcome == "corrected"
        if outcome == "unsettled":
            unsettled.append(conversation.id)
    return Recount(len(conversations), corrected, unsettled)


def _recount(ports: Ports, conversation_id: str) -> str:
    """Counts until the stored count and the messages agree. The count is written only
    over the one it was read with, which every counted change moves; it is read again
    after writing because a message from before counts were kept leaves failed without
    moving it."""
    wrote = False
    for _ in range(RECOUNT_ATTEMPTS):
        conversation = ports.conversations.get(conversation_id)
        if conversation is None:
            return "gone"
        messages = ports.messages.of_conversation(conversation_id)
        counted = sum(message.shows_failed for message in messages)
        if counted == conversation.failed_messages:
            return "corrected" if wrote else "right"
        was = conversation.failed_messages
        wrote = ports.conversations.recount_failed(conversation_id, counted, was=was) or wrote
    return "unsettled"
