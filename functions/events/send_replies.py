"""The sender: queued replies to X, in order per conversation. Reports partial batch
failures: a failed reply holds back its conversation's later ones (FIFO), and comes back
when X's rate limit lifts or after a backoff."""

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from events import replies
from twittnow import job_records, wiring
from twittnow.observability import logger, metrics, traced, traced_handler
from twittnow.retries import queued_attempt

processor = SqsFifoPartialProcessor(skip_group_on_error=True)


@traced
def handle_record(record: SQSRecord) -> None:
    ports = wiring.ports()
    job = job_records.parse(record, job_records.ReplyJobRecord).body
    logger.append_keys(conversation_id=job.conversation_id)
    with queued_attempt(
        ports.outbound_queue,
        record,
        max_attempts=ports.settings.outbound_max_receive_count,
        on_last_failure=lambda reason: replies.give_up(ports, job, reason),
    ):
        replies.deliver(ports, job)


@traced_handler
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
