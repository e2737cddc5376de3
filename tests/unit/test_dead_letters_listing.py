"""`python -m ops dead-letters list` on moto's SQS: each dead-lettered event is shown with
its customer, by @handle where the event names one, else (an X Chat event) by X user id."""

import argparse
import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from ops import dead_letters
from twittnow.x_events import ChatMessage, DirectMessageReceived

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def inbound_dead_letters(monkeypatch):
    """The inbound queue and its dead-letter queue, as the template makes them."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sqs = boto3.client("sqs")
        fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
        dead = sqs.create_queue(QueueName="inbound-dlq.fifo", Attributes=fifo)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
        policy = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": 5}
        source = sqs.create_queue(
            QueueName="inbound.fifo", Attributes={**fifo, "RedrivePolicy": json.dumps(policy)}
        )["QueueUrl"]
        monkeypatch.setenv("INBOUND_QUEUE_URL", source)
        yield sqs, dead


def dead_letter(sqs, url: str, body: str, group: str) -> None:
    sqs.send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=group
    )


def test_a_chat_event_shows_its_customers_x_user_id_and_a_dm_its_handle(
    inbound_dead_letters, capsys
):
    sqs, url = inbound_dead_letters
    chat = ChatMessage(
        event_id="event-uuid-1",
        account_id="900",
        received_at=NOW,
        direction="received",
        chat_conversation_id="200-900",
        sender_id="200",
        customer_id="200",
        encoded_event="ZW5jcnlwdGVk",
        key_version="1796648266141",
    )
    dm = DirectMessageReceived(
        event_id="dm-1",
        account_id="900",
        received_at=NOW,
        customer_id="300",
        customer_screen_name="joe",
        customer_name="Joe",
        text="Hello",
        sent_at=NOW,
    )
    dead_letter(sqs, url, chat.model_dump_json(), "900:200")
    dead_letter(sqs, url, dm.model_dump_json(), "900:300")

    code = dead_letters.run(
        argparse.Namespace(action="list", queue="inbound", message_ids=[], all=False)
    )

    shown = capsys.readouterr().out
    assert code == 0
    assert "chat_message  account 900  customer X user 200  event event-uuid-1" in shown
    assert "customer @joe (300)" in shown
    assert "@None" not in shown
