"""Renewing an OAuth 2.0 connection's token under concurrency, end to end on the local
stack with both sandboxes: the sandbox X expires the account's access tokens, then two
senders (agents' replies to two customers) and the processor (a new customer's DM, which
the bot acknowledges) run at once, each meeting X's 401. Every message is delivered,
and X saw exactly one refresh: the others waited for the lease and reread the tokens.
(A refresh X refuses: tests/unit/test_x_token_refresh.py.)"""

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from local.queues import QueuePollers, sqs_record
from tests.api.client import ApiClient
from tests.api.desks import Desk, close_desk, drained, open_desk
from tests.e2e.test_oauth2_connection import agent_of, sandbox_account
from tests.e2e.test_outbound import Agent
from twittnow import x_accounts
from twittnow.clients.x.oauth2 import OAuth2Calls

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(local_stack) -> ApiClient:
    client = ApiClient(local_stack, over_http=True)
    client.admin_token = client.login(local_stack.admin_username, local_stack.admin_password)
    return client


@pytest.fixture
def oauth2_desk(local_stack, api) -> Iterator[tuple[Desk, Agent]]:
    desk = open_desk(api)
    try:
        yield desk, agent_of(local_stack, desk)
    finally:
        requests.put(f"{desk.servicenow_url}/sandbox/settings", json={"events_url": ""}, timeout=10)
        close_desk(desk)


@contextmanager
def pollers_paused(stack) -> Iterator[None]:
    """The queue functions stop taking messages (the test invokes them itself), and
    start again after."""
    stack._pollers.stop()
    try:
        yield
    finally:
        stack._pollers = QueuePollers(stack.template, stack.aws, stack.runtime.invoke)
        stack._pollers.start()


def queued(stack, queue_name: str, expected: int) -> list[dict]:
    """The `expected` messages waiting on the queue, received (and so in flight)."""
    queue = stack.template.queue(queue_name)
    sqs = stack.aws.client("sqs")
    messages: list[dict] = []
    for _ in range(20):
        messages += sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if len(messages) >= expected:
            break
    assert len(messages) == expected, messages
    return messages


def run_at_once(stack, jobs: list[tuple[str, str, dict]]) -> None:
    """Invokes each (function, queue, message) in its own thread, all released together,
    as concurrent Lambda instances; a message handled is deleted, as the event source
    mapping does."""
    functions = {function.logical_id: function for function in stack.template.functions}
    barrier = threading.Barrier(len(jobs))
    answers: list[object] = [None] * len(jobs)

    def run(index: int, function_id: str, queue_name: str, message: dict) -> None:
        queue = stack.template.queue(queue_name)
        event = {"Records": [sqs_record(message, queue, stack.aws.region)]}
        barrier.wait()
        try:
            answers[index] = stack.runtime.invoke(functions[function_id], event)
        except Exception as error:  # reported below
            answers[index] = error
            return
        if not (answers[index] or {}).get("batchItemFailures"):  # type: ignore[union-attr]
            stack.aws.client("sqs").delete_message(
                QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"]
            )

    threads = [threading.Thread(target=run, args=(index, *job)) for index, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(not isinstance(answer, Exception) for answer in answers), answers
    assert all(not (answer or {}).get("batchItemFailures") for answer in answers), answers  # type: ignore[union-attr]


def customer() -> str:
    return f"jane_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def slow_refresh(monkeypatch) -> list[float]:
    """X takes half a second to refresh (the functions run in this process), so that the
    other instances meet the 401 while the refresh is under way; answers the waits of the
    instances that found the lease taken."""
    real = OAuth2Calls.refresh_oauth2

    def refresh_oauth2(self, refresh_token: str):
        time.sleep(0.5)
        return real(self, refresh_token)

    waits: list[float] = []
    real_sleep = x_accounts.sleep

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(OAuth2Calls, "refresh_oauth2", refresh_oauth2)
    monkeypatch.setattr(x_accounts, "sleep", sleep)
    return waits


def test_two_senders_and_the_processor_at_once_on_an_expired_token_refresh_once(
    local_stack, oauth2_desk, slow_refresh
):
    desk, agent = oauth2_desk
    first, second, newcomer = customer(), customer(), customer()
    for someone in (first, second):
        desk.customer_dm(someone, "My order never came.")
    drained(local_stack)
    cases = {someone: desk.cases_of(someone)[0]["number"] for someone in (first, second)}
    before = sandbox_account(desk)["oauth2"]
    desk.x("POST", f"/sandbox/accounts/{desk.account}/expire-tokens")

    with pollers_paused(local_stack):
        agent.act("comment", cases[first], "Sorry! A replacement ships today.")
        agent.act("comment", cases[second], "Sorry! Your refund is on its way.")
        desk.customer_dm(newcomer, "Where is my parcel?")
        replies = queued(local_stack, "OutboundQueue", 2)
        [inbound] = queued(local_stack, "InboundQueue", 1)
        run_at_once(
            local_stack,
            [
                ("SendRepliesFunction", "OutboundQueue", replies[0]),
                ("SendRepliesFunction", "OutboundQueue", replies[1]),
                ("ProcessInboundFunction", "InboundQueue", inbound),
            ],
        )
    drained(local_stack)

    assert desk.sent_to(first)[-1]["text"] == "Sorry! A replacement ships today."
    assert desk.sent_to(second)[-1]["text"] == "Sorry! Your refund is on its way."
    assert desk.sent_to(newcomer), "the newcomer's DM was not acknowledged"
    for someone in (first, second):
        assert desk.messages_with(someone)[-1]["status"] == "delivered"
    assert desk.cases_of(newcomer)
    after = sandbox_account(desk)["oauth2"]
    assert after["refreshes"] - before["refreshes"] == 1
    assert after["refused_refreshes"] == before["refused_refreshes"]
    assert desk.x_details()["status"] == "connected"
    assert slow_refresh, "no instance found the refresh lease taken"
