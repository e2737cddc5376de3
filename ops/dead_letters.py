"""python -m ops dead-letters: the messages waiting in a queue's dead-letter queue, listed
and moved back to the queue once their cause is fixed.

A message lands there after the queue's maxReceiveCount failed attempts, or is put there
by the sender for a reply X refused for good; the conversations API shows why each failed
(GET /conversations/{id}/messages/). The processors are idempotent per message, so a
redriven message that was partly handled resumes where it stopped.

Why not SQS's own redrive (StartMessageMoveTask): some of its API references still say
that only standard queues support it (FIFO dead-letter queues came later); it moves a
whole queue, so there could be no --id; without a destination it returns each message to
the queue SQS dead-lettered it from, and the replies the sender puts on the outbound
dead-letter queue itself were never dead-lettered; and moto, the local stack's AWS, does
not implement it. Receiving, sending and deleting one message at a time works the same on
a deployed stack and the local one, and keeps each group's order.
"""

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ops.targets import TargetError

# Each queue's URL, as every function of the stack has it in its environment.
SOURCE_QUEUE_VARIABLES = {"inbound": "INBOUND_QUEUE_URL", "outbound": "OUTBOUND_QUEUE_URL"}
MAX_BATCH = 10  # ReceiveMessage's and ChangeMessageVisibilityBatch's limit
# Long enough to read (or move) everything, short enough that a listing interrupted before
# it puts the messages back hides them only briefly.
LIST_VISIBILITY_SECONDS = 30
REDRIVE_VISIBILITY_SECONDS = 120
MAX_SQS_ID = 128  # a deduplication id's length limit
TEXT_SHOWN = 60


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("action", choices=["list", "redrive"])
    command.add_argument("--queue", required=True, choices=sorted(SOURCE_QUEUE_VARIABLES))
    command.add_argument(
        "--id",
        dest="message_ids",
        action="extend",
        nargs="+",
        default=[],
        metavar="MESSAGE_ID",
        help="redrive: the messages to move (see list)",
    )
    command.add_argument("--all", action="store_true", help="redrive: every message")


def run(arguments: argparse.Namespace) -> int:
    if arguments.action == "list" and (arguments.message_ids or arguments.all):
        raise TargetError("dead-letters list takes no --id or --all; they choose what to redrive.")
    if arguments.action == "redrive" and bool(arguments.message_ids) == arguments.all:
        raise TargetError("dead-letters redrive needs either --id MESSAGE_ID ... or --all.")
    sqs = boto3.client("sqs")
    try:
        source, dead_letters = _queues(sqs, arguments.queue)
        if arguments.action == "list":
            return _list(sqs, arguments.queue, dead_letters)
        return _redrive(sqs, source, dead_letters, set(arguments.message_ids) or None)
    except (BotoCoreError, ClientError) as error:
        print(f"SQS failed: {error}", file=sys.stderr)
        return 1


def _queues(sqs, queue: str) -> tuple[str, str]:
    """The queue's URL and its dead-letter queue's, from its redrive policy: the stack's
    environment names the inbound queue but not its dead-letter queue."""
    variable = SOURCE_QUEUE_VARIABLES[queue]
    if not (source := os.environ.get(variable)):
        raise TargetError(f"The stack's environment has no {variable}.")
    attributes = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["RedrivePolicy"])
    if "RedrivePolicy" not in attributes["Attributes"]:
        raise TargetError(f"The {queue} queue ({source}) has no dead-letter queue.")
    target = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    *_, account, name = target.split(":")  # arn:aws:sqs:<region>:<account>:<name>
    return source, sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def _list(sqs, queue: str, dead_letters: str) -> int:
    total = _approximate_count(sqs, dead_letters)
    print(f"The {queue} dead-letter queue ({dead_letters}), about {total} waiting:")
    shown = []
    try:
        for message in _receive(sqs, dead_letters, LIST_VISIBILITY_SECONDS):
            shown.append(message)
            print(_heading(message))
            print(f"    {_summary(queue, message['Body'])}")
    finally:
        _release(sqs, dead_letters, shown)
    if len(shown) < total:
        # A FIFO queue hands out none of a group's messages while an earlier one is being
        # read, so a group's later messages show once its first ones are redriven.
        print(f"{total - len(shown)} more are behind the messages of their group shown here.")
    if shown:
        print("Why each failed: its message in GET /conversations/{id}/messages/.")
    return 0


