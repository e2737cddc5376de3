"""The inbound processor's branches that the happy paths of tests/e2e/test_inbound.py leave
out, where the real clients, tables and queue matter: staff writing in X's own app, our
echoes racing their record, media, crashes between a call and its record, the customer's
consumer, tenants and accounts that are not ready, the last attempt, partial batches, and
X refusing the bot. Every branch of the domain itself (functions/twitter_activity/
inbound.py) is run on the fakes by tests/unit/test_inbound*.py.

Most tests act on the sandboxes and let the local stack run: the sandbox X delivers to
the webhook, the stack's queue poller runs the processor, the sandbox ServiceNow keeps the
cases. Where a crash must be injected, or the queue's retry delays would make a test slow,
the test runs the processor's own module copy (the one the stack loaded: Processor) on an
event, or its SQS handler on a batch the test builds, and patches that copy's objects.
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from unittest.mock import patch

import boto3
import pytest
import requests

from local.stack import LocalStack
from sandboxes.x.payloads import APP_ID, Account, DirectMessage, aaa_direct_message
from tests.api.client import ApiClient, all_pages
from tests.api.desks import start_oauth1
from twitter_activity import inbound
from twittnow import repositories
from twittnow.clients.servicenow import ServiceNowClient, ServiceNowUnavailable
from twittnow.settings import get_settings
from twittnow.wiring import ports
from twittnow.x_app import delivery_signature

PROCESSOR = "ProcessInboundFunction"
TEST_RECEIPT = "test-receipt-"  # receipt handles of the batches the tests build


class Crash(Exception):
    """The processor dying at an injected point, as a Lambda does at its timeout."""


# ---------------------------------------------------------------- a tenant on the sandboxes


@dataclass
class Desk:
    """A tenant whose X account and ServiceNow instance are the stack's sandboxes."""

    stack: LocalStack
    api: ApiClient
    token: str
    account: str  # the company's screen name on the sandbox X

    @property
    def account_id(self) -> str:
        return Account.named(self.account).id  # the sandbox's ids depend on the name only

    # ------------------------------------------------------------ acting on X

    def customer_dm(self, customer: str, text: str, **extra) -> dict:
        return self.x(
            "POST", f"/sandbox/customers/{customer}/dm", to=self.account, text=text, **extra
        )

    def customer_mention(self, customer: str, text: str) -> dict:
        return self.x("POST", f"/sandbox/customers/{customer}/mention", to=self.account, text=text)

    def rename(self, customer: str, screen_name: str) -> None:
        """The customer takes another screen name on X; their old one is free."""
        self.x("POST", f"/sandbox/customers/{customer}/rename", screen_name=screen_name)

    def x_user_id(self, customer: str) -> str:
        """The customer's id on the sandbox X, which knows them already."""
        [user] = [
            account
            for account in self.x("GET", "/sandbox")["accounts"]
            if account["screen_name"] == customer
        ]
        return user["id"]

    def staff_dm(self, customer: str, text: str) -> dict:
        """The company's staff writing to the customer in X's own app."""
        return self.x("POST", f"/sandbox/accounts/{self.account}/dm", to=customer, text=text)

    def introduce(self, customer: str) -> None:
        """Makes the customer known to the sandbox X (which then accepts DMs to them)
        without writing to the account: for events a test hands the processor itself."""
        self.x("POST", f"/sandbox/customers/{customer}/dm", to="someone_else", text="hi")

    def sent_to(self, customer: str) -> list[str]:
        """The texts the service sent the customer on X, oldest first."""
        return [
            item["text"]
            for item in self.x("GET", "/sandbox/sent")
            if (item.get("to") or {}).get("screen_name") == customer
        ]

    def x_fault(self, **fault) -> None:
        answer = requests.post(
            f"{self.stack.x_sandbox.base_url}/sandbox/faults", json=fault, timeout=10
        )
        assert answer.status_code == 201, answer.text

    def x(self, method: str, path: str, **body):
        answer = requests.request(
            method, self.stack.x_sandbox.base_url + path, json=body or None, timeout=30
        )
        assert answer.ok, answer.text
        return answer.json()

    # ------------------------------------------------------------ ServiceNow

    def servicenow(self, method: str, path: str, **body) -> dict:
        sandbox = self.stack.servicenow_sandbox
        answer = requests.request(
            method,
            sandbox.base_url + path,
            json=body or None,
            timeout=30,
            auth=(sandbox.admin_user, sandbox.admin_password),
        )
        assert answer.ok, answer.text
        return answer.json()

    def servicenow_overview(self) -> dict:
        return self.servicenow("GET", "/sandbox")

    def cases_of(self, customer: str) -> list[dict]:
        """The customer's cases (DM and mention), oldest first, with their journal."""
        return [
            case
            for case in self.servicenow_overview()["cases"]
            if case["short_description"].endswith(f"@{customer}")
        ]

    def case(self, sys_id: str) -> dict:
        return self.servicenow("GET", f"/api/sn_customerservice/case/{sys_id}")["result"]

    def case_by_sys_id(self, sys_id: str) -> dict:
        """The case as the sandbox's overview shows it, with its journal."""
        [case] = [case for case in self.servicenow_overview()["cases"] if case["sys_id"] == sys_id]
        return case

    def social_profiles(self, consumer_sys_id: str) -> list[dict]:
        [consumer] = [
            consumer
            for consumer in self.servicenow_overview()["consumers"]
            if consumer["sys_id"] == consumer_sys_id
        ]
        return consumer["social_profiles"]

    def consumers_with_handle(self, handle: str) -> list[str]:
        return [
            consumer["sys_id"]
            for consumer in self.servicenow_overview()["consumers"]
            if any(profile["handle"] == handle for profile in consumer["social_profiles"])
        ]

    def attachments_of(self, case: dict) -> list[dict]:
        return [
            attachment
            for attachment in self.servicenow_overview()["attachments"]
            if attachment["table_sys_id"] == case["sys_id"]
        ]

    def servicenow_fault(self, **fault) -> None:
        self.servicenow("POST", "/sandbox/faults", **fault)

    def add_servicenow_details(self) -> None:
        sandbox = self.stack.servicenow_sandbox
        details = {
            "instance_url": sandbox.base_url,
            "admin_user": sandbox.admin_user,
            "admin_password": sandbox.admin_password,
        }
        reply = self.api.post("/servicenow-details/", token=self.token, json=details)
        assert reply.status == 201, reply.body

    def add_custom_field(self, field_name: str, question: str) -> None:
        reply = self.api.post(
            "/custom-fields/",
            token=self.token,
            json={"field_name": field_name, "message": question},
        )
        assert reply.status == 201, reply.body

    # ------------------------------------------------------------ our API

    def conversations(self) -> list[dict]:
        reply = self.api.get("/conversations/?page_size=200", token=self.token)
        assert reply.status == 200, reply.body
        return reply.body["results"]

    def conversation_with(self, customer: str, channel: str = "dm") -> dict:
        [found] = [
            item
            for item in self.conversations()
            if (item["customer_screen_name"], item["channel"]) == (customer, channel)
        ]
        return found

    def conversation_of(self, customer_id: str, channel: str = "dm") -> dict:
        """The conversation with the X user `customer_id`, whatever their handle now."""
        [found] = [
            item
            for item in self.conversations()
            if (item["customer_id"], item["channel"]) == (customer_id, channel)
        ]
        return found

    def messages_with(self, customer: str, channel: str = "dm") -> list[dict]:
        conversation = self.conversation_with(customer, channel)
        reply = self.api.get(f"/conversations/{conversation['id']}/messages/", token=self.token)
        assert reply.status == 200, reply.body
        return reply.body["results"]


