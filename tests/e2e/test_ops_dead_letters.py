"""The dead-letters operator command against the local stack: messages put on a dead-letter
queue are listed without being taken, and redriven ones reach their processor again."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from sandboxes.x.payloads import Account
from tests.api.desks import Desk, drained
from twittnow.x_events import DirectMessageReceived, conversation_key, deduplication_id

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def dead_letters(local_stack, *arguments: str, state_file: Path | None = None):
    """`python -m ops dead-letters <arguments> --local`, as an operator runs it."""
    state_file = state_file or local_stack.state_file
    # It finds the embedded AWS through the state file, not through this process's variables.
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "X_"))
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "dead-letters",
            *arguments,
            "--local",
            "--state-file",
            str(state_file),
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def dead_letter_queue(local_stack, queue: str) -> str:
    return local_stack.template.queue(f"{queue.capitalize()}DeadLetterQueue").url


def sqs(local_stack):
    return boto3.client("sqs", endpoint_url=local_stack.aws_endpoint_url)


def dead_letter_dm(local_stack, desk: Desk, customer: str, text: str) -> str:
    """Puts a customer's DM to the desk on the inbound dead-letter queue, as SQS leaves an
    event that failed every attempt; answers its message id."""
    event = DirectMessageReceived(
        event_id=str(uuid.uuid4().int % 10**18),
        account_id=desk.x_account.id,
        customer_id=Account.named(customer).id,
        customer_screen_name=customer,
        customer_name=customer,
        text=text,
        sent_at=datetime.now(UTC),
    )
    sent = sqs(local_stack).send_message(
        QueueUrl=dead_letter_queue(local_stack, "inbound"),
        MessageBody=event.model_dump_json(),
        MessageGroupId=conversation_key(event),
        MessageDeduplicationId=deduplication_id(event),
    )
    return sent["MessageId"]


def listed(local_stack, queue: str) -> str:
    """What `dead-letters list` shows. (A test's own ReceiveMessage would do, but moto then
    hands a FIFO group's messages out of order; the command puts them back as SQS wants.)"""
    done = dead_letters(local_stack, "list", "--queue", queue)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_list_shows_dead_letters_and_leaves_them_there(local_stack, desk, customer):
    text = "My parcel was due last week and the tracking page has not changed since, help?"
    message_id = dead_letter_dm(local_stack, desk, customer, text)

    lines = listed(local_stack, "inbound").splitlines()

    heading = next(line for line in lines if line.startswith(message_id))
    summary = lines[lines.index(heading) + 1]
    assert f"group {desk.x_account.id}:{Account.named(customer).id}" in heading
    assert "received 1x" in heading and f" sent {datetime.now(UTC):%Y-%m-%d}" in heading
    assert summary.startswith(
        f"    direct_message_received  account {desk.x_account.id}  customer @{customer} "
    )
    assert '"My parcel was due last week' in summary and text not in summary  # shortened
    # Visible again at once, and nothing processed it.
    assert "received 2x" in next(
        line for line in listed(local_stack, "inbound").splitlines() if line.startswith(message_id)
    )
    assert desk.cases_of(customer) == []


def test_redrive_moves_the_chosen_message_back_to_the_processor_and_nothing_else(local_stack, desk):
    first_customer, second_customer = (f"jane_{uuid.uuid4().hex[:8]}" for _ in range(2))
    for customer in (first_customer, second_customer):
        desk.introduce(customer)  # so the acknowledgement DM reaches them
    chosen = dead_letter_dm(local_stack, desk, first_customer, "Where is my order?")
    left = [
        dead_letter_dm(local_stack, desk, second_customer, "My card was charged twice."),
        dead_letter_dm(local_stack, desk, second_customer, "The second charge is 40 EUR."),
    ]

    redriven = dead_letters(local_stack, "redrive", "--queue", "inbound", "--id", chosen)
    drained(local_stack)

    assert redriven.returncode == 0, redriven.stderr
    assert f"Moved {chosen}" in redriven.stdout and "1 moved back" in redriven.stdout
    [case] = desk.cases_of(first_customer)
    assert case["short_description"] == f"X DM from @{first_customer}"
    assert case["number"] in desk.sent_to(first_customer)[0]["text"]
    assert desk.cases_of(second_customer) == []
    waiting = listed(local_stack, "inbound")
    assert chosen not in waiting and all(message_id in waiting for message_id in left)

    # --all moves the rest, in order: the first message opens the case, the second is its comment.
    everything = dead_letters(local_stack, "redrive", "--queue", "inbound", "--all")
    drained(local_stack)

    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.index(f"Moved {left[0]}") < everything.stdout.index(f"Moved {left[1]}")
    [case] = desk.cases_of(second_customer)
    assert [entry["value"] for entry in case["journal"] if entry["element"] == "comments"] == [
        "The second charge is 40 EUR."
    ]
    waiting = listed(local_stack, "inbound")
    assert not [message_id for message_id in left if message_id in waiting]


def test_outbound_dead_letters_are_listed_and_redriven_to_the_sender(local_stack):
    conversation_id = f"conversation-{uuid.uuid4().hex}"
    body = json.dumps(
        {
            "conversation_id": conversation_id,
            "message_key": "m1",
            "type": "comment",
            "case_sys_id": "c1",
        }
    )
    # As long as SQS allows, so that the redriven copy needs a shorter one.
    deduplication = f"{conversation_id}:{'e' * 128}"[:128]
    message_id = sqs(local_stack).send_message(
        QueueUrl=dead_letter_queue(local_stack, "outbound"),
        MessageBody=body,
        MessageGroupId=conversation_id,
        MessageDeduplicationId=deduplication,
    )["MessageId"]

    summary = f"comment  conversation {conversation_id}  message m1"
    assert summary in listed(local_stack, "outbound")

    redriven = dead_letters(local_stack, "redrive", "--queue", "outbound", "--id", message_id)
    drained(local_stack)  # the sender takes it, and skips a reply it has no record of

    assert redriven.returncode == 0, redriven.stderr
    assert message_id not in listed(local_stack, "outbound")


def test_bad_arguments_are_refused_with_exit_code_2(local_stack, tmp_path):
    neither = dead_letters(local_stack, "redrive", "--queue", "inbound")
    assert neither.returncode == 2 and "--id MESSAGE_ID ... or --all" in neither.stderr
    both = dead_letters(local_stack, "redrive", "--queue", "inbound", "--all", "--id", "x")
    assert both.returncode == 2 and "either" in both.stderr
    listing_one = dead_letters(local_stack, "list", "--queue", "inbound", "--id", "x")
    assert listing_one.returncode == 2 and "takes no --id" in listing_one.stderr
    unknown_queue = dead_letters(local_stack, "list", "--queue", "sideways")
    assert unknown_queue.returncode == 2 and "invalid choice" in unknown_queue.stderr
    no_queue = dead_letters(local_stack, "list")
    assert no_queue.returncode == 2 and "--queue" in no_queue.stderr
    nowhere = dead_letters(
        local_stack, "list", "--queue", "inbound", state_file=tmp_path / "missing.json"
    )
    assert nowhere.returncode == 2 and "make run" in nowhere.stderr


def test_an_id_not_in_the_dead_letter_queue_is_reported(local_stack):
    missing = str(uuid.uuid4())
    redriven = dead_letters(local_stack, "redrive", "--queue", "outbound", "--id", missing)
    assert redriven.returncode == 1
    assert f"Not found in the dead-letter queue: {missing}" in redriven.stderr
