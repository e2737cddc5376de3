"""The sender: queued replies to X, in order per conversation. Reports partial batch
failures: a failed reply holds back its conversation's later ones (FIFO), and comes back
when X's rate limit lifts or after a backoff."""

from typing import Any

from events import replies
from twittnow import job_records, wiring
from twittnow.observability import logger, metrics, traced, traced_handler
from twittnow.retries import queued_attempt


@traced
def handle_record(record: dict[str, Any]) -> None:
    ports = wiring.ports()
    queued = job_records.parse(record, job_records.ReplyJobRecord)
    job = queued.body
    logger.append_keys(conversation_id=job.conversation_id)
    with queued_attempt(
        ports.outbound_queue,
        queued,
        max_attempts=ports.settings.outbound_max_receive_count,
        on_last_failure=lambda reason: replies.give_up(ports, job, reason),
    ):
        replies.deliver(ports, job)


@traced_handler
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> job_records.PartialBatchResponse:
    return job_records.process_fifo_batch(event, handle_record)