def comments_on(case: dict) -> list[str]:
    return [entry["value"] for entry in case["journal"] if entry["element"] == "comments"]


def open_desk(stack, *, servicenow: bool = True, oauth1: bool = False) -> Desk:
    """A new tenant, its X account connected through the sandbox X's authorize page (OAuth
    2.0; with `oauth1`, as an account connected with OAuth 1.0a before)."""
    api = ApiClient(stack, over_http=False)
    admin = api.login(stack.admin_username, stack.admin_password)
    username, password = f"inbound-{uuid.uuid4().hex[:12]}@example.com", uuid.uuid4().hex
    created = api.post(
        "/auth/users/",
        token=admin,
        json={"username": username, "password": password, "company_name": "Acme"},
    )
    assert created.status == 201, created.body
    desk = Desk(stack, api, api.login(username, password), f"acme_{uuid.uuid4().hex[:8]}")
    if servicenow:
        desk.add_servicenow_details()
    connect_account(desk, created.body["id"] if oauth1 else None)
    return desk


def connect_account(desk: Desk, oauth1_tenant_id: str | None = None) -> None:
    if oauth1_tenant_id is not None:
        auth_url = start_oauth1(desk.api, oauth1_tenant_id)
    else:
        auth_url = desk.api.get("/get-auth-url", token=desk.token).body["auth_url"]
    approved = requests.get(f"{auth_url}&approve={desk.account}", allow_redirects=False, timeout=10)
    pending = desk.api.get(approved.headers["Location"] + "&format=json")
    assert pending.status == 200, pending.body
    connected = desk.api.post(
        "/twitter-callback/confirm/",
        token=desk.token,
        json={"confirmation": pending.body["confirmation"]},
    )
    assert connected.status == 200, connected.body


def settle(stack, timeout: float = 30) -> None:
    """Waits for the sandbox X's background deliveries (echoes) and for the queue to empty,
    twice: what the processor sent meanwhile is echoed too."""
    for _ in range(2):
        assert stack.x_sandbox.drain(timeout), "the sandbox X kept delivering"
        assert stack.drain(timeout), "the queue did not drain"


@pytest.fixture
def stack(stack_environment):
    yield stack_environment
    # Faults a test set and did not use up must not reach the next test.
    requests.delete(f"{stack_environment.x_sandbox.base_url}/sandbox/faults", timeout=10)
    requests.delete(f"{stack_environment.servicenow_sandbox.base_url}/sandbox/faults", timeout=10)


@pytest.fixture
def desk(stack) -> Desk:
    return open_desk(stack)


@pytest.fixture
def customer() -> str:
    return new_customer()


def new_customer() -> str:
    return f"jane_{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- the processor itself


class Processor:
    """The inbound processor of the stack. The stack's queue poller runs the same module,
    so a patch here reaches its runs too: patches pick their targets."""

    inbound = inbound

    def __init__(self, stack):
        self.stack = stack
        [self.function] = [f for f in stack.template.functions if f.logical_id == PROCESSOR]
        self.max_receive_count: int = get_settings().inbound_max_receive_count

    repositories = repositories

    def handle(self, event) -> None:
        self.inbound.handle(ports(), event)

    def run_batch(self, records: list[dict]) -> list[str]:
        """Runs the SQS handler on `records`; answers the message ids it reports failed.

        The handler's batch processor is one object per module copy, as in Lambda, where
        an instance runs one batch at a time: the stack's poller must not run one
        meanwhile, so the queue must be empty and stay so (no echoes: quiet_x)."""
        assert self.stack.drain(30), "the stack's poller is still busy"
        answer = self.stack.runtime.invoke(self.function, {"Records": records})
        return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]

    @contextmanager
    def retries(self) -> Iterator[dict[str, int]]:
        """The retries the handler schedules for the tests' records (receipt handle ->
        seconds): the queue never held those messages, so their visibility is not changed."""
        queue_class = self.repositories.FifoQueue
        original = queue_class.retry_after
        scheduled: dict[str, int] = {}

        def retry_after(queue, receipt_handle: str, seconds: int) -> None:
            if receipt_handle.startswith(TEST_RECEIPT):
                scheduled[receipt_handle] = seconds
            else:  # a message of the stack's own poller
                original(queue, receipt_handle, seconds)

        with patch.object(queue_class, "retry_after", retry_after):
            yield scheduled

    # ------------------------------------------------------------ events, as X's are normalized

    def customer_dm(self, account_id: str, customer: str, text: str):
        return self.inbound.DirectMessageReceived(
            event_id=x_id(),
            account_id=account_id,
            customer_id=Account.named(customer).id,
            customer_screen_name=customer,
            customer_name=customer,
            text=text,
            sent_at=datetime.now(UTC),
        )

    def account_dm(self, account_id: str, customer: str, text: str, app_id: str | None):
        """A DM the account sent the customer: through an app (ours: an echo), or typed in
        X's own app (no app id)."""
        return self.inbound.DirectMessageSent(
            event_id=x_id(),
            account_id=account_id,
            recipient_id=Account.named(customer).id,
            text=text,
            sent_by_app_id=app_id,
            sent_at=datetime.now(UTC),
        )

    def mention(self, account_id: str, customer: str, text: str):
        return self.inbound.Mention(
            event_id=x_id(),
            account_id=account_id,
            customer_id=Account.named(customer).id,
            customer_screen_name=customer,
            customer_name=customer,
            post_id=x_id(),
            text=text,
            sent_at=datetime.now(UTC),
        )


@pytest.fixture
def processor(stack) -> Processor:
    return Processor(stack)


def x_id() -> str:
    return str(uuid.uuid4().int % 10**18)


def sqs_record(event, receive_count: int = 1) -> dict:
    """The record Lambda hands the processor for `event` as the webhook queued it: the
    conversation is the message group."""
    party = getattr(event, "customer_id", None) or getattr(event, "recipient_id", "")
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"{TEST_RECEIPT}{uuid.uuid4().hex}",
        "body": event.model_dump_json(),
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "MessageGroupId": f"{event.account_id}:{party}",
            "MessageDeduplicationId": f"{event.account_id}:{event.event_id}",
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:twittnow-InboundQueue.fifo",
        "awsRegion": "us-east-1",
    }


@contextmanager
def crash_once(
    owner: type, name: str, when: Callable[..., bool], *, after_the_call: bool = False
) -> Iterator[None]:
    """Makes the first call of owner.name that `when(*args, **kwargs)` picks raise Crash;
    `after_the_call`: once the real call is made (the other side took it, then we died)."""
    original = getattr(owner, name)
    crashed = False

    def patched(*args, **kwargs):
        nonlocal crashed
        if crashed or not when(*args, **kwargs):
            return original(*args, **kwargs)
        crashed = True
        if after_the_call:
            original(*args, **kwargs)
        raise Crash(f"died in {name}")

    with patch.object(owner, name, patched):
        yield


