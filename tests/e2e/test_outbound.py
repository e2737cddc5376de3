"""Outbound, end to end on the local stack with both sandboxes: a customer writes on X, an
agent answers in the sandbox ServiceNow, whose business rule stand-in calls /events/ with
the tenant's developer key, and the customer gets the reply on the sandbox X."""

import uuid

import boto3
import pytest
import requests

from tests.api.desks import Desk, drained
from tests.e2e.test_ops_dead_letters import dead_letters

pytestmark = pytest.mark.e2e


@pytest.fixture
def agent(local_stack, desk: Desk):
    """The sandbox ServiceNow's agents, whose actions reach this tenant's /events/."""
    key = desk.api.post("/api-key/", token=desk.token)
    assert key.status in (200, 201), key.body
    settings = {"events_url": f"{local_stack.base_url}/events/", "api_key": key.body["token"]}
    answer = requests.put(f"{desk.servicenow_url}/sandbox/settings", json=settings, timeout=10)
    assert answer.ok, answer.text
    yield Agent(desk, key.body["token"])
    requests.put(f"{desk.servicenow_url}/sandbox/settings", json={"events_url": ""}, timeout=10)


class Agent:
    def __init__(self, desk: Desk, api_key: str):
        self.desk = desk
        self.api_key = api_key  # what the update set's property holds

    def act(self, action: str, case_number: str, text: str | None = None) -> dict:
        body = {"text": text} if text is not None else {}
        answer = requests.post(
            f"{self.desk.servicenow_url}/sandbox/cases/{case_number}/{action}",
            json=body,
            timeout=30,
        )
        assert answer.ok, answer.text
        event = answer.json()["event"]
        assert event["status"] == 202, event  # /events/ accepted it
        return event


def case_of(desk: Desk, customer: str) -> dict:
    [case] = desk.cases_of(customer)
    return case


def test_an_agents_comment_reaches_the_customer_as_a_dm(local_stack, desk, agent, customer):
    desk.customer_dm(customer, "My order never came.")
    drained(local_stack)
    case = case_of(desk, customer)

    agent.act("comment", case["number"], "Sorry! A replacement ships today.")
    drained(local_stack)

    sent = desk.sent_to(customer)
    assert [item["kind"] for item in sent] == ["dm", "dm"]
    assert sent[1]["text"] == "Sorry! A replacement ships today."
    messages = desk.messages_with(customer)
    assert (messages[-1]["author"], messages[-1]["status"]) == ("agent", "delivered")
    assert messages[-1]["x_message_ids"] == [sent[1]["dm_event_id"]]
    # The reply's echo on X is not taken for a staff DM: no comment comes back on the case.
    comments = [e for e in case_of(desk, customer)["journal"] if e["element"] == "comments"]
    assert [e["value"] for e in comments] == ["Sorry! A replacement ships today."]


def test_an_agents_comment_on_a_mention_is_a_reply_in_the_customers_thread(
    local_stack, desk, agent, customer
):
    posted = desk.customer_mention(customer, "my order never came")
    drained(local_stack)
    follow_up = desk.customer_mention(customer, "still waiting", in_reply_to=posted["post"]["id"])
    drained(local_stack)
    case = case_of(desk, customer)

    long_reply = "We are sorry for the wait. " * 15
    agent.act("comment", case["number"], long_reply.strip())
    drained(local_stack)

    # A thread's later parts answer our own post, so they are found by their mention.
    sent = desk.x("GET", "/sandbox/sent")
    replies = [item for item in sent if item["text"].startswith(f"@{customer} ")][1:]
    assert len(replies) == 2  # 400 characters: two numbered posts
    assert replies[0]["in_reply_to_post_id"] == follow_up["post"]["id"]
    assert replies[1]["in_reply_to_post_id"] == replies[0]["post_id"]
    assert all(reply["text"].startswith(f"@{customer} ") for reply in replies)
    assert replies[0]["text"].endswith("(1/2)") and replies[1]["text"].endswith("(2/2)")


