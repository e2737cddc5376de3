"""SQS FIFO queues: the webhook's events to the inbound processor, ServiceNow's events to
the sender. Order holds per message group; SQS drops a deduplication id seen within 5
minutes, and the processors' records catch later repeats."""

import hashlib
import json
import re
from typing import TYPE_CHECKING, NamedTuple

import boto3
from pydantic import BaseModel

from twittnow.instance import kept

if TYPE_CHECKING:  # boto3-stubs: a dev dependency, not in the layer
    from mypy_boto3_sqs import SQSClient

MAX_BATCH = 10  # SendMessageBatch's limit
MAX_VISIBILITY_SECONDS = 12 * 60 * 60
# What SQS allows in a message group id or deduplication id.
_SQS_ID = re.compile(r"[!-~]{1,128}")


@kept
def _client() -> "SQSClient":
    return boto3.client("sqs")


class QueueMessage(NamedTuple):
    body: BaseModel  # the job (twittnow.jobs)
    group_id: str
    deduplication_id: str


class QueueSendFailed(Exception):
    """SQS refused some messages of a batch; none of the caller's work should be answered
    as done."""


class FifoQueue:
    def __init__(self, url: str):
        self.url = url

    def send(self, messages: list[QueueMessage]) -> None:
        for start in range(0, len(messages), MAX_BATCH):
            batch = messages[start : start + MAX_BATCH]
            answer = _client().send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": _json(message.body),
                        "MessageGroupId": _sqs_id(message.group_id),
                        "MessageDeduplicationId": _sqs_id(message.deduplication_id),
                    }
                    for index, message in enumerate(batch)
                ],
            )
            if answer.get("Failed"):
                reasons = sorted({failure.get("Code", "?") for failure in answer["Failed"]})
                raise QueueSendFailed(f"SQS refused {len(answer['Failed'])} messages: {reasons}")

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        """A received message comes back after `seconds` (its group waits meanwhile)."""
        _client().change_message_visibility(
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
        )


def _json(job: BaseModel) -> str:
    """The job's JSON, in ASCII (as json.dumps writes it): a text from X may hold what
    SendMessage refuses in a body (it takes #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and
    #x10000-#x10FFFF only) or what pydantic's JSON encoder refuses (a lone surrogate)."""
    return json.dumps(job.model_dump(mode="json"))


def _sqs_id(value: str) -> str:
    """`value` if SQS takes it as an id, else its digest: the same value still gives the
    same id, so grouping and deduplication hold."""
    return value if _SQS_ID.fullmatch(value) else hashlib.sha256(value.encode()).hexdigest()