@contextmanager
def quiet_x(stack) -> Iterator[None]:
    """The sandbox X delivers no echoes of what the service sends meanwhile."""
    settings = f"{stack.x_sandbox.base_url}/sandbox/settings"
    requests.put(settings, json={"echo": False}, timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.put(settings, json={"echo": True}, timeout=10).raise_for_status()


@contextmanager
def spying(owner: type, name: str) -> Iterator[list[tuple[tuple, dict]]]:
    """Records the arguments of every call of owner.name (a method), which still runs."""
    original = getattr(owner, name)
    calls: list[tuple[tuple, dict]] = []

    def spy(*args, **kwargs):
        calls.append((args[1:], kwargs))  # without self
        return original(*args, **kwargs)

    with patch.object(owner, name, spy):
        yield calls


# ---------------------------------------------------------------- staff writing in X's app


def test_a_staff_dm_on_an_open_case_is_the_company_comment_on_it(stack, desk, customer):
    desk.customer_dm(customer, "Where is my parcel?")
    settle(stack)
    # Typed right after the acknowledgement went out: a DM with no app id is not held back
    # as a possible echo of the service's own DM, which would take ECHO_RACE_WINDOW.
    desk.staff_dm(customer, "Checking with the courier now.")
    settle(stack, timeout=10)

    [case] = desk.cases_of(customer)
    assert comments_on(case) == [f"Sent on X by @{desk.account}: Checking with the courier now."]
    # The acknowledgement's echo came back as well, and is not taken for staff's.
    assert [(m["author"], m["status"]) for m in desk.messages_with(customer)] == [
        ("customer", "case_created"),
        ("bot", "delivered"),
        ("staff", "commented"),
    ]


def test_our_echo_arriving_before_its_id_is_recorded_is_retried_then_dropped(
    stack, desk, customer, processor
):
    desk.customer_dm(customer, "Where is my parcel?")
    settle(stack)
    echoes = processor.repositories.echoes()
    # The service starts sending the customer a DM (an agent's reply) and X delivers its
    # echo before the sender has recorded the DM's id.
    echoes.sending(desk.account_id, Account.named(customer).id)
    echo = processor.account_dm(desk.account_id, customer, "An agent's reply", app_id=APP_ID)
    record = sqs_record(echo)

    with processor.retries() as scheduled:
        assert processor.run_batch([record]) == [record["messageId"]]
        assert scheduled == {record["receiptHandle"]: processor.inbound.ECHO_RECHECK_SECONDS}
        echoes.sent(desk.account_id, echo.event_id)  # the sender records it meanwhile
        assert processor.run_batch([record]) == []  # the retry: ours, dropped

    [case] = desk.cases_of(customer)
    assert comments_on(case) == []
    assert "staff" not in {message["author"] for message in desk.messages_with(customer)}


# ---------------------------------------------------------------- media


@pytest.fixture
def oauth1_desk(stack) -> Desk:
    """The sandbox X serves DM media (ton.twitter.com's) to OAuth 1.0a signatures only."""
    return open_desk(stack, oauth1=True)


def test_a_customer_photo_is_linked_and_attached_to_the_case(stack, oauth1_desk, customer):
    desk = oauth1_desk
    photo = {"type": "photo", "file_name": "box.png"}
    first = desk.customer_dm(customer, "The box came broken", media=[photo])
    settle(stack)
    second = desk.customer_dm(customer, "And the lid", media=[photo])
    settle(stack)

    first_url, second_url = (dm["dm"]["media"][0]["url"] for dm in (first, second))
    [case] = desk.cases_of(customer)
    assert desk.case(case["sys_id"])["description"] == (
        f"The box came broken\nAttachment: {first_url}"
    )
    assert comments_on(case) == [f"And the lid\nAttachment: {second_url}"]
    attachments = desk.attachments_of(case)
    assert [(a["file_name"], a["content_type"]) for a in attachments] == [
        ("box.png", "image/png"),
        ("box.png", "image/png"),
    ]
    assert [m["media_urls"] for m in desk.messages_with(customer) if m["author"] == "customer"] == [
        [first_url],
        [second_url],
    ]


def test_a_photo_x_fails_to_serve_for_now_is_attached_once_on_the_retry(
    stack, oauth1_desk, customer
):
    desk = oauth1_desk
    desk.x_fault(endpoint="media", status=503, times=1)
    desk.customer_dm(customer, "See the photo", media=[{"type": "photo"}])
    settle(stack)  # the retry comes after the backoff's 2 seconds

    [case] = desk.cases_of(customer)
    assert len(desk.attachments_of(case)) == 1
    assert len(desk.sent_to(customer)) == 1  # the retry did not acknowledge again
    assert desk.messages_with(customer)[0]["status"] == "case_created"


def test_a_dm_photo_x_refuses_to_an_oauth2_connection_stays_a_link_and_breaks_nothing(
    stack, desk, customer
):
    """X's docs do not say whether a DM's media (ton.twitter.com) take an OAuth 2.0 bearer
    token; the sandbox X takes OAuth 1.0a only. The photo's link is on the case, and the
    connection stays connected."""
    sent = desk.customer_dm(customer, "The box came broken", media=[{"type": "photo"}])
    settle(stack)

    url = sent["dm"]["media"][0]["url"]
    [case] = desk.cases_of(customer)
    assert desk.case(case["sys_id"])["description"] == f"The box came broken\nAttachment: {url}"
    assert desk.attachments_of(case) == []
    assert desk.messages_with(customer)[0]["status"] == "case_created"
    admin = desk.api.login(stack.admin_username, stack.admin_password)
    listed = all_pages(desk.api, "/twitter-details/?page_size=200", admin)
    [details] = [item for item in listed if item["screen_name"] == desk.account]
    assert (details["auth"], details["status"]) == ("oauth2", "connected")


# ------------------------------------------------------- dying between a call and its record


def test_dying_after_servicenow_took_the_comment_does_not_comment_twice(
    stack, desk, customer, processor
):
    desk.customer_dm(customer, "Where is my parcel?")
    settle(stack)
    conversation_id = desk.conversation_with(customer)["id"]
    follow_up = processor.customer_dm(desk.account_id, customer, "It was due Monday.")

    with (
        crash_once(
            processor.repositories.MessagesRepository,
            "update",
            lambda _, message, **changes: (
                message.conversation_id == conversation_id and changes.get("status") == "commented"
            ),
        ),
        pytest.raises(Crash),
    ):
        processor.handle(follow_up)
    assert desk.messages_with(customer)[-1]["status"] == "commenting"

    processor.handle(follow_up)  # the retry looks for the comment before writing it

    [case] = desk.cases_of(customer)
    assert comments_on(case) == ["It was due Monday."]
    assert desk.messages_with(customer)[-1]["status"] == "commented"


def test_dying_after_the_case_was_created_finds_it_on_the_retry(stack, desk, customer, processor):
    desk.introduce(customer)
    first = processor.customer_dm(desk.account_id, customer, "Where is my parcel?")

    with (
        crash_once(
            ServiceNowClient,
            "create_case",
            lambda _, **fields: fields["short_description"].endswith(f"@{customer}"),
            after_the_call=True,
        ),
        pytest.raises(Crash),
    ):
        processor.handle(first)
    [case] = desk.cases_of(customer)
    assert desk.conversation_with(customer)["status"] == "new"  # it never learnt the case

    processor.handle(first)  # finds the case by its correlation id
    settle(stack)

    assert desk.cases_of(customer) == [case]
    conversation = desk.conversation_with(customer)
    assert (conversation["status"], conversation["case_number"]) == ("open", case["number"])
    [acknowledgement] = desk.sent_to(customer)
    assert case["number"] in acknowledgement


def is_acknowledgement_of(event) -> Callable[..., bool]:
    return lambda _, message, **changes: message.key.endswith(f"{event.event_id}#ack")


def test_dying_after_the_acknowledgement_was_sent_and_its_id_kept_sends_it_once(
    stack, desk, customer, processor
):
    desk.introduce(customer)
    first = processor.customer_dm(desk.account_id, customer, "Where is my parcel?")
    acknowledgement = is_acknowledgement_of(first)

    with (
        crash_once(
            processor.repositories.MessagesRepository,
            "update",
            lambda *args, **changes: (
                acknowledgement(*args) and changes.get("status") == "delivered"
            ),
        ),
        pytest.raises(Crash),
    ):
        processor.handle(first)
    [sent] = desk.sent_to(customer)
    bot = desk.messages_with(customer)[1]
    assert (bot["status"], len(bot["x_message_ids"])) == ("queued", 1)

    processor.handle(first)  # the parts X took are not sent again
    settle(stack)

    assert desk.sent_to(customer) == [sent]
    assert desk.messages_with(customer)[1]["status"] == "delivered"


def test_dying_before_the_acknowledgement_id_was_kept_sends_it_again_the_known_limit(
    stack, desk, customer, processor
):
    # Between X taking a DM and the service recording its id there is no way to know:
    # a crash right there costs the customer one extra acknowledgement, never more.
    desk.introduce(customer)
    first = processor.customer_dm(desk.account_id, customer, "Where is my parcel?")
    acknowledgement = is_acknowledgement_of(first)

    with (
        crash_once(
            processor.repositories.MessagesRepository,
            "update",
            lambda *args, **changes: acknowledgement(*args) and "x_message_ids" in changes,
        ),
        pytest.raises(Crash),
    ):
        processor.handle(first)
    processor.handle(first)
    processor.handle(first)  # X delivering the DM once more changes nothing
    settle(stack)

    [case] = desk.cases_of(customer)
    sent = desk.sent_to(customer)
    assert len(sent) == 2 and all(case["number"] in text for text in sent)
    assert [(m["author"], m["status"]) for m in desk.messages_with(customer)] == [
        ("customer", "case_created"),
        ("bot", "delivered"),
    ]


# ---------------------------------------------------------------- the customer's consumer


def test_the_consumer_is_found_once_and_remembered_for_the_next_case(
    stack, desk, customer, processor
):
    client = ServiceNowClient
    with (
        spying(client, "find_social_profile") as found,
        spying(client, "create_consumer") as created,
    ):
        desk.customer_dm(customer, "My parcel is late.")
        settle(stack)
        desk.customer_mention(customer, "still no parcel")  # another thread: a second case
        settle(stack)

    dm_case, mention_case = desk.cases_of(customer)
    assert dm_case["consumer"] and dm_case["consumer"] == mention_case["consumer"]
    [profile] = desk.social_profiles(dm_case["consumer"])
    assert dm_case["sn_app_cs_social_social_profile"] == profile["sys_id"]
    # Only this customer's calls count: the poller may be finishing an earlier test's events.
    customer_id = desk.x_user_id(customer)
    assert [args for args, _ in found if customer_id in args] == [("Twitter", customer_id)]
    assert [fields["social_handle"] for _, fields in created].count(customer) == 1


def test_a_consumer_whose_profile_has_the_customers_x_user_id_is_reused(stack, desk, customer):
    desk.introduce(customer)
    existing = desk.servicenow(
        "POST",
        "/api/now/consumer",
        first_name="Jane",
        last_name="Doe",
        social_channel="Twitter",
        social_handle=customer,
        social_handle_url=f"https://x.com/{customer}",
    )["result"]
    [profile] = desk.social_profiles(existing)
    desk.servicenow(
        "PATCH",
        f"/api/now/table/sn_app_cs_social_social_profile/{profile['sys_id']}",
        social_id=desk.x_user_id(customer),
    )
    desk.customer_dm(customer, "My parcel is late.")
    settle(stack)

    [case] = desk.cases_of(customer)
    assert case["consumer"] == existing
    assert desk.consumers_with_handle(customer) == [existing]


def test_a_consumer_with_only_the_customers_handle_is_not_theirs(stack, desk, customer):
    """Made on the instance for whoever had the handle then: no X user id says it is
    this customer's."""
    by_handle = desk.servicenow(
        "POST",
        "/api/now/consumer",
        first_name="Jane",
        last_name="Doe",
        social_channel="Twitter",
        social_handle=customer,
        social_handle_url=f"https://x.com/{customer}",
    )["result"]
    desk.customer_dm(customer, "My parcel is late.")
    settle(stack)

    [case] = desk.cases_of(customer)
    assert case["consumer"] and case["consumer"] != by_handle
    assert sorted(desk.consumers_with_handle(customer)) == sorted([by_handle, case["consumer"]])


# ---------------------------------------------------------------- recycled handles


def test_a_new_x_user_with_a_customers_old_handle_gets_their_own_consumer_and_case(
    stack, desk, customer
):
    """@jane (X user 1) writes and gets a consumer and a case; she renames herself, and
    another X user takes @jane: X recycles handles. The newcomer gets a consumer and a
    case of their own, never hers; she, writing again as @jane_new, lands on her own open
    case, and her consumer shows her new handle."""
    jane_id = desk.customer_dm(customer, "My parcel is late.")["dm"]["from"]["id"]
    settle(stack)
    [janes_case] = desk.cases_of(customer)
    janes_consumer = janes_case["consumer"]
    renamed = f"{customer}_n"
    desk.rename(customer, renamed)

    newcomer_id = desk.customer_dm(customer, "Hello, I am new here.")["dm"]["from"]["id"]
    settle(stack)
    assert newcomer_id != jane_id
    newcomers = desk.conversation_of(newcomer_id)
    assert newcomers["customer_screen_name"] == customer
    assert newcomers["case_sys_id"] != janes_case["sys_id"]
    newcomers_case = desk.case_by_sys_id(newcomers["case_sys_id"])
    assert newcomers_case["consumer"] not in ("", janes_consumer)
    assert comments_on(newcomers_case) == []
    assert [p["social_id"] for p in desk.social_profiles(newcomers_case["consumer"])] == [
        newcomer_id
    ]

    desk.customer_dm(renamed, "Any news on my parcel?")
    settle(stack)
    assert comments_on(desk.case_by_sys_id(janes_case["sys_id"])) == ["Any news on my parcel?"]
    assert comments_on(desk.case_by_sys_id(newcomers_case["sys_id"])) == []
    [profile] = desk.social_profiles(janes_consumer)
    assert (profile["social_id"], profile["handle"], profile["url"]) == (
        jane_id,
        renamed,
        f"https://x.com/{renamed}",
    )
    janes = desk.conversation_of(jane_id)
    assert (janes["customer_screen_name"], janes["case_sys_id"]) == (renamed, janes_case["sys_id"])
    # Each was told the number of their own case, and nothing else.
    sent = desk.x("GET", "/sandbox/sent")
    for user_id, case in ((jane_id, janes_case), (newcomer_id, newcomers_case)):
        [acknowledgement] = [item["text"] for item in sent if item["to"]["id"] == user_id]
        assert case["number"] in acknowledgement


# ---------------------------------------------------------------- not ready, or not ours


def test_a_tenant_without_servicenow_details_keeps_the_message_queued_five_minutes(
    stack, processor, customer
):
    desk = open_desk(stack, servicenow=False)
    queue = processor.repositories.FifoQueue
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)
    queue_url = stack.environment.values["INBOUND_QUEUE_URL"]
    settled = False
    try:
        with spying(queue, "retry_after") as retries:
            desk.customer_dm(customer, "Hello?")
            deadline = time.monotonic() + 10
            while not retries and time.monotonic() < deadline:
                time.sleep(0.1)
        [((receipt_handle, seconds), _)] = retries
        assert seconds == 5 * 60
        assert not stack.drain(0.5), "the message must wait on the queue"
        assert desk.messages_with(customer)[0]["status"] == "waiting_for_answers"
        assert desk.cases_of(customer) == []

        # Once the tenant gives its details, the message goes through at its next attempt
        # (brought forward here rather than waited for).
        desk.add_servicenow_details()
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0
        )
        settle(stack)
        settled = True
        [case] = desk.cases_of(customer)
        assert desk.messages_with(customer)[0]["case_number"] == case["number"]
    finally:
        if not settled:  # no 5-minute message left to hold up the next tests
            sqs.purge_queue(QueueUrl=queue_url)