def test_a_reply_post_mentions_the_customers_handle_now_not_the_one_they_left(
    local_stack, desk, agent, customer
):
    """The customer renames on X and someone else takes their old handle: the agent's
    reply in the customer's thread must not mention (notify) that someone else."""
    posted = desk.customer_mention(customer, "my order never came")
    drained(local_stack)
    case = case_of(desk, customer)
    renamed = f"{customer}_n"
    desk.x("POST", f"/sandbox/customers/{customer}/rename", screen_name=renamed)
    desk.customer_dm(customer, "hi, the handle is mine now")  # the newcomer
    desk.customer_dm(renamed, "I changed my handle")  # seen in a DM: the mention thread too
    drained(local_stack)

    text = f"A replacement ships today (order {uuid.uuid4().hex[:8]})."  # the stack's other tests send too
    agent.act("comment", case["number"], text)
    drained(local_stack)

    sent = desk.x("GET", "/sandbox/sent")
    [reply] = [item for item in sent if item["text"].endswith(text)]
    assert reply["text"] == f"@{renamed} {text}"
    assert reply["in_reply_to_post_id"] == posted["post"]["id"]


def test_resolving_sends_the_closing_message_and_the_next_message_opens_a_new_case(
    local_stack, desk, agent, customer
):
    desk.customer_dm(customer, "My order never came.")
    drained(local_stack)
    first = case_of(desk, customer)

    agent.act("resolve", first["number"], "Refund issued. Anything else?")
    drained(local_stack)
    assert desk.sent_to(customer)[-1]["text"] == "Refund issued. Anything else?"
    assert desk.conversation_with(customer)["status"] == "new"

    desk.customer_dm(customer, "A new problem: the app crashes.")
    drained(local_stack)

    cases = desk.cases_of(customer)
    assert len(cases) == 2
    resolved = next(case for case in cases if case["number"] == first["number"])
    comments = [e["value"] for e in resolved["journal"] if e["element"] == "comments"]
    assert "A new problem: the app crashes." not in comments


