"""The inbound processor: the webhook queue's events, in order per conversation, to
ServiceNow. Reports partial batch failures: a failed event keeps its conversation's later
events back (FIFO), and other conversations go on."""

from typing import Any

from twitter_activity import inbound
from twittnow import job_records, wiring
from twittnow.observability import logger, metrics, traced, traced_handler
from twittnow.retries import queued_attempt


@traced
def handle_record(record: dict[str, Any]) -> None:
    ports = wiring.ports()
    queued = job_records.parse(record, job_records.InboundJobRecord)
    event = queued.body
    logger.append_keys(account_id=event.account_id, event_id=event.event_id)
    with queued_attempt(
        ports.inbound_queue,
        queued,
        max_attempts=ports.settings.inbound_max_receive_count,
        on_last_failure=lambda reason: inbound.record_failure(ports, event, reason),
    ):
        inbound.handle(ports, event)


@traced_handler
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> job_records.PartialBatchResponse:
    return job_records.process_fifo_batch(event, handle_record)
