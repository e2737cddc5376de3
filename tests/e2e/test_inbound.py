"""Inbound, end to end on the local stack: a customer writes on the sandbox X, the sandbox
delivers to the stack's webhook, the queue feeds the processor, and the case is in the
sandbox ServiceNow."""

import time

import boto3
import pytest
import requests

from tests.api.desks import account_activity_dm, drained, post_delivery

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("shape", ["activity", "account_activity"])
def test_a_customer_dm_opens_a_case_and_the_customer_is_told_its_number(
    local_stack, desk, customer, shape
):
    text = "Hi, my order #1234 has not arrived."
    if shape == "activity":
        desk.customer_dm(customer, text)
    else:
        # The sandbox's account is subscribed through the X Activity API: the Account
        # Activity API's delivery is posted as X would sign it.
        desk.introduce(customer)
        answer = post_delivery(desk.api, account_activity_dm(desk, customer, text))
        assert answer.body == {"queued": 1}, answer.text
    drained(local_stack)

    [case] = desk.cases_of(customer)
    assert case["contact_type"] == "social"
    assert case["short_description"] == f"X DM from @{customer}"
    assert case["consumer"]
    assert case["correlation_id"].startswith("twittnow:")
    [acknowledgement] = desk.sent_to(customer)
    assert acknowledgement["kind"] == "dm"
    assert case["number"] in acknowledgement["text"]
    conversation = desk.conversation_with(customer)
    assert (conversation["case_number"], conversation["status"], conversation["channel"]) == (
        case["number"],
        "open",
        "dm",
    )
    messages = desk.messages_with(customer)
    assert [(m["author"], m["status"], m["case_number"]) for m in messages] == [
        ("customer", "case_created", case["number"]),
        ("bot", "delivered", case["number"]),
    ]
    # The acknowledgement's echo (X delivers our own DMs back) is not taken for staff's.
    assert not [entry for entry in case["journal"] if "Sent on X by" in entry["value"]]


def test_follow_ups_become_comments_on_the_open_case_in_order(local_stack, desk, customer):
    texts = ["It was due Monday.", "Order number is 1234.", "Any news?"]
    desk.customer_dm(customer, "Where is my parcel?")
    for text in texts:
        desk.customer_dm(customer, text)
    drained(local_stack)

    [case] = desk.cases_of(customer)
    comments = [entry["value"] for entry in case["journal"] if entry["element"] == "comments"]
    assert comments == texts
    assert len(desk.sent_to(customer)) == 1  # one acknowledgement, for the one case


def test_a_delivery_x_sends_three_times_is_one_comment(local_stack, desk, customer):
    desk.customer_dm(customer, "First message.")
    drained(local_stack)
    delivered = desk.customer_dm(customer, "Please call me back.")
    drained(local_stack)
    for _ in range(2):
        desk.x("POST", f"/sandbox/deliveries/{delivered['deliveries'][0]['id']}/redeliver")
    drained(local_stack)

    [case] = desk.cases_of(customer)
    comments = [entry["value"] for entry in case["journal"] if entry["element"] == "comments"]
    assert comments == ["Please call me back."]


def test_custom_fields_are_asked_one_at_a_time_before_the_case_opens(local_stack, desk, customer):
    for field_name, question in [
        ("city", "Which city do you live in?"),
        ("order", "Your order number?"),
    ]:
        reply = desk.api.post(
            "/custom-fields/",
            token=desk.token,
            json={"field_name": field_name, "message": question},
        )
        assert reply.status == 201, reply.body

    desk.customer_dm(customer, "My parcel is lost.")
    drained(local_stack)
    assert [item["text"] for item in desk.sent_to(customer)] == ["Which city do you live in?"]
    assert desk.cases_of(customer) == []
    assert desk.conversation_with(customer)["status"] == "collecting"

    desk.customer_dm(customer, "Berlin")
    drained(local_stack)
    desk.customer_dm(customer, "A-1234")
    drained(local_stack)

    [case] = desk.cases_of(customer)
    sent = [item["text"] for item in desk.sent_to(customer)]
    assert sent[:2] == ["Which city do you live in?", "Your order number?"]
    assert len(sent) == 3 and case["number"] in sent[2]
    statuses = [(m["author"], m["status"]) for m in desk.messages_with(customer)]
    assert statuses == [
        ("customer", "case_created"),
        ("bot", "delivered"),
        ("customer", "answered"),
        ("bot", "delivered"),
        ("customer", "answered"),
        ("bot", "delivered"),
    ]
    overview = requests.get(
        f"{desk.servicenow_url}/api/sn_customerservice/case/{case['sys_id']}",
        auth=(
            local_stack.servicenow_sandbox.admin_user,
            local_stack.servicenow_sandbox.admin_password,
        ),
        timeout=30,
    )
    description = overview.json()["result"]["description"]
    assert "My parcel is lost." in description
    assert "city: Berlin" in description and "order: A-1234" in description


