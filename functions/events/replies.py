"""The sender's domain: a queued reply (an agent's comment, a resolution or closure) goes
to the customer on X, once, or is recorded as undeliverable where agents and tenants see
it: a work note on the case, the conversation's message status, the dead-letter queue."""

from twittnow import clock, customer_channel, repositories, servicenow_instances
from twittnow.clients.servicenow import ServiceNowError
from twittnow.clients.x import XNotFound, XRequestRejected
from twittnow.instance_urls import InvalidInstanceUrl
from twittnow.jobs import ReplyJob
from twittnow.models import Conversation, ConversationMessage, ConversationStatus, MessageStatus
from twittnow.observability import count, logger
from twittnow.repositories.queues import QueueMessage

ENDING_TYPES = ("resolved", "closed")


class Undeliverable(Exception):
    """Retrying cannot deliver this reply (X refused it, the account is gone...)."""


def deliver(job: ReplyJob) -> None:
    """Sends the reply `job` names (its conversation, message key, type and case)."""
    conversation = repositories.conversations().get(job.conversation_id)
    reply = conversation and repositories.messages().get(conversation.id, job.message_key)
    if reply is None or reply.handled:
        return  # delivered before, or its tenant deleted since
    logger.append_keys(tenant_id=conversation.tenant_id)
    try:
        reply = _send(conversation, reply)
    except (Undeliverable, XRequestRejected, XNotFound) as error:
        reason = getattr(error, "message", None) or str(error)
        give_up(job, reason)
        # Kept for an operator to see and redrive, as a reply that failed every attempt is.
        repositories.outbound_dead_letter_queue().send(
            [QueueMessage(job, conversation.id, f"{conversation.id}:{reply.event_id}")]
        )
        return
    if job.type in ENDING_TYPES and conversation.case_sys_id == job.case_sys_id:
        # The customer's next message opens a new case.
        repositories.conversations().update(conversation.id, status=ConversationStatus.NEW)
    repositories.messages().update(
        reply, status=MessageStatus.DELIVERED, handled=True, failure="", updated_at=clock.now()
    )
    count("RepliesDelivered")


def _send(conversation: Conversation, reply: ConversationMessage) -> ConversationMessage:
    if not reply.text:
        return reply  # a resolution without a closing message: nothing to send
    connection = repositories.credentials().x_of(conversation.tenant_id)
    if connection is None or connection.x_user_id != conversation.account_id:
        raise Undeliverable("the tenant's X account is no longer connected")
    messages = repositories.messages()
    sent = customer_channel.send(
        connection,
        conversation,
        reply.text,
        reply.x_message_ids,
        on_sent=lambda ids: messages.update(reply, x_message_ids=ids, updated_at=clock.now()),
    )
    return reply.model_copy(update={"x_message_ids": sent})


def give_up(job: ReplyJob, reason: str) -> None:
    """Records that the reply cannot be delivered: on the case, for the agents, and in
    the conversation."""
    conversation = repositories.conversations().get(job.conversation_id)
    reply = conversation and repositories.messages().get(conversation.id, job.message_key)
    if reply is None:
        return
    count("RepliesUndeliverable")
    # Not handled: redriven from the dead-letter queue, the reply is tried again.
    repositories.messages().update(
        reply, status=MessageStatus.FAILED, status_detail=reason, updated_at=clock.now()
    )
    _note_on_case(conversation, job.case_sys_id, reason)


def _note_on_case(conversation: Conversation, case_sys_id: str | None, reason: str) -> None:
    details = repositories.credentials().servicenow_of(conversation.tenant_id)
    if details is None or not case_sys_id:
        return
    note = f"Could not deliver to @{conversation.customer_screen_name}: {reason}"
    try:
        servicenow_instances.client_for(details).add_work_note(case_sys_id, note)
    except (ServiceNowError, InvalidInstanceUrl) as error:
        # The failure stays recorded in the conversation and the dead-letter queue.
        logger.error("Could not write the work note", extra={"reason": str(error)})
