"""The queues' jobs: what a producer queues comes back to the processor as the same job,
through SQS and Lambda's record; bodies queued by an earlier deployment still parse; a
message that is not a job is refused, logged without its body, and fails only its own
record and group."""

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from local.queues import sqs_record
from local.template import Queue
from twittnow import instance, job_records
from twittnow.job_records import InboundJobRecord, MalformedJob, ReplyJobRecord
from twittnow.jobs import ReplyJob
from twittnow.repositories import queues
from twittnow.repositories.queues import FifoQueue, QueueMessage
from twittnow.x_events import (
    AccountRevoked,
    DirectMessageReceived,
    DirectMessageSent,
    Media,
    Mention,
    conversation_key,
    deduplication_id,
)

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
SENT_AT = datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)
RECEIVED_AT = datetime(2026, 11, 18, 11, 6, 41, 250000, tzinfo=UTC)
INBOUND_EVENTS = [
    DirectMessageReceived(
        event_id="1900000000000000001",
        account_id="1500",
        customer_id="1600",
        customer_screen_name="jane",
        customer_name="Jane Doe",
        text="Où est ma commande ? 📦",
        media=[Media(url="https://ton.x.com/1.jpg", media_type="photo")],
        sent_at=SENT_AT,
        received_at=RECEIVED_AT,
    ),
    DirectMessageSent(
        event_id="1900000000000000002",
        account_id="1500",
        recipient_id="1600",
        text="We are on it.",
        sent_by_app_id="28000",
        sent_at=SENT_AT,
    ),
    Mention(
        event_id="1900000000000000003",
        account_id="1500",
        customer_id="1600",
        customer_screen_name="jane",
        customer_name="Jane Doe",
        post_id="1900000000000000003",
        text="@acme my parcel?",
        in_reply_to_post_id="1800",
        sent_at=SENT_AT,
    ),
    AccountRevoked(
        event_id="revoke:1500:1795000000",
        account_id="1500",
        revoked_at=SENT_AT,
        received_at=RECEIVED_AT,
    ),
]
REPLY = ReplyJob(
    conversation_id="5b8f0c3e9d2a4f6b8c1d2e3f4a5b6c7d",
    message_key="2026-11-22T15:00:00.000000Z#agent:0397c7:7",
    type="resolved",
    case_sys_id="0397c743db436f0057c3fd441d96197f",
)


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch):
    """As every function of the stack has it: a refused message is counted."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Twittnow")


@pytest.fixture
def fifo_queue(monkeypatch):
    """A FIFO queue on moto, and how Lambda would hand its messages over."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    instance.forget(queues._client)
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        queue = Queue(
            "JobsQueue",
            "jobs.fifo",
            url,
            "arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
            True,
            False,
            30,
            None,
            None,
            None,
            {},
        )

        def received() -> list[dict]:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            return [sqs_record(message, queue, "us-east-1") for message in messages]

        yield FifoQueue(url), received
    instance.forget(queues._client)


def record_with(body: str, group: str = "1500:1600", message_id: str = "m-1") -> dict:
    """A record as Lambda hands it, carrying `body`."""
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795000000100",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795000000200",
            "MessageGroupId": group,
            "MessageDeduplicationId": f"dedup-{message_id}",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs.fifo",
        "awsRegion": "us-east-1",
    }


# ---------------------------------------------------------------- round trips


def test_every_inbound_event_comes_back_as_the_webhook_queued_it(fifo_queue):
    queue, received = fifo_queue
    queue.send(
        [
            QueueMessage(event, conversation_key(event), deduplication_id(event))
            for event in INBOUND_EVENTS
        ]
    )
    records = received()
    parsed = [job_records.parse(record, InboundJobRecord).body for record in records]
    assert parsed == INBOUND_EVENTS
    assert [type(event) for event in parsed] == [type(event) for event in INBOUND_EVENTS]


def test_a_reply_comes_back_as_the_case_event_queued_it(fifo_queue):
    queue, received = fifo_queue
    unlinked = REPLY.model_copy(
        update={
            "message_key": "2026-11-22T15:01:00.000000Z#agent:0397c7:8",
            "type": "comment",
            "case_sys_id": None,
        }
    )
    queue.send(
        [QueueMessage(job, job.conversation_id, job.message_key) for job in (REPLY, unlinked)]
    )
    parsed = [job_records.parse(record, ReplyJobRecord).body for record in received()]
    assert parsed == [REPLY, unlinked]


def test_a_job_is_queued_as_ascii_json_whatever_its_text_holds(fifo_queue):
    """SQS refuses U+FFFF in a body, and pydantic's encoder a lone surrogate: both are sent
    as JSON escapes, and the processor reads back the same text."""
    queue, received = fifo_queue
    text = "odd \uffff and \ud83d alone, é"
    event = INBOUND_EVENTS[0].model_copy(update={"text": text})
    queue.send([QueueMessage(event, conversation_key(event), deduplication_id(event))])
    [record] = received()
    assert record["body"].isascii()
    assert json.loads(record["body"]) == event.model_dump(mode="json")
    assert job_records.parse(record, InboundJobRecord).body.text == text