def _redrive(sqs, source: str, dead_letters: str, chosen: set[str] | None) -> int:
    """Moves the chosen messages (every one if None) back to `source`, in order per group:
    SQS hands a group's messages out oldest first, and each is sent before the next."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    moved, left = [], []
    try:
        for message in _receive(sqs, dead_letters, REDRIVE_VISIBILITY_SECONDS):
            if chosen is not None and message["MessageId"] not in chosen:
                left.append(message)
                continue
            sqs.send_message(
                QueueUrl=source,
                MessageBody=message["Body"],
                MessageGroupId=message["Attributes"]["MessageGroupId"],
                MessageDeduplicationId=_redrive_deduplication_id(message, stamp),
            )
            # Deleted only once it is back: if this fails, a second redrive sends a copy,
            # which the processor recognizes.
            sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=message["ReceiptHandle"])
            moved.append(message["MessageId"])
            print(f"Moved {message['MessageId']} (group {message['Attributes']['MessageGroupId']})")
    finally:
        _release(sqs, dead_letters, left)
    print(f"{len(moved)} moved back to {source}.")
    missing = sorted((chosen or set()) - set(moved))
    if missing:
        print(
            f"Not found in the dead-letter queue: {', '.join(missing)} (gone, or behind a "
            "message of its group that was not chosen).",
            file=sys.stderr,
        )
        return 1
    return 0


def _receive(sqs, url: str, visibility_seconds: int) -> Iterator[dict]:
    """The messages SQS hands out now, each once, hidden for `visibility_seconds`."""
    seen = set()
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=MAX_BATCH,
            VisibilityTimeout=visibility_seconds,
            # A long poll asks every SQS server, so an empty answer means nothing is left.
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        new = [message for message in batch if message["MessageId"] not in seen]
        if not new:
            return
        seen.update(message["MessageId"] for message in new)
        yield from new


def _release(sqs, url: str, messages: list[dict]) -> None:
    """Makes the messages visible again at once, which also unlocks their groups."""
    for start in range(0, len(messages), MAX_BATCH):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, message in enumerate(messages[start : start + MAX_BATCH])
            ],
        )


def _approximate_count(sqs, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(counts[name]) for name in names)


def _redrive_deduplication_id(message: dict, stamp: str) -> str:
    """A new deduplication id, so that the queue does not drop the message as a copy of
    the original (SQS remembers ids for 5 minutes), still naming the original."""
    original = message["Attributes"].get("MessageDeduplicationId", message["MessageId"])
    suffix = f":redrive:{stamp}"
    if len(original) + len(suffix) > MAX_SQS_ID:
        original = hashlib.sha256(original.encode()).hexdigest()
    return original + suffix


def _heading(message: dict) -> str:
    attributes = message["Attributes"]
    sent = datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, UTC)
    return (
        f"{message['MessageId']}  sent {sent:%Y-%m-%dT%H:%M:%SZ}"
        f"  received {attributes['ApproximateReceiveCount']}x"
        f"  group {attributes['MessageGroupId']}"
    )


def _summary(queue: str, body: str) -> str:
    try:
        fields = json.loads(body)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return f"unreadable body: {_shortened(body)}"
    if queue == "outbound":
        return (
            f"{fields.get('type')}  conversation {fields.get('conversation_id')}"
            f"  message {fields.get('message_key')}"
        )
    # twittnow.x_events: a customer's DM, mention or X Chat message, the account's own DM,
    # or a revoke. An X Chat event names the customer by X user id only.
    if fields.get("customer_screen_name"):
        customer = f"@{fields['customer_screen_name']} ({fields.get('customer_id')})"
    elif "customer_id" in fields:
        customer = f"X user {fields['customer_id']}"
    else:
        customer = fields.get("recipient_id", "-")
    summary = (
        f"{fields.get('kind')}  account {fields.get('account_id')}  customer {customer}"
        f"  event {fields.get('event_id')}"
    )
    if "text" in fields:
        summary += f"  {json.dumps(_shortened(str(fields['text'])), ensure_ascii=False)}"
    return summary


def _shortened(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"
