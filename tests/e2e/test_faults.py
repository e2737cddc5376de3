"""The fault-injection test of issue 7, end to end on a local stack of its own: 300 DMs from
30 customers while the sandbox ServiceNow fails 30% of calls (429, 500, timeouts, and
timeouts after doing the call), the sandbox X throttles DM sends for a while and delivers
every event twice, and agents reply on some cases meanwhile. Once the faults stop and the
queues drain, every message is on its customer's case once and in order, every reply and
acknowledgement reached the customer once, and no dead-letter queue holds anything.

The retry delays are the real ones (2 s doubling, Retry-After, X's rate-limit reset), so
the test takes two or three minutes. A second test, expected to fail, shows how messages
waiting behind a failing one lose their attempts.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests

from local.stack import LocalStack, Settings
from tests.api.client import ApiClient
from tests.api.desks import Desk, close_desk, drained, open_desk

pytestmark = pytest.mark.e2e

CUSTOMERS, MESSAGES_EACH = 30, 10
SERVICENOW_TIMEOUT_SECONDS = 0.5
SERVICENOW_FAULTS = {
    "endpoint": "*",
    "rate": 0.3,
    "statuses": [429, 500, "timeout", "late"],
    "retry_after": 1,
    "hold_seconds": 1,  # longer than the client waits: a held call is a timeout
    "seed": 7,
}
X_THROTTLING = {"endpoint": "dm", "status": 429, "times": 4, "reset_in": 2}
# How long the faults last once the customers have written: each failure of a message
# doubles its next wait, so longer faults make the queues take long to drain.
FAULTS_AFTER_THE_LAST_DM_SECONDS = 45
REPLIED_CASES = 10  # agents reply twice on as many cases, the first the service opens
DRAIN_SECONDS = 300
ACKNOWLEDGEMENT = "Thanks for getting in touch! We opened case {number} for you; "


@pytest.fixture(autouse=True)
def _local_stack_environment():
    """Overrides the end-to-end tests' fixture: these tests run on a stack of their own, not
    on the shared one, whose variables must not be set meanwhile."""
    yield


@pytest.fixture
def stack(tmp_path):
    """A stack of its own, whose ServiceNow client gives up on a held call sooner than its
    usual 10 s. A function reads its settings once, at its first invocation (each has its
    own copy of the layer: local/runtime.py), so the variable set after the start and
    before anything runs is the one the processor and the sender use."""
    stack = LocalStack(
        Settings(port=0, admin_password="faults-admin-password"),
        state_file=tmp_path / "stack.json",
        isolated_aws=True,
    )
    stack.start()
    try:
        stack.environment.set("SERVICENOW_TIMEOUT_SECONDS", str(SERVICENOW_TIMEOUT_SECONDS))
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def desk(stack) -> Desk:
    api = ApiClient(stack, over_http=True)
    api.admin_token = api.login(stack.admin_username, stack.admin_password)
    desk = open_desk(api)
    key = api.post("/api-key/", token=desk.token)
    assert key.status in (200, 201), key.body
    # The business rule's stand-in posts the agents' comments to /events/ with the key.
    settings = {"events_url": f"{stack.base_url}/events/", "api_key": key.body["token"]}
    answer = requests.put(f"{desk.servicenow_url}/sandbox/settings", json=settings, timeout=10)
    assert answer.ok, answer.text
    yield desk
    close_desk(desk)


def customer_name(number: int) -> str:
    return f"customer{number:02d}"


def texts_of(number: int) -> list[str]:
    return [f"c{number:02d} m{index:02d}" for index in range(MESSAGES_EACH)]


def replies_to(customer: str) -> list[str]:
    return [f"Reply {index} to @{customer}" for index in (1, 2)]


def test_nothing_lost_nothing_twice_under_faults(stack, desk):
    customers = {customer_name(number): texts_of(number) for number in range(CUSTOMERS)}
    desk.x("PUT", "/sandbox/settings", deliver_twice=True)
    desk.servicenow_fault(**SERVICENOW_FAULTS)
    desk.x("POST", "/sandbox/faults", **X_THROTTLING)

    # Customers write at the same time, each one DM after the other.
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(
            pool.map(
                lambda item: [desk.customer_dm(item[0], text) for text in item[1]],
                customers.items(),
            )
        )
    faults_end = time.monotonic() + FAULTS_AFTER_THE_LAST_DM_SECONDS
    desk.x("POST", "/sandbox/faults", **X_THROTTLING)  # again, for the agents' replies
    answered = reply_on_cases_until(desk, faults_end)
    failed_calls = lift_faults(desk)
    drained(stack, timeout=DRAIN_SECONDS)

    assert failed_calls >= 30, "ServiceNow failed too few calls for a fault test"
    sent = desk.x("GET", "/sandbox/sent")
    for customer, texts in customers.items():
        expected_replies = replies_to(customer) if customer in answered else []
        [case] = desk.cases_of(customer)
        assert texts_on(desk, case) == (texts, expected_replies), customer
        sent_texts = [item["text"] for item in sent if item["to"]["screen_name"] == customer]
        [acknowledgement] = [text for text in sent_texts if text not in expected_replies]
        assert acknowledgement.startswith(ACKNOWLEDGEMENT.format(number=case["number"]))
        assert [text for text in sent_texts if text in expected_replies] == expected_replies
        assert "failed" not in {message["status"] for message in desk.messages_with(customer)}
    assert dead_letters(stack) == {"inbound": 0, "outbound": 0}


def test_messages_waiting_behind_a_failing_one_keep_their_attempts(stack, desk):
    """A conversation's next messages are not received with a failing one (BatchSize 1):
    had they been, the processor would skip them to keep their order, yet each receive
    would count towards maxReceiveCount, and the next message's first failure would be
    its last (and its backoff 2 ** count seconds)."""
    desk.customer_dm("jane", "m00")  # opens the case
    drained(stack)
    limit = int(stack.environment.values["INBOUND_MAX_RECEIVE_COUNT"])
    # m01 fails all but its last attempt; then m02's media cannot be fetched a few times.
    desk.servicenow_fault(endpoint="case", status=429, times=limit - 1, retry_after=1)
    desk.x("POST", "/sandbox/faults", endpoint="media", status=429, times=5, reset_in=0)
    texts = [f"m{index:02d}" for index in range(1, 11)]
    for text in texts:
        desk.customer_dm("jane", text, media=[{"type": "photo"}] if text == "m02" else [])

    deadline = time.monotonic() + 60
    while True:
        statuses = statuses_of(desk, "jane")
        if "failed" in statuses or statuses == ["commented"] * len(texts):
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.5)

    assert statuses == ["commented"] * len(texts)


def statuses_of(desk: Desk, customer: str) -> list[str]:
    """The statuses of the customer's messages after the first (which opened the case)."""
    messages = [m for m in desk.messages_with(customer) if m["author"] == "customer"]
    return [message["status"] for message in messages[1:]]