@pytest.mark.parametrize(
    ("function", "model"),
    [("ProcessInboundFunction", InboundJobRecord), ("SendRepliesFunction", ReplyJobRecord)],
)
def test_bodies_an_earlier_deployment_queued_still_parse(function, model):
    """The sample events' bodies are as json.dumps wrote the jobs' dicts, before the jobs
    were models (and the inbound one before received_at was kept)."""
    [record] = json.loads((EVENTS_DIR / f"{function}.json").read_text())["Records"]
    job = job_records.parse(record, model).body
    assert job.model_dump(mode="json") | json.loads(record["body"]) == job.model_dump(mode="json")


# ---------------------------------------------------------------- malformed messages


MALFORMED_REPLIES = {
    "not JSON": "conversation 5b8f, please",
    "a list": json.dumps([REPLY.model_dump(mode="json")]),
    "no message key": json.dumps(REPLY.model_dump(mode="json", exclude={"message_key"})),
    "a number for a key": json.dumps(REPLY.model_dump(mode="json") | {"message_key": 7}),
}
MALFORMED_EVENTS = {
    "not JSON": "{'kind': 'mention'",
    "an unknown kind": json.dumps(INBOUND_EVENTS[0].model_dump(mode="json") | {"kind": "like"}),
    "no kind": json.dumps(INBOUND_EVENTS[0].model_dump(mode="json", exclude={"kind"})),
    "no text": json.dumps(INBOUND_EVENTS[0].model_dump(mode="json", exclude={"text"})),
    "a bad time": json.dumps(INBOUND_EVENTS[0].model_dump(mode="json") | {"sent_at": "soon"}),
}


@pytest.mark.parametrize("body", MALFORMED_REPLIES.values(), ids=MALFORMED_REPLIES)
def test_a_body_that_is_not_a_reply_job_is_refused(body):
    with pytest.raises(MalformedJob, match="m-1 is not a ReplyJobRecord"):
        job_records.parse(record_with(body), ReplyJobRecord)


@pytest.mark.parametrize("body", MALFORMED_EVENTS.values(), ids=MALFORMED_EVENTS)
def test_a_body_that_is_not_an_inbound_job_is_refused(body):
    with pytest.raises(MalformedJob, match="m-1 is not a InboundJobRecord"):
        job_records.parse(record_with(body), InboundJobRecord)


def test_a_record_lambda_did_not_shape_is_refused():
    record = record_with(REPLY.model_dump_json())
    del record["attributes"]["ApproximateReceiveCount"]
    with pytest.raises(MalformedJob):
        job_records.parse(record, ReplyJobRecord)


def test_a_refused_message_is_logged_with_what_is_wrong_never_its_text(caplog):
    text = "my card number is 4111 1111 1111 1111"
    body = json.dumps(
        INBOUND_EVENTS[0].model_dump(mode="json", exclude={"sent_at"}) | {"text": text}
    )
    with pytest.raises(MalformedJob):
        job_records.parse(record_with(body), InboundJobRecord)
    [logged] = [record for record in caplog.records if record.msg.startswith("Queued message")]
    assert logged.levelname == "ERROR"
    assert logged.message_id == "m-1"
    assert logged.problems == [
        {"field": "body.direct_message_received.sent_at", "problem": "missing"}
    ]
    assert "4111" not in caplog.text and "4111" not in repr(vars(logged))


def test_a_malformed_message_fails_its_record_and_group_only():
    """Behind a failed record of its group, or alone in another group: neither fails the
    batch, and the other groups' jobs go on (FIFO partial batch failures)."""
    handled = []

    def handle_record(record: dict) -> None:
        job = job_records.parse(record, ReplyJobRecord).body
        if job.message_key == "fails":
            raise RuntimeError("X is down")
        handled.append(job.message_key)

    def reply(key: str) -> str:
        return REPLY.model_copy(update={"message_key": key}).model_dump_json()

    records = [
        record_with(reply("fails"), group="a", message_id="a-1"),
        record_with("not a job", group="a", message_id="a-2"),
        record_with(reply("b-1"), group="b", message_id="b-1"),
        record_with("not a job", group="c", message_id="c-1"),
        record_with(reply("c-2"), group="c", message_id="c-2"),
        record_with(reply("d-1"), group="d", message_id="d-1"),
    ]
    answer = job_records.process_fifo_batch({"Records": records}, handle_record)
    assert [failure["itemIdentifier"] for failure in answer["batchItemFailures"]] == [
        "a-1",
        "a-2",
        "c-1",
        "c-2",
    ]
    assert handled == ["b-1", "d-1"]


def test_a_batch_whose_every_record_fails_reports_each_and_does_not_raise():
    def handle_record(record: dict) -> None:
        raise RuntimeError("ServiceNow is down")

    records = [record_with("{}", group=group, message_id=group) for group in ("a", "b")]
    answer = job_records.process_fifo_batch({"Records": records}, handle_record)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}


def test_records_without_a_group_do_not_hold_each_other_back():
    """A standard queue's records have no MessageGroupId: one failing holds nothing back."""
    handled = []

    def handle_record(record: dict) -> None:
        if record["messageId"] == "1":
            raise RuntimeError("X is down")
        handled.append(record["messageId"])

    records = [record_with("{}", message_id=str(number)) for number in range(1, 4)]
    for record in records:
        del record["attributes"]["MessageGroupId"]
    answer = job_records.process_fifo_batch({"Records": records}, handle_record)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert handled == ["2", "3"]