@pytest.mark.parametrize("kind", ["customer_dm", "account_dm", "mention"])
def test_an_event_for_an_account_no_tenant_holds_is_dropped(stack, processor, customer, kind):
    nobody = Account.named(f"nobody_{x_id()[:6]}").id
    event = {
        "customer_dm": lambda: processor.customer_dm(nobody, customer, "Hello?"),
        "account_dm": lambda: processor.account_dm(nobody, customer, "Hello!", app_id=None),
        "mention": lambda: processor.mention(nobody, customer, "@nobody hi"),
    }[kind]()

    with processor.retries() as scheduled:
        assert processor.run_batch([sqs_record(event)]) == []

    assert scheduled == {}
    stored = processor.repositories.conversations().all()
    assert Account.named(customer).id not in {conversation.customer_id for conversation in stored}


def test_only_the_events_accepted_while_the_account_was_disconnected_are_dropped(
    stack, desk, customer, processor
):
    """The webhook remembers for a minute that an account is held, so it may accept a
    delivery just after the account was disconnected. Such an event belongs to no
    connection, even once the account is connected again; one accepted before the
    disconnect, and one accepted after the reconnect, reach the conversation."""

    def received_now(text: str):
        return processor.customer_dm(desk.account_id, customer, text).model_copy(
            update={"received_at": datetime.now(UTC)}
        )

    before = received_now("Accepted while the account was held")
    unstamped = processor.customer_dm(desk.account_id, customer, "Queued before received_at")
    assert desk.api.delete("/twitter-revoke/", token=desk.token).status == 204
    during = received_now("Accepted while the account was disconnected")
    connect_account(desk)
    after = received_now("Accepted after the account was connected again")

    connection = processor.repositories.credentials().x_by_account(desk.account_id)
    assert connection.account_released_at < during.received_at < connection.connected_at
    for event in (before, unstamped, during, after):
        with processor.retries() as scheduled:
            assert processor.run_batch([sqs_record(event)]) == []
        assert scheduled == {}

    texts = [
        message["text"]
        for message in desk.messages_with(customer)
        if message["author"] == "customer"
    ]
    assert texts == [before.text, unstamped.text, after.text]


