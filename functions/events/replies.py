"""The sender's domain: a queued reply (an agent's comment, a resolution or closure) goes
to the customer on X, once, or is recorded as undeliverable where agents and tenants see
it: a work note on the case, the conversation's message status, the dead-letter queue.
A reply post X's summoned-reply rule refuses is final and no outage: a work note tells the
agent what reaches the customer instead, and the message shows FAILED."""

from twittnow import clock, customer_channel, servicenow_instances
from twittnow.clients.servicenow import ServiceNowError
from twittnow.clients.x import XNotFound, XReplyNotAllowed, XRequestRejected
from twittnow.instance_urls import InvalidInstanceUrl
from twittnow.jobs import ReplyJob
from twittnow.models import Conversation, ConversationMessage, ConversationStatus, MessageStatus
from twittnow.observability import annotate_tenant, count, logger
from twittnow.ports import Ports
from twittnow.repositories.queues import QueueMessage

ENDING_TYPES = ("resolved", "closed")


class Undeliverable(Exception):
    """Retrying cannot deliver this reply (X refused it, the account is gone...)."""


class NotAllowedByX(Exception):
    """X's summoned-reply rule refused the reply post: `note` tells the agent why."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


def deliver(ports: Ports, job: ReplyJob) -> None:
    """Sends the reply `job` names (its conversation, message key, type and case)."""
    conversation = ports.conversations.get(job.conversation_id)
    reply = ports.messages.get(conversation.id, job.message_key) if conversation else None
    if conversation is None or reply is None or reply.handled:
        return  # delivered before, or its tenant deleted since
    logger.append_keys(tenant_id=conversation.tenant_id)
    annotate_tenant(conversation.tenant_id)
    try:
        reply = _send(ports, conversation, reply)
    except NotAllowedByX as refusal:
        _not_allowed(ports, job, conversation, reply, refusal.note)
        return
    except (Undeliverable, XRequestRejected, XNotFound) as error:
        reason = getattr(error, "message", None) or str(error)
        give_up(ports, job, reason)
        # Kept for an operator to see and redrive, as a reply that failed every attempt is.
        ports.outbound_dead_letter_queue.send(
            [QueueMessage(job, conversation.id, f"{conversation.id}:{reply.event_id}")]
        )
        return
    if job.type in ENDING_TYPES and conversation.case_sys_id == job.case_sys_id:
        # The customer's next message opens a new case.
        ports.conversations.update(conversation.id, status=ConversationStatus.NEW)
    ports.messages.update(
        reply, status=MessageStatus.DELIVERED, handled=True, failure="", updated_at=clock.now()
    )
    count("RepliesDelivered")


def _send(
    ports: Ports, conversation: Conversation, reply: ConversationMessage
) -> ConversationMessage:
    if not reply.text:
        return reply  # a resolution without a closing message: nothing to send
    connection = ports.credentials.x_of(conversation.tenant_id)
    if connection is None or connection.x_user_id != conversation.account_id:
        raise Undeliverable("the tenant's X account is no longer connected")
    messages = ports.messages
    # A DM conversation's reply goes the way the customer's latest message came: X Chat
    # or legacy DM (a retry finishes it the way its first parts went). An X Chat part is
    # kept sealed until its id is recorded, so that a retry sends it again as it was.
    channel = customer_channel.channel_of(conversation, reply)
    try:
        sent = customer_channel.send(
            ports,
            connection,
            conversation,
            reply.text,
            reply.x_message_ids,
            on_sent=lambda ids: messages.update(
                reply,
                x_message_ids=ids,
                channel=channel,
                pending_chat_part=None,
                updated_at=clock.now(),
            ),
            channel=channel,
            sealed=reply.pending_chat_part,
            on_sealed=lambda part: messages.update(
                reply, pending_chat_part=part, channel=channel, updated_at=clock.now()
            ),
        )
    except XReplyNotAllowed:
        raise NotAllowedByX(customer_channel.not_allowed_note(connection, conversation)) from None
    return reply.model_copy(update={"x_message_ids": sent})


def _not_allowed(
    ports: Ports,
    job: ReplyJob,
    conversation: Conversation,
    reply: ConversationMessage,
    note: str,
) -> None:
    """X's summoned-reply rule refused the reply: X and the account are fine, and sending
    it again would be refused again. So the agent reads why and what to do instead, the
    reply is final (FAILED, handled: no retry, no dead letter, no alarm) and counted apart
    from the undeliverable ones."""
    count("RepliesNotAllowedByX")
    logger.info("X's reply rule refused the reply", extra={"conversation_id": conversation.id})
    _note_on_case(ports, conversation, job.case_sys_id, note)
    if job.type in ENDING_TYPES and conversation.case_sys_id == job.case_sys_id:
        ports.conversations.update(conversation.id, status=ConversationStatus.NEW)
    ports.messages.update(
        reply,
        status=MessageStatus.FAILED,
        status_detail=note,
        handled=True,
        failure="",
        updated_at=clock.now(),
    )


def give_up(ports: Ports, job: ReplyJob, reason: str) -> None:
    """Records that the reply cannot be delivered: on the case, for the agents, and in
    the conversation."""
    conversation = ports.conversations.get(job.conversation_id)
    reply = ports.messages.get(conversation.id, job.message_key) if conversation else None
    if conversation is None or reply is None:
        return
    count("RepliesUndeliverable")
    # Not handled: redriven from the dead-letter queue, the reply is tried again.
    ports.messages.update(
        reply, status=MessageStatus.FAILED, status_detail=reason, updated_at=clock.now()
    )
    note = f"Could not deliver to @{conversation.customer_screen_name}: {reason}"
    _note_on_case(ports, conversation, job.case_sys_id, note)


def _note_on_case(
    ports: Ports, conversation: Conversation, case_sys_id: str | None, note: str
) -> None:
    details = ports.credentials.servicenow_of(conversation.tenant_id)
    if details is None or not case_sys_id:
        return
    try:
        servicenow_instances.client_for(ports, details).add_work_note(case_sys_id, note)
    except (ServiceNowError, InvalidInstanceUrl) as error:
        # The failure stays recorded in the conversation and the dead-letter queue.
        logger.error("Could not write the work note", extra={"reason": str(error)})