def test_x_throttling_for_a_while_still_delivers_the_reply_exactly_once(
    local_stack, desk, agent, customer
):
    desk.customer_dm(customer, "Hello?")
    drained(local_stack)
    case = case_of(desk, customer)
    answer = requests.post(
        f"{desk.x_url}/sandbox/faults",
        json={"endpoint": "dm", "status": 429, "times": 3, "reset_in": 1},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text

    agent.act("comment", case["number"], "We are on it.")
    drained(local_stack, timeout=90)

    assert [item["text"] for item in desk.sent_to(customer)].count("We are on it.") == 1


def test_the_same_event_sent_twice_is_delivered_once(local_stack, desk, agent, customer):
    desk.customer_dm(customer, "Hello?")
    drained(local_stack)
    case = case_of(desk, customer)
    event = {"case": case["sys_id"], "message": "Checking now.", "event_id": f"{case['sys_id']}:9"}

    answers = [
        desk.api.post("/events/", json=event, headers={"Authorization": f"Token {agent.api_key}"})
        for _ in range(2)
    ]
    drained(local_stack)

    assert [answer.status for answer in answers] == [202, 202]
    assert answers[0].body["id"] == answers[1].body["id"] == event["event_id"]
    assert [item["text"] for item in desk.sent_to(customer)].count("Checking now.") == 1


def test_a_reply_x_refuses_is_a_work_note_waits_in_the_dead_letter_queue_and_is_redriven(
    local_stack, desk, agent, customer
):
    desk.customer_dm(customer, "Hello?")
    drained(local_stack)
    case = case_of(desk, customer)
    answer = requests.post(
        f"{desk.x_url}/sandbox/faults",
        json={"endpoint": "dm", "status": 400, "times": 1},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text

    agent.act("comment", case["number"], "Can you send us a photo?")
    drained(local_stack)

    notes = [e["value"] for e in case_of(desk, customer)["journal"] if e["element"] == "work_notes"]
    assert len(notes) == 1 and notes[0].startswith(f"Could not deliver to @{customer}: ")
    reply = desk.messages_with(customer)[-1]
    assert (reply["author"], reply["status"]) == ("agent", "failed")
    assert reply["status_detail"]
    listed = dead_letters(local_stack, "list", "--queue", "outbound")
    assert reply["id"] in listed.stdout, listed.stdout

    # Once the cause is gone (the fault was for one call), the operator redrives it.
    redriven = dead_letters(local_stack, "redrive", "--queue", "outbound", "--all")
    assert redriven.returncode == 0, redriven.stderr
    drained(local_stack)
    assert desk.messages_with(customer)[-1]["status"] == "delivered"
    sent = [item["text"] for item in desk.sent_to(customer)]
    assert sent.count("Can you send us a photo?") == 1


def test_x_refusing_the_accounts_token_marks_the_connection_broken_and_keeps_the_reply(
    local_stack, desk, agent, customer
):
    desk.customer_dm(customer, "Hello?")
    drained(local_stack)
    case = case_of(desk, customer)
    answer = requests.post(
        f"{desk.x_url}/sandbox/faults",
        # Twice: an OAuth 2.0 connection renews its token on a 401 and tries once more.
        json={"endpoint": "dm", "status": 401, "times": 2},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text

    agent.act("comment", case["number"], "Are you still there?")
    try:
        assert not local_stack.drain(5), "the reply must wait on the queue for a retry"
        details = desk.x_details()
        assert details["status"] == "broken"
        assert "connect the account again" in details["status_detail"]
        assert desk.messages_with(customer)[-1]["status"] == "queued"
    finally:
        # The reply would come back in 5 minutes; this worker's tests run one at a time,
        # so emptying the queue touches no other test's messages.
        queue_url = local_stack.environment.values["OUTBOUND_QUEUE_URL"]
        boto3.client("sqs", endpoint_url=local_stack.aws_endpoint_url).purge_queue(
            QueueUrl=queue_url
        )


def test_an_agents_comment_on_a_case_not_linked_yet_still_reaches_the_customer(
    local_stack, desk, agent, customer
):
    """ServiceNow made the case, but the create timed out and the processor's retry has not
    linked it yet: /events/ finds the conversation through the case's correlation_id."""
    reply = desk.api.post(
        "/custom-fields/", token=desk.token, json={"field_name": "city", "message": "City?"}
    )
    assert reply.status == 201, reply.body
    desk.customer_dm(customer, "My parcel is lost.")
    drained(local_stack)
    conversation = desk.conversation_with(customer)
    assert conversation["case_number"] is None
    servicenow = local_stack.servicenow_sandbox
    created = requests.post(
        f"{servicenow.base_url}/api/sn_customerservice/case",
        json={
            "short_description": f"X DM from @{customer}",
            "correlation_id": f"twittnow:{conversation['id']}:1",
        },
        auth=(servicenow.admin_user, servicenow.admin_password),
        timeout=30,
    ).json()["result"]

    agent.act("comment", created["number"], "We found it.")
    drained(local_stack)

    assert desk.sent_to(customer)[-1]["text"] == "We found it."


CONTROLS = "\x00\x07\x1b\x7f\x85\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_the_bots_questions_and_agents_replies_reach_x_without_controls_or_bidi_overrides(
    local_stack, desk, agent, customer
):
    question = desk.api.post(
        "/custom-fields/",
        token=desk.token,
        json={"field_name": "city", "message": "Which\x1b[5m city\u202e do you live in?\x00"},
    )
    assert question.status == 201, question.body
    desk.customer_dm(customer, "My parcel is lost.")
    drained(local_stack)
    desk.customer_dm(customer, "Berlin")
    drained(local_stack)
    case = case_of(desk, customer)

    # What an agent types in ServiceNow reaches /events/ through the business rule.
    agent.act("comment", case["number"], "Found it\u2067\x07 in\r\nthe depot\u202d.\u200f")
    drained(local_stack)

    sent = [item["text"] for item in desk.sent_to(customer)]
    assert sent[0] == "Which[5m city do you live in?"
    assert case["number"] in sent[1]  # the acknowledgement
    assert sent[2] == "Found it in\nthe depot.\u200f"
    assert not any(char in text for text in sent for char in CONTROLS), sent


def test_a_reply_post_reaches_x_without_controls_or_bidi_overrides(
    local_stack, desk, agent, customer
):
    desk.customer_mention(customer, "my order never came")
    drained(local_stack)
    case = case_of(desk, customer)

    agent.act("comment", case["number"], "Refund\u202e issued\x1b[0m\u2069 today\x00")
    drained(local_stack)

    replies = [
        item["text"]
        for item in desk.x("GET", "/sandbox/sent")
        if item["text"].startswith(f"@{customer} ")
    ]
    assert replies[-1] == f"@{customer} Refund issued[0m today"
    assert not any(char in text for text in replies for char in CONTROLS), replies
