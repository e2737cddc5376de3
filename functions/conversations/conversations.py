"""Conversations as tenants read them: each customer thread with its case, and its
messages either way with what became of them."""

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
