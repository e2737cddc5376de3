"""Nothing lost when a delivery goes missing, end to end on the local stack: the sandbox X
drops a delivery (X never sends it) and takes the webhook down for a window (its
deliveries fail and X marks it invalid); the scheduled recovery (run as its schedule
would, by the stack's poller) has X validate the webhook again and replay the window, and
reads the X Chat history for what never arrived. Every message reaches its case once."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.desks import Desk, drained
from twittnow import recovery
from twittnow.clients.x import AppCredentials, XClient

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def webhook_id(desk: Desk, url: str) -> str:
    [webhook] = [hook for hook in desk.x("GET", "/sandbox")["webhooks"] if hook["url"] == url]
    return webhook["id"]


def settle(local_stack) -> None:
    """X's background deliveries (replays), then the queues."""
    assert local_stack.x_sandbox.drain(30), "the sandbox X's deliveries did not finish"
    drained(local_stack)


def comments_on_case(desk: Desk, customer: str) -> list[str]:
    """The comments on the customer's one case (its first message is its description)."""
    [case] = desk.cases_of(customer)
    return [entry["value"] for entry in case["journal"] if entry["element"] == "comments"]


@pytest.fixture
def hook(local_stack, desk):
    """The stack's webhook on the sandbox X, up again and dropping nothing afterwards,
    whatever the test left (the session's other tests share it)."""
    webhook = webhook_id(desk, local_stack.x_webhook_url)
    yield webhook
    desk.x("POST", f"/sandbox/webhooks/{webhook}/down", seconds=0)
    desk.x("POST", "/sandbox/deliveries/drop", event_type="chat.received", times=0)
    sandbox = local_stack.x_sandbox
    app = AppCredentials(sandbox.consumer_key, sandbox.consumer_secret)
    XClient(sandbox.base_url, app).validate_webhook(webhook)  # X delivers to it again


def test_a_dropped_delivery_and_a_down_webhook_lose_no_message(
    local_stack, desk, customer, hook, monkeypatch
):
    # The reconciliation leaves alone what may still be on its way: here nothing is.
    monkeypatch.setattr(recovery, "SETTLE", recovery.SETTLE * 0)
    desk.x(
        "POST", f"/sandbox/customers/{customer}/chat", to=desk.account, text="Order 1234 is late"
    )
    settle(local_stack)
    local_stack.run_schedules()  # all delivered: nothing to recover
    settle(local_stack)

    # X never delivers this one (chat.received dropped): only the history has it.
    desk.x("POST", "/sandbox/deliveries/drop", event_type="chat.received", times=1)
    desk.x("POST", f"/sandbox/customers/{customer}/chat", to=desk.account, text="It was due Monday")
    # Then our side is down: these deliveries fail, and X marks the webhook invalid.
    desk.x("POST", f"/sandbox/webhooks/{hook}/down", seconds=600)
    desk.x("POST", f"/sandbox/customers/{customer}/chat", to=desk.account, text="Any news?")
    desk.customer_dm(customer, "Writing here too, in case")
    settle(local_stack)
    assert comments_on_case(desk, customer) == []  # none of them arrived
    [listed] = [h for h in desk.x("GET", "/sandbox")["webhooks"] if h["id"] == hook]
    assert listed["valid"] is False

    # Still down: X's CRC check fails again, and the replay waits for the webhook. The X
    # Chat history has both chat messages already: queued, whatever X delivers later.
    down = local_stack.run_schedules()["ReconcileFunction"]
    # (At least: the session's other tenants share the stack.)
    assert down["replays"] == [] and down["invalid_webhooks"] == [hook]
    assert down["reconciled"] >= 2
    desk.x("POST", f"/sandbox/webhooks/{hook}/down", seconds=0)  # our side is back

    back = local_stack.run_schedules()["ReconcileFunction"]
    settle(local_stack)
    again = local_stack.run_schedules()["ReconcileFunction"]  # a second run changes nothing
    settle(local_stack)

    [replay] = back["replays"]
    assert replay["webhook_id"] == hook and back["invalid_webhooks"] == []
    assert (again["replays"], again["reconciled"]) == ([], 0)
    [listed] = [h for h in desk.x("GET", "/sandbox")["webhooks"] if h["id"] == hook]
    assert listed["valid"] is True
    # Every message once, in order: the reconciliation queued the chat messages, and the
    # replay brought the legacy DM, and again a chat message, which the processor knew.
    assert comments_on_case(desk, customer) == [
        "It was due Monday",
        "Any news?",
        "Writing here too, in case",
    ]
    inbound = [m["text"] for m in desk.messages_with(customer) if m["author"] == "customer"]
    assert sorted(inbound) == sorted(
        ["Order 1234 is late", "It was due Monday", "Any news?", "Writing here too, in case"]
    )


def run_replay(state_file: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "replay",
            "--local",
            "--state-file",
            str(state_file),
            *arguments,
        ],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_an_operator_replays_a_window_and_what_was_had_is_not_handled_twice(
    local_stack, desk, customer
):
    desk.customer_dm(customer, "Hello there")
    settle(local_stack)
    now = datetime.now(UTC)
    start, end = (now - timedelta(minutes=2)).strftime("%Y%m%d%H%M"), now.strftime("%Y%m%d%H%M")

    done = run_replay(local_stack.state_file, "--from", start, "--to", end)
    settle(local_stack)

    assert done.returncode == 0, done.stderr
    assert "job" in done.stdout
    [job] = [
        job for job in desk.x("GET", "/sandbox")["replay_jobs"] if job["job_id"] in done.stdout
    ]
    assert job["deliveries"] >= 1
    inbound = [m["text"] for m in desk.messages_with(customer) if m["author"] == "customer"]
    assert inbound == ["Hello there"]

    future = (now + timedelta(hours=1)).strftime("%Y%m%d%H%M")
    refused = run_replay(local_stack.state_file, "--from", start, "--to", future)
    assert refused.returncode == 2
    assert "future" in refused.stderr