def reply_on_cases_until(desk: Desk, end: float) -> set[str]:
    """Until `end`, and until they have, agents reply twice on the first REPLIED_CASES
    cases the service has on its conversations (an event about a case it has not linked
    yet is refused: 404). Answers the customers they replied to."""
    answered: set[str] = set()
    deadline = end + 120
    while time.monotonic() < end or len(answered) < REPLIED_CASES:
        assert time.monotonic() < deadline, f"only {len(answered)} cases open under the faults"
        for conversation in desk.conversations():
            customer, number = conversation["customer_screen_name"], conversation["case_number"]
            if number and customer not in answered and len(answered) < REPLIED_CASES:
                for reply in replies_to(customer):
                    agent_comment(desk, number, reply)
                answered.add(customer)
        time.sleep(0.5)
    return answered


def agent_comment(desk: Desk, case_number: str, text: str) -> None:
    answer = requests.post(
        f"{desk.servicenow_url}/sandbox/cases/{case_number}/comment",
        json={"text": text},
        timeout=30,
    )
    assert answer.ok, answer.text
    assert answer.json()["event"]["status"] == 202, answer.json()["event"]


def lift_faults(desk: Desk) -> int:
    """Ends the faults; answers how many calls ServiceNow failed."""
    faults = requests.get(f"{desk.servicenow_url}/sandbox/faults", timeout=10).json()["faults"]
    close_desk(desk)
    [servicenow] = faults
    return servicenow["failed"]


def texts_on(desk: Desk, case: dict) -> tuple[list[str], list[str]]:
    """What the case says, in order: the customer's messages (its description's
    paragraphs, then the comments the service wrote as the integration user), and the
    agents' comments."""
    sandbox = desk.api.stack.servicenow_sandbox
    description = requests.get(
        f"{desk.servicenow_url}/api/sn_customerservice/case/{case['sys_id']}",
        auth=(sandbox.admin_user, sandbox.admin_password),
        timeout=30,
    ).json()["result"]["description"]
    comments = [entry for entry in case["journal"] if entry["element"] == "comments"]
    by_service = [e["value"] for e in comments if e["login_name"] == sandbox.admin_user]
    by_agents = [e["value"] for e in comments if e["login_name"] != sandbox.admin_user]
    return description.split("\n\n") + by_service, by_agents


def dead_letters(stack: LocalStack) -> dict[str, int]:
    """How many messages each dead-letter queue holds, visible or not."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)
    counts = {}
    for name in ("inbound", "outbound"):
        queue_url = stack.environment.values[f"{name.upper()}_QUEUE_URL"]
        policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        dead_letter_arn = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
        dead_letter_url = sqs.get_queue_url(QueueName=dead_letter_arn.split(":")[-1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=dead_letter_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        counts[name] = sum(int(count) for count in attributes.values())
    return counts