# ---------------------------------------------------------------- the queue's view


def test_the_last_attempt_records_why_and_a_redrive_resumes_where_it_stopped(
    stack, desk, customer, processor
):
    desk.customer_dm(customer, "Where is my parcel?")
    settle(stack)
    follow_up = processor.customer_dm(desk.account_id, customer, "It was due Monday.")
    last = sqs_record(follow_up, receive_count=processor.max_receive_count)
    desk.servicenow_fault(endpoint="case", status=503, times=1)  # the comment fails

    with processor.retries() as scheduled:
        assert processor.run_batch([last]) == [last["messageId"]]
    assert scheduled == {}  # no next attempt: SQS moves it to the dead-letter queue
    message = desk.messages_with(customer)[-1]
    assert (message["text"], message["status"]) == ("It was due Monday.", "failed")
    assert message["status_detail"].startswith("ServiceNow failed")

    # An operator redrives it from the dead-letter queue: it resumes, comments once.
    assert processor.run_batch([sqs_record(follow_up)]) == []
    [case] = desk.cases_of(customer)
    assert comments_on(case) == ["It was due Monday."]
    message = desk.messages_with(customer)[-1]
    assert (message["status"], message["status_detail"]) == ("commented", "")


def test_a_failing_conversation_holds_back_only_its_own_messages_in_a_batch(stack, desk, processor):
    ann, bob = new_customer(), new_customer()
    for name in (ann, bob):
        desk.introduce(name)
    ann_1, bob_1, bob_2, ann_2 = (
        processor.customer_dm(desk.account_id, name, text)
        for name, text in [
            (ann, "Ann's parcel is late."),
            (bob, "Bob's parcel is late."),
            (bob, "Bob again."),
            (ann, "Ann again."),
        ]
    )
    records = [sqs_record(event) for event in (ann_1, bob_1, bob_2, ann_2)]

    def create_case(client, **fields):
        if fields["short_description"].endswith(f"@{bob}"):
            raise ServiceNowUnavailable("ServiceNow is down for Bob.", status_code=503)
        return original(client, **fields)

    client = ServiceNowClient
    original = client.create_case
    # Ann's acknowledgement goes out during the batch: its echo would start the poller.
    with (
        quiet_x(stack),
        processor.retries() as scheduled,
        patch.object(client, "create_case", create_case),
    ):
        failed = processor.run_batch(records)

    # Bob's second message waits behind his first (FIFO); Ann's go on.
    assert failed == [records[1]["messageId"], records[2]["messageId"]]
    assert list(scheduled) == [records[1]["receiptHandle"]]  # the skipped one was not tried
    [ann_case] = desk.cases_of(ann)
    assert comments_on(ann_case) == ["Ann again."]
    assert desk.cases_of(bob) == []
    assert [m["text"] for m in desk.messages_with(bob)] == ["Bob's parcel is late."]


def test_a_message_that_is_not_an_event_fails_and_holds_back_only_its_group(stack, desk, processor):
    ann, bob = new_customer(), new_customer()
    for name in (ann, bob):
        desk.introduce(name)
    bob_1, ann_1, bob_2 = (
        sqs_record(processor.customer_dm(desk.account_id, name, text))
        for name, text in [
            (bob, "Bob's parcel is late."),
            (ann, "Ann's parcel is late."),
            (bob, "Bob again."),
        ]
    )
    bob_1["body"] = bob_1["body"].replace('"direct_message_received"', '"direct_message_lost"')
    with quiet_x(stack), processor.retries() as scheduled:
        failed = processor.run_batch([bob_1, ann_1, bob_2])

    # Retrying cannot fix it: it comes back after the queue's visibility timeout, as any
    # failure without a delay of its own, until the dead-letter queue takes it.
    assert failed == [bob_1["messageId"], bob_2["messageId"]]
    assert scheduled == {}
    assert len(desk.cases_of(ann)) == 1
    assert desk.messages_with(ann)[0]["text"] == "Ann's parcel is late."
    assert desk.cases_of(bob) == []


# ---------------------------------------------------------------- X refusing the bot


def deliver_dm_from_a_stranger(stack, desk: Desk, customer: str, text: str) -> None:
    """X's Account Activity delivery of a DM from an account the sandbox X has never
    seen, so that it refuses DMs to it: as X refuses a customer who does not accept DMs."""
    account = Account.named(desk.account)
    message = DirectMessage(x_id(), Account.named(customer), account, text, datetime.now(UTC), None)
    body = json.dumps(aaa_direct_message(account, message)).encode()
    answer = requests.post(
        f"{stack.base_url}/twitter-activity",
        data=body,
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "x-twitter-webhooks-signature": delivery_signature(
                stack.x_sandbox.consumer_secret, body
            ),
        },
    )
    assert answer.json() == {"queued": 1}, answer.text


@pytest.mark.parametrize("refusal", ["forbidden", "unknown_customer"])
def test_x_refusing_the_acknowledgement_for_good_is_recorded_and_not_retried(
    stack, desk, customer, refusal
):
    if refusal == "forbidden":
        desk.x_fault(endpoint="dm", status=403, times=1)
        desk.customer_dm(customer, "Hello?")
    else:
        deliver_dm_from_a_stranger(stack, desk, customer, "Hello?")
    settle(stack)

    [case] = desk.cases_of(customer)
    asked, acknowledgement = desk.messages_with(customer)
    assert (asked["status"], asked["case_number"]) == ("case_created", case["number"])
    assert (acknowledgement["author"], acknowledgement["status"]) == ("bot", "failed")
    assert case["number"] in acknowledgement["text"]
    assert acknowledgement["status_detail"].startswith("X refused to send a DM")
    # Not retried: a retry would have sent it, the sandbox's fault being used up.
    assert desk.sent_to(customer) == []