def test_a_mention_opens_a_case_and_is_answered_in_its_thread(local_stack, desk, customer):
    posted = desk.customer_mention(customer, "my order never came")
    drained(local_stack)

    [case] = desk.cases_of(customer)
    assert case["short_description"] == f"X mention from @{customer}"
    [reply] = desk.sent_to(customer)
    assert reply["kind"] == "reply"
    assert reply["in_reply_to_post_id"] == posted["post"]["id"]
    assert reply["text"].startswith(f"@{customer} ") and case["number"] in reply["text"]
    assert desk.conversation_with(customer)["channel"] == "mention"


def test_servicenow_throttling_and_failing_delays_the_message_but_loses_nothing(
    local_stack, desk, customer
):
    desk.servicenow_fault(endpoint="*", status=429, times=2, retry_after=1)
    desk.servicenow_fault(endpoint="case", status=503, times=1)
    desk.customer_dm(customer, "Hello?")
    drained(local_stack, timeout=90)

    [case] = desk.cases_of(customer)
    assert len(desk.sent_to(customer)) == 1
    assert desk.messages_with(customer)[0]["status"] == "case_created"
    assert case["number"]


def test_x_throttling_the_acknowledgement_sends_it_once_when_the_limit_lifts(
    local_stack, desk, customer
):
    answer = requests.post(
        f"{desk.x_url}/sandbox/faults",
        json={"endpoint": "dm", "status": 429, "times": 1, "reset_in": 2},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    desk.customer_dm(customer, "Is anyone there?")
    drained(local_stack, timeout=90)
    # The retry waits for X's reset (whole seconds): on a loaded machine the queue may look
    # empty between the failed attempt and the retry's receive, so wait for the DM itself.
    deadline = time.monotonic() + 30
    while not desk.sent_to(customer) and time.monotonic() < deadline:
        time.sleep(0.5)
    drained(local_stack, timeout=90)

    assert len(desk.cases_of(customer)) == 1
    assert len(desk.sent_to(customer)) == 1


def test_bad_servicenow_credentials_show_on_the_details_and_keep_the_message(
    local_stack, desk, customer
):
    changed = desk.api.patch(
        f"/servicenow-details/{desk.details_id}/",
        token=desk.token,
        json={"admin_password": "not-the-password"},
    )
    assert changed.status == 200, changed.body
    desk.customer_dm(customer, "Hello?")
    try:
        assert not local_stack.drain(5), "the message must wait on the queue for a retry"
        details = desk.api.get(f"/servicenow-details/{desk.details_id}/", token=desk.token).body
        assert details["status"] == "bad_credentials", details
        assert desk.cases_of(customer) == []
        assert desk.messages_with(customer)[0]["status"] in ("received", "waiting_for_answers")
    finally:
        # The message would come back in 5 minutes; this worker's tests run one at a time,
        # so emptying the queue touches no other test's messages.
        queue_url = local_stack.environment.values["INBOUND_QUEUE_URL"]
        boto3.client("sqs", endpoint_url=local_stack.aws_endpoint_url).purge_queue(
            QueueUrl=queue_url
        )


def test_a_revoke_on_x_marks_the_connection_broken(local_stack, desk):
    answer = requests.post(f"{desk.x_url}/sandbox/accounts/{desk.account}/revoke", timeout=30)
    assert answer.ok, answer.text
    drained(local_stack)

    details = desk.x_details()
    assert details["status"] == "broken"
    assert "revoked" in details["status_detail"]
