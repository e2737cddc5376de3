"""POST /events/: a ServiceNow case event (an agent's comment, a resolution, a closure)
becomes a reply queued for the customer's conversation, at once and exactly once."""

import hashlib
from datetime import timedelta

from events.models import CaseEventAccepted, CaseEventRequest, CaseEventType
from twittnow import clock, correlation_ids, x_text
from twittnow.auth import Caller
from twittnow.errors import Conflict, InvalidInput, NotFound, UpstreamUnavailable
from twittnow.jobs import ReplyJob
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageDirection,
    MessageStatus,
    XConnection,
)
from twittnow.ports import Ports
from twittnow.repositories.queues import QueueMessage

# ServiceNow's event ids are remembered long enough for its retries; events without one
# are recognized by their content for a short while only: the same words may be sent
# again on purpose later.
NAMED_EVENT_MEMORY = timedelta(days=7)
UNNAMED_EVENT_MEMORY = timedelta(minutes=10)


def accept(ports: Ports, caller: Caller, request: CaseEventRequest) -> CaseEventAccepted:
    case = request.case or request.number
    if not (case or request.target):
        raise InvalidInput.for_field(
            "case",
            "Name the case (its sys_id or number), or the customer (target: their consumer "
            "sys_id).",
        )
    if request.type == CaseEventType.COMMENT and not x_text.clean(request.message).strip():
        # Only control characters would be a blank reply on X.
        raise InvalidInput.for_field("message", "This field may not be blank.")
    tenant_id = caller.user.id
    connection = ports.credentials.x_of(tenant_id)
    if connection is None:
        raise Conflict(
            "This tenant has no connected X account, so no reply can reach the customer: "
            "connect one with GET /get-auth-url first."
        )
    conversation = _conversation(ports, tenant_id, connection, case, request.target)
    now = clock.now()
    event_id, remember_for = _event_id(request, conversation)
    conversation_id, key = ports.case_events.claim(
        tenant_id,
        event_id,
        f"{clock.sortable(now)}#agent:{event_id}",
        conversation.id,
        now,
        now + remember_for,
    )
    reply, _ = ports.messages.add(
        ConversationMessage(
            conversation_id=conversation_id,
            key=key,
            direction=MessageDirection.OUTBOUND,
            author="agent",
            text=request.message,
            event_id=event_id,
            status=MessageStatus.QUEUED,
            case_number=conversation.case_number,
            sent_at=now,
            updated_at=now,
        )
    )
    if not reply.handled:
        # Queued again when ServiceNow retries: SQS drops the copy within five minutes,
        # and the sender skips a reply it delivered.
        ports.outbound_queue.send(
            [
                QueueMessage(
                    body=ReplyJob(
                        conversation_id=conversation_id,
                        message_key=key,
                        type=request.type.value,
                        case_sys_id=conversation.case_sys_id,
                    ),
                    group_id=conversation_id,
                    deduplication_id=f"{conversation_id}:{event_id}",
                )
            ]
        )
    return CaseEventAccepted(id=event_id, conversation=conversation_id, status=reply.status)


def _conversation(
    ports: Ports, tenant_id: str, connection: XConnection, case: str | None, target: str | None
) -> Conversation:
    if case:
        conversation = ports.conversations.with_case(
            tenant_id, case
        ) or _conversation_of_unlinked_case(ports, tenant_id, case)
        if conversation is None:
            raise NotFound(
                f"No conversation of this tenant has case {case}: only cases opened from X "
                "can be answered on X."
            )
        return conversation
    customer = ports.customers.with_consumer(tenant_id, target) if target else None
    conversations = (
        [
            ports.conversations.get(
                Conversation.id_for(tenant_id, connection.x_user_id, customer.x_user_id, channel)
            )
            for channel in Channel
        ]
        if customer
        else []
    )
    found = [conversation for conversation in conversations if conversation is not None]
    if not found:
        raise NotFound(f"No customer of this tenant has consumer {target}.")
    return max(found, key=lambda conversation: conversation.last_message_at)


def _conversation_of_unlinked_case(ports: Ports, tenant_id: str, case: str) -> Conversation | None:
    """A case the processor created but has not linked yet (its create timed out after
    ServiceNow made it, and the retry is pending): its correlation_id names the
    conversation. One ServiceNow call, on this rare path only."""
    # Imported here: the ServiceNow client (requests) is needed on this path only.
    from twittnow import servicenow_instances
    from twittnow.clients.servicenow import ServiceNowError, ServiceNowNotFound
    from twittnow.instance_urls import InvalidInstanceUrl

    details = ports.credentials.servicenow_of(tenant_id)
    if details is None:
        return None
    try:
        found = servicenow_instances.client_for(ports, details).get_case(case)
    except ServiceNowNotFound:
        return None
    except (ServiceNowError, InvalidInstanceUrl):
        raise UpstreamUnavailable(
            f"ServiceNow did not answer about case {case}; nothing was queued. Retry shortly."
        ) from None
    correlation = correlation_ids.parse(found.correlation_id)
    conversation = correlation and ports.conversations.get(correlation.conversation_id)
    if not conversation or conversation.tenant_id != tenant_id:
        return None
    # The reply names the case the agent answered, so that a failed delivery is noted on it.
    return conversation.model_copy(
        update={"case_sys_id": found.sys_id, "case_number": found.number}
    )


def _event_id(request: CaseEventRequest, conversation: Conversation) -> tuple[str, timedelta]:
    if request.event_id:
        return request.event_id, NAMED_EVENT_MEMORY
    content = f"{conversation.id}|{conversation.case_sys_id}|{request.type}|{request.message}"
    return hashlib.sha256(content.encode()).hexdigest()[:40], UNNAMED_EVENT_MEMORY
