"""The inbound processor: the webhook queue's events, in order per conversation, to
ServiceNow. Reports partial batch failures: a failed event keeps its conversation's later
events back (FIFO), and other conversations go on."""

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from twitter_activity import inbound
from twittnow import job_records, wiring
from twittnow.observability import logger, metrics, traced, traced_handler
from twittnow.retries import queued_attempt

processor = SqsFifoPartialProcessor(skip_group_on_error=True)


@traced
def handle_record(record: SQSRecord) -> None:
    ports = wiring.ports()
    event = job_records.parse(record, job_records.InboundJobRecord).body
    logger.append_keys(account_id=event.account_id, event_id=event.event_id)
    with queued_attempt(
        ports.inbound_queue,
        record,
        max_attempts=ports.settings.inbound_max_receive_count,
        on_last_failure=lambda reason: inbound.record_failure(ports, event, reason),
    ):
        inbound.handle(ports, event)


@traced_handler
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
