"""Lambda's SQS event source mapping, locally: queue messages fed to the queue functions."""

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local.aws import EmbeddedAws
from local.template import Function, Queue, QueueTrigger, Template

logger = logging.getLogger(__name__)

Invoke = Callable[[Function, dict], Any]

_WAIT_SECONDS = 1  # long-poll wait: also how long stop() may wait for a poller
_MAX_BATCH = 10  # ReceiveMessage's limit
_RETRY_PAUSE = 1.0


class QueuePollers:
    """One poller thread per SQS event of the template's functions.

    `invoke(function, event)` runs a function: Runtime.invoke, usually.
    """

    def __init__(self, template: Template, aws: EmbeddedAws, invoke: Invoke):
        self._aws = aws
        self._queues = {
            trigger.queue: template.queue(trigger.queue)
            for function in template.functions
            for trigger in function.queue_triggers
        }
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(
                target=_Poller(function, trigger, template.queue(trigger.queue), aws, invoke).run,
                args=(self._stopping,),
                name=f"poller-{function.logical_id}-{trigger.queue}",
                daemon=True,
            )
            for function in template.functions
            for trigger in function.queue_triggers
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def drain(self, timeout: float = 30.0) -> bool:
        """Waits until every polled queue is empty (nothing visible, in flight or delayed).

        True once they are, False if `timeout` seconds pass first.
        """
        sqs = self._aws.client("sqs")
        deadline = time.monotonic() + timeout
        empty_before = False
        while True:
            empty = all(_is_empty(sqs, queue) for queue in self._queues.values())
            # Twice in a row: moto counts visible messages, then invisible ones, so a message
            # whose retry delay ends in between is in neither count, and the queue looks
            # empty for that one reading.
            if empty and empty_before:
                return True
            if time.monotonic() > deadline:
                return False
            empty_before = empty
            time.sleep(0.1)


def _is_empty(sqs, queue: Queue) -> bool:
    counts = sqs.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(count == "0" for count in counts.values())


class _Poller:
    def __init__(
        self,
        function: Function,
        trigger: QueueTrigger,
        queue: Queue,
        aws: EmbeddedAws,
        invoke: Invoke,
    ):
        self.function = function
        self.trigger = trigger
        self.queue = queue
        self.aws = aws
        self.invoke = invoke

    def run(self, stopping: threading.Event) -> None:
        sqs = self.aws.client("sqs")
        while not stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.queue.url,
                    MaxNumberOfMessages=min(self.trigger.batch_size, _MAX_BATCH),
                    WaitTimeSeconds=_WAIT_SECONDS,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    self._deliver(sqs, messages)
            except (BotoCoreError, ClientError):
                if stopping.is_set():
                    break  # the embedded AWS may already be gone
                logger.exception("Polling %s failed; retrying.", self.queue.name)
                stopping.wait(_RETRY_PAUSE)

    def _deliver(self, sqs, messages: list[dict]) -> None:
        event = {
            "Records": [sqs_record(message, self.queue, self.aws.region) for message in messages]
        }
        try:
            result = self.invoke(self.function, event)
        except Exception:
            # The whole batch comes back after the visibility timeout, as with Lambda.
            logger.exception(
                "%s failed on a batch from %s", self.function.logical_id, self.queue.name
            )
            kept = messages
        else:
            kept = (
                self._failed_messages(result, messages)
                if self.trigger.report_batch_item_failures
                else []
            )
        kept_ids = {message["MessageId"] for message in kept}
        done = [message for message in messages if message["MessageId"] not in kept_ids]
        for start in range(0, len(done), _MAX_BATCH):
            sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done[start : start + _MAX_BATCH])
                ],
            )
        if self.queue.fifo and kept:
            _release_all_but_first_of_each_group(sqs, self.queue, kept)

    def _failed_messages(self, result: Any, messages: list[dict]) -> list[dict]:
        """The messages a ReportBatchItemFailures answer keeps, by Lambda's rules."""
        if result is None:
            return []
        if not isinstance(result, dict):
            return self._unreadable_answer(messages)
        failures = result.get("batchItemFailures")
        if not failures:
            return []  # a null or empty batchItemFailures: the whole batch succeeded
        if not isinstance(failures, list):
            return self._unreadable_answer(messages)
        identifiers = {
            failure.get("itemIdentifier") if isinstance(failure, dict) else None
            for failure in failures
        }
        if not identifiers <= {message["MessageId"] for message in messages}:
            return self._unreadable_answer(messages)
        return [message for message in messages if message["MessageId"] in identifiers]

    def _unreadable_answer(self, messages: list[dict]) -> list[dict]:
        logger.error(
            "%s answered an unreadable batchItemFailures; the whole batch fails.",
            self.function.logical_id,
        )
        return messages


def _release_all_but_first_of_each_group(sqs, queue: Queue, kept: list[dict]) -> None:
    """Keeps a FIFO group's redelivery in order, working around moto.

    moto (5.2.5) skips a message whose visibility times out while a later message of its
    group is still pending, so the later one would come back first. Making all but the
    first kept message of each group visible at once changes nothing SQS would let a
    consumer see, since the first one keeps its group locked until it times out.
    """
    seen_groups = set()
    later = []
    for message in kept:
        group = message["Attributes"]["MessageGroupId"]
        if group in seen_groups:
            later.append(message)
        seen_groups.add(group)
    for start in range(0, len(later), _MAX_BATCH):
        sqs.change_message_visibility_batch(
            QueueUrl=queue.url,
            Entries=[
                {
                    "Id": str(index),
                    "ReceiptHandle": message["ReceiptHandle"],
                    "VisibilityTimeout": 0,
                }
                for index, message in enumerate(later[start : start + _MAX_BATCH])
            ],
        )


def sqs_record(message: dict, queue: Queue, region: str) -> dict:
    """One record of Lambda's SQS event, from a ReceiveMessage message."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict) -> dict:
    """SQS's attribute shape -> Lambda's: lower camel case, binary as base64 text."""
    attribute: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [
            base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
        ],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute
