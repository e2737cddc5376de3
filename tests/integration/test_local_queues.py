"""The local SQS event source mapping, against the embedded AWS, with the fixture stack.

Each test deploys the fixture stack under its own name, so tests share the moto server
but no queue. Visibility timeouts are 1 s: redelivery takes about a second.
"""

import json
import uuid

import pytest

import local.queues
from local.aws import EmbeddedAws
from local.queues import QueuePollers
from local.runtime import Runtime
from local.template import DEFAULT_TEMPLATE, Deployment, Template, load_template

FIXTURE_TEMPLATE = DEFAULT_TEMPLATE.parent / "tests" / "fixtures" / "queue_stack" / "template.yaml"
DRAIN_TIMEOUT = 15


@pytest.fixture(scope="module")
def aws():
    aws = EmbeddedAws()
    aws.start()
    yield aws
    aws.stop()


class QueueStack:
    """The fixture stack deployed once, with pollers that record every invocation."""

    def __init__(self, aws: EmbeddedAws):
        deployment = Deployment(
            aws_endpoint_url=aws.endpoint_url,
            stack_name=f"q{uuid.uuid4().hex[:10]}",
            region=aws.region,
        )
        self.template: Template = load_template(deployment, FIXTURE_TEMPLATE)
        aws.create_resources(self.template)
        self.sqs = aws.client("sqs")
        self.invocations: list[tuple[str, dict, dict | None]] = []  # function, event, answer
        self.runtime = Runtime()
        self.pollers = QueuePollers(self.template, aws, invoke=self._recording_invoke)

    def _recording_invoke(self, function, event):
        try:
            answer = self.runtime.invoke(function, event)
        except Exception:
            self.invocations.append((function.logical_id, event, None))
            raise
        self.invocations.append((function.logical_id, event, answer))
        return answer

    def send(self, queue_id: str, *orders: dict, **message_fields) -> None:
        queue = self.template.queue(queue_id)
        entries = [
            {"Id": str(index), "MessageBody": json.dumps(order), **message_fields}
            for index, order in enumerate(orders)
        ]
        self.sqs.send_message_batch(QueueUrl=queue.url, Entries=entries)

    def receive_all(self, queue_id: str) -> list[dict]:
        queue = self.template.queue(queue_id)
        messages = self.sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        return messages

    def deliveries(self) -> list[tuple[str, int]]:
        """(message id, attempt) of every record delivered, in order."""
        return [
            (json.loads(record["body"])["id"], int(record["attributes"]["ApproximateReceiveCount"]))
            for _, event, _ in self.invocations
            for record in event["Records"]
        ]

    def processed(self) -> list[str]:
        """Ids of the records handlers processed without failing them, in order."""
        done = []
        for _, event, answer in self.invocations:
            failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
            if answer is not None:
                done += [
                    json.loads(record["body"])["id"]
                    for record in event["Records"]
                    if record["messageId"] not in failed
                ]
        return done


@pytest.fixture
def stack(aws):
    stack = QueueStack(aws)
    yield stack
    stack.pollers.stop()


def test_processed_messages_are_deleted(stack):
    stack.send("WorkQueue", {"id": "a"}, {"id": "b"})
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    assert sorted(stack.processed()) == ["a", "b"]
    assert sorted(stack.deliveries()) == [("a", 1), ("b", 1)]
    assert stack.receive_all("WorkQueue") == []


