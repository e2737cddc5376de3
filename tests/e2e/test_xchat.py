"""X Chat, end to end on the local stack with both sandboxes: a customer writes in an
encrypted chat on the sandbox X (with Chat XDK keys of their own), the sandbox delivers
chat.received to the stack's webhook, the processor verifies and decrypts it, and the
case is in the sandbox ServiceNow; what the service answers is read by the customer,
decrypted and verified with the account's registered signing key.

A send whose answer X lost after taking it, sent again as it was, is the unit tests'
(test_replies_chat.py): the sandbox's faults answer instead of storing, so it cannot lose
an answer."""

import base64

import pytest
import requests

from tests.api.desks import Desk, drained
from tests.e2e.test_outbound import Agent, case_of

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


def chat(desk: Desk, customer: str, text: str) -> dict:
    """`customer` writes to the company's account in X Chat."""
    return desk.x("POST", f"/sandbox/customers/{customer}/chat", to=desk.account, text=text)


def chats_received(desk: Desk, customer: str) -> list[dict]:
    """What the customer received in X Chat, as their app shows it."""
    received = desk.x("GET", f"/sandbox/customers/{customer}/chat")
    assert received["errors"] == [], received["errors"]
    return received["messages"]


def test_a_customers_chat_becomes_a_case_with_the_acknowledgement_in_the_chat(
    local_stack, desk, customer
):
    chat(desk, customer, "Hi, my order #1234 has not arrived.")
    drained(local_stack)

    case = case_of(desk, customer)
    assert case["short_description"] == f"X Chat message from @{customer}"
    [acknowledgement] = chats_received(desk, customer)
    assert acknowledgement["verified"] is True
    assert case["number"] in acknowledgement["text"]
    [sent] = desk.sent_to(customer)
    assert (sent["kind"], sent["text"]) == ("chat", acknowledgement["text"])  # not a DM
    conversation = desk.conversation_with(customer)
    assert (conversation["channel"], conversation["latest_channel"]) == ("dm", "x_chat")
    assert (conversation["case_number"], conversation["status"]) == (case["number"], "open")
    messages = desk.messages_with(customer)
    assert [(m["author"], m["status"], m["channel"]) for m in messages] == [
        ("customer", "case_created", "x_chat"),
        ("bot", "delivered", "x_chat"),
    ]
    assert messages[0]["text"] == "Hi, my order #1234 has not arrived."
    # The acknowledgement's chat.sent echo is not taken for staff's message.
    assert not [entry for entry in case["journal"] if "Sent on X by" in entry["value"]]


def test_an_agents_reply_reaches_the_customer_decrypted_in_x_chat(
    local_stack, desk, agent, customer
):
    chat(desk, customer, "My order never came.")
    drained(local_stack)
    case = case_of(desk, customer)

    agent.act("comment", case["number"], "Sorry! A replacement ships today.")
    drained(local_stack)

    received = chats_received(desk, customer)
    assert [m["text"] for m in received][-1] == "Sorry! A replacement ships today."
    assert all(m["verified"] is True for m in received)
    reply = desk.messages_with(customer)[-1]
    assert (reply["author"], reply["status"], reply["channel"]) == (
        "agent",
        "delivered",
        "x_chat",
    )
    assert reply["x_message_ids"] == [received[-1]["message_id"]]


def test_a_dm_then_a_chat_is_one_conversation_with_one_case(local_stack, desk, agent, customer):
    desk.customer_dm(customer, "A message request: my order never came.")
    drained(local_stack)
    case = case_of(desk, customer)

    chat(desk, customer, "Writing in X Chat now. Any news?")
    drained(local_stack)

    assert case_of(desk, customer)["number"] == case["number"]  # one case
    conversation = desk.conversation_with(customer)  # one conversation
    assert conversation["latest_channel"] == "x_chat"
    comments = [
        e["value"] for e in case_of(desk, customer)["journal"] if e["element"] == "comments"
    ]
    assert comments == ["Writing in X Chat now. Any news?"]
    # The reply goes where the customer wrote last: X Chat.
    agent.act("comment", case["number"], "It ships today.")
    drained(local_stack)
    assert [m["text"] for m in chats_received(desk, customer)] == ["It ships today."]
    assert [item["kind"] for item in desk.sent_to(customer)] == ["dm", "chat"]  # ack by DM
    assert [m["channel"] for m in desk.messages_with(customer)] == ["dm", "dm", "x_chat", "x_chat"]


def test_a_photo_in_x_chat_is_decrypted_onto_the_case(local_stack, desk, customer):
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
    )
    photo = {"type": "photo", "file_name": "box.png", "data_base64": base64.b64encode(png).decode()}

    desk.x(
        "POST",
        f"/sandbox/customers/{customer}/chat",
        to=desk.account,
        text="The box came broken",
        media=[photo],
    )
    drained(local_stack)

    case = case_of(desk, customer)
    overview = requests.get(f"{desk.servicenow_url}/sandbox", timeout=30).json()
    attached = [a for a in overview["attachments"] if a["table_sys_id"] == case["sys_id"]]
    assert [(a["file_name"], a["content_type"]) for a in attached] == [("box.png", "image/png")]
    [message, _] = desk.messages_with(customer)
    assert (message["channel"], message["text"]) == ("x_chat", "The box came broken")


def test_a_reply_after_the_customer_replaced_the_key_goes_with_the_new_key(
    local_stack, desk, agent, customer
):
    chat(desk, customer, "My order never came.")
    drained(local_stack)
    case = case_of(desk, customer)
    # The customer's app makes the conversation's next key: the service hears of it with
    # her next message only, so its reply is sealed with the old key, which X refuses.
    rotated = desk.x("POST", f"/sandbox/customers/{customer}/chat/rotate-key", to=desk.account)

    agent.act("comment", case["number"], "A replacement ships today.")
    drained(local_stack)

    reply = chats_received(desk, customer)[-1]
    assert (reply["text"], reply["key_version"], reply["verified"]) == (
        "A replacement ships today.",
        rotated["key_version"],
        True,
    )
    assert [item["kind"] for item in desk.sent_to(customer)] == ["chat", "chat"]  # once
    message = desk.messages_with(customer)[-1]
    assert (message["status"], message["x_message_ids"]) == ("delivered", [reply["message_id"]])
