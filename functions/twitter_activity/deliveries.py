"""The webhook's domain: a verified delivery from X becomes queued events, at once.

X wants an answer within seconds and retries anything else, so nothing here calls X or
ServiceNow: the delivery is normalized (cheap) and each event queued for the inbound
processor, in its conversation's message group, deduplicated by its X id.

Which accounts a tenant holds is remembered for a minute in the Lambda instance, so that a
delivery costs about one SQS call instead of a DynamoDB read and an SQS call. Only "held"
is remembered: a stale "held" queues an event that the processor then drops (it looks the
connection up again, and compares the event's received_at with when the account was
disconnected and reconnected), while a stale "not held" would lose a delivery, as X does
not retry a 200.

Once a minute at most per instance, a delivery also costs a DynamoDB write: the time of
the last accepted delivery, from which the scheduled recovery measures gaps
(twittnow.recovery).
"""

import json
import time

from twittnow import clock, recovery
from twittnow.errors import InvalidInput
from twittnow.instance import kept
from twittnow.observability import count, logger
from twittnow.ports import Ports
from twittnow.repositories.queues import QueueMessage
from twittnow.x_events import (
    MalformedDelivery,
    conversation_key,
    deduplication_id,
    delivery_account_id,
    normalize,
)

HELD_FOR_SECONDS = 60


@kept
def _held_until() -> dict[str, float]:
    """X account id -> time.monotonic() its "held" expires."""
    return {}


def accept(ports: Ports, raw_body: bytes) -> int:
    """Queues the delivery's events; answers how many were queued."""
    try:
        delivery = json.loads(raw_body)
    except (ValueError, RecursionError):
        raise InvalidInput.for_field("body", "A delivery must be JSON.") from None
    if not isinstance(delivery, dict):
        raise InvalidInput.for_field("body", "A delivery must be a JSON object.")
    count("DeliveriesReceived")
    queued = _queue_events(ports, delivery)
    # Accepted: the scheduled recovery measures gaps in deliveries from the last one.
    recovery.mark_delivery(ports, clock.now())
    return queued


def _queue_events(ports: Ports, delivery: dict) -> int:
    account_id = delivery_account_id(delivery)
    if account_id is not None and not _held(ports, account_id):
        # Answered 200 all the same: X would otherwise retry it for days.
        logger.info(
            "Delivery for an X account no tenant holds; dropped.", extra={"account": account_id}
        )
        return 0
    try:
        events = normalize(delivery)
    except MalformedDelivery as error:
        # Signed by X, so retrying cannot fix it: logged, and counted for the alarm
        # (DeliveriesMalformedAlarm), for us to adapt to the new shape.
        logger.error("Delivery not shaped like X's; dropped.", extra={"reason": str(error)})
        count("DeliveriesMalformed")
        return 0
    count("EventsQueued", len(events))
    received_at = clock.now()
    ports.inbound_queue.send(
        [
            QueueMessage(
                body=event.model_copy(update={"received_at": received_at}),
                group_id=conversation_key(event),
                deduplication_id=deduplication_id(event),
            )
            for event in events
        ]
    )
    return len(events)


def _held(ports: Ports, account_id: str) -> bool:
    if _held_until().get(account_id, 0.0) > time.monotonic():
        return True
    held = ports.credentials.holds_account(account_id)
    if held:
        _held_until()[account_id] = time.monotonic() + HELD_FOR_SECONDS
    return held