def test_records_have_lambdas_shape(stack):
    stack.send(
        "WorkQueue",
        {"id": "a"},
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "dm"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )
    stack.pollers.start()
    assert stack.pollers.drain(DRAIN_TIMEOUT)

    ((function_id, event, _),) = stack.invocations
    (record,) = event["Records"]
    queue = stack.template.queue("WorkQueue")
    assert function_id == "WorkFunction"
    assert record["body"] == '{"id": "a"}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]
    assert record["md5OfMessageAttributes"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    for name in ("SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"):
        assert record["attributes"][name]
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "dm",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "raw": {
            "binaryValue": "AP8=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }


def test_fifo_records_carry_group_deduplication_and_sequence(stack):
    stack.send(
        "OrderedQueue", {"id": "a"}, MessageGroupId="customer-1", MessageDeduplicationId="x-event-1"
    )
    stack.pollers.start()
    assert stack.pollers.drain(DRAIN_TIMEOUT)

    ((_, event, _),) = stack.invocations
    attributes = event["Records"][0]["attributes"]
    assert attributes["MessageGroupId"] == "customer-1"
    assert attributes["MessageDeduplicationId"] == "x-event-1"
    assert attributes["SequenceNumber"]


def test_a_partial_batch_failure_keeps_only_the_failed_messages(stack):
    stack.send("WorkQueue", {"id": "a"}, {"id": "b", "fail_on_attempts": 1}, {"id": "c"})
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    assert sorted(stack.processed()) == ["a", "b", "c"]
    # Only b came back, once, after the visibility timeout.
    assert sorted(stack.deliveries()) == [("a", 1), ("b", 1), ("b", 2), ("c", 1)]


def test_a_raising_handler_gets_the_whole_batch_again(stack):
    stack.send("WorkQueue", {"id": "a"}, {"id": "b", "raise_on_attempts": 1})
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    assert sorted(stack.deliveries()) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert sorted(stack.processed()) == ["a", "b"]


def test_without_report_batch_item_failures_the_answer_is_ignored(stack):
    stack.send("PlainQueue", {"id": "a", "fail_on_attempts": 1})
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    assert stack.deliveries() == [("a", 1)]


def test_messages_failing_max_receive_count_times_go_to_the_dead_letter_queue(stack):
    stack.send("WorkQueue", {"id": "doomed", "fail_on_attempts": 99}, {"id": "fine"})
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    # maxReceiveCount is 2: two failed deliveries, then SQS moves it.
    assert sorted(stack.deliveries()) == [("doomed", 1), ("doomed", 2), ("fine", 1)]
    (dead,) = stack.receive_all("WorkDeadLetterQueue")
    assert json.loads(dead["Body"])["id"] == "doomed"


def test_fifo_groups_are_processed_in_order_even_through_failures(stack):
    # Interleaved groups; a2 fails once, so a3 and a4 must wait for it.
    orders = []
    for number in range(1, 5):
        orders.append(({"id": f"a{number}", "fail_on_attempts": 1 if number == 2 else 0}, "A"))
        orders.append(({"id": f"b{number}"}, "B"))
    for order, group in orders:
        stack.send("OrderedQueue", order, MessageGroupId=group)
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    processed = stack.processed()
    assert [id for id in processed if id.startswith("a")] == ["a1", "a2", "a3", "a4"]
    assert [id for id in processed if id.startswith("b")] == ["b1", "b2", "b3", "b4"]
    assert ("a2", 2) in stack.deliveries()


def test_drain_times_out_while_messages_keep_failing(stack):
    stack.send("WorkQueue", {"id": "stubborn", "fail_on_attempts": 1})
    stack.pollers.start()

    assert stack.pollers.drain(timeout=0.2) is False
    assert stack.pollers.drain(DRAIN_TIMEOUT) is True


def test_one_empty_reading_does_not_end_a_drain(stack, monkeypatch):
    """moto counts visible messages, then invisible ones: a message whose retry delay ends
    in between is in neither count. Such a reading alone must not end a drain."""
    real_is_empty = local.queues._is_empty
    readings = iter([True])  # the first reading says empty, while the message is in flight

    def is_empty(sqs, queue) -> bool:
        return next(readings, None) or real_is_empty(sqs, queue)

    monkeypatch.setattr(local.queues, "_is_empty", is_empty)
    stack.send("WorkQueue", {"id": "retried", "fail_on_attempts": 1})
    stack.pollers.start()

    assert stack.pollers.drain(DRAIN_TIMEOUT)

    assert stack.processed() == ["retried"]


def test_stop_ends_every_poller(aws):
    stack = QueueStack(aws)
    stack.pollers.start()
    assert stack.pollers.running

    stack.pollers.stop()

    assert stack.pollers.running is False
