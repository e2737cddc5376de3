"""Customers answering in the company's thread, and X's summoned-reply rule, end to end on
the local stack with both sandboxes (issue 15, items 5 and 6): the sandbox X delivers a
reply typed without @company as post.reply.create only (with @company, as
post.mention.create too), and refuses a reply to a post that did not mention the account
with X's 403."""

import uuid

import pytest

from tests.api.desks import Desk, drained
from tests.e2e import test_outbound
from tests.e2e.test_ops import run_webhooks
from tests.e2e.test_ops_dead_letters import dead_letters
from tests.e2e.test_outbound import Agent, case_of
from twittnow import repositories, x_app
from twittnow.clients.x import ACTIVITY_EVENT_TYPES, WebhookApi, XClient

pytestmark = pytest.mark.e2e
agent = test_outbound.agent  # the fixture: the sandbox ServiceNow's agents


def journal(desk: Desk, customer: str, element: str) -> list[str]:
    return [e["value"] for e in case_of(desk, customer)["journal"] if e["element"] == element]


def customer_reply(desk: Desk, customer: str, in_reply_to: str, text: str) -> dict:
    """The customer answers the post `in_reply_to` on X, typing `text` (X adds the
    replied-to @screen_name before it); answers the post and its deliveries."""
    return desk.x(
        "POST", f"/sandbox/customers/{customer}/reply", in_reply_to=in_reply_to, text=text
    )


def delivered_event_types(posted: dict) -> list[str]:
    """What the sandbox X delivered of the post to the stack's webhook, and how it was
    answered (every one taken)."""
    assert all(delivery["status"] == 200 for delivery in posted["deliveries"])
    return sorted(delivery["event"] for delivery in posted["deliveries"])


def agent_post(desk: Desk, customer: str, text: str) -> dict:
    [post] = [item for item in desk.sent_to(customer) if item["text"].endswith(text)]
    assert post["kind"] == "reply"
    return post


def test_a_customers_answer_in_the_thread_is_one_comment_on_the_same_case(
    local_stack, desk, agent: Agent, customer
):
    mention = desk.customer_mention(customer, "my order never came")
    drained(local_stack)
    case = case_of(desk, customer)
    asked = "Sorry! Which order number was it?"
    agent.act("comment", case["number"], asked)
    drained(local_stack)
    question = agent_post(desk, customer, asked)
    assert question["in_reply_to_post_id"] == mention["post"]["id"]

    # Without @company: X's Activity API delivers it as post.reply.create only.
    plain = customer_reply(desk, customer, question["post_id"], "It was order 4711")
    assert "post.mention.create" not in delivered_event_types(plain)
    assert "post.reply.create" in delivered_event_types(plain)
    drained(local_stack)
    # With @company: post.reply.create and post.mention.create, one comment all the same.
    typed = customer_reply(desk, customer, question["post_id"], f"@{desk.account} any news?")
    kinds = delivered_event_types(typed)
    assert "post.reply.create" in kinds and "post.mention.create" in kinds
    drained(local_stack)

    assert [c["number"] for c in desk.cases_of(customer)] == [case["number"]]
    comments = journal(desk, customer, "comments")
    assert comments.count("It was order 4711") == 1
    assert comments.count(f"@{desk.account} any news?") == 1
    statuses = [(m["author"], m["status"]) for m in desk.messages_with(customer)]
    assert statuses[-2:] == [("customer", "commented"), ("customer", "commented")]

    # The agent's next reply answers the customer's latest post that mentions the
    # company, which X allows.
    answered = f"Found it, it ships today ({uuid.uuid4().hex[:6]})."
    agent.act("comment", case["number"], answered)
    drained(local_stack)
    assert agent_post(desk, customer, answered)["in_reply_to_post_id"] == typed["post"]["id"]
    assert desk.messages_with(customer)[-1]["status"] == "delivered"


def test_a_reply_xs_rule_refuses_is_a_work_note_and_failed_not_an_outage(
    local_stack, desk, agent: Agent, customer
):
    """A customer answers a company post (here, its reply to another customer) without
    typing @company: a case opens, as for a mention, but X lets the account answer none
    of their posts."""
    other = f"ann_{uuid.uuid4().hex[:8]}"
    desk.customer_mention(other, "hello")
    drained(local_stack)
    [company_post] = [item for item in desk.sent_to(other) if item["kind"] == "reply"]

    customer_reply(desk, customer, company_post["post_id"], "same problem here")
    drained(local_stack)

    case = case_of(desk, customer)
    assert case["short_description"] == f"X mention from @{customer}"
    note = (
        f"X did not let us reply to @{customer} in public: X lets apps reply only to posts "
        f"that mention the company's account, and @{customer}'s post does not mention "
        f"@{desk.account}. Ask the customer to mention @{desk.account} again, or send them "
        f"a DM from @{desk.account}: a DM reaches them without a mention. Nothing was sent."
    )
    assert journal(desk, customer, "work_notes") == [note]  # the acknowledgement's
    agent.act("comment", case["number"], "Can you tell us more?")
    drained(local_stack)

    assert desk.sent_to(customer) == []
    assert journal(desk, customer, "work_notes") == [note, note]
    messages = desk.messages_with(customer)
    assert [(m["author"], m["status"], m["status_detail"]) for m in messages] == [
        ("customer", "case_created", ""),
        ("bot", "failed", note),
        ("agent", "failed", note),
    ]
    # Not an outage: the connection stays connected, nothing waits in a dead-letter queue.
    assert desk.x_details()["status"] == "connected"
    listed = dead_letters(local_stack, "list", "--queue", "outbound")
    assert messages[-1]["id"] not in listed.stdout


def test_ops_resubscribe_gives_accounts_connected_before_replies_their_subscription(
    local_stack, desk: Desk, customer
):
    """An account connected by a version that did not subscribe post.reply.create: its
    customers' answers in the thread are not delivered until the operator runs
    `python -m ops webhooks resubscribe` once after deploying."""
    connection = repositories.credentials().x_of(desk.tenant_id)
    assert connection is not None
    kinds = dict(zip(ACTIVITY_EVENT_TYPES, connection.subscription_id.split(","), strict=True))
    app = XClient(local_stack.environment.values["X_API_BASE_URL"], x_app.app_credentials())
    app.unsubscribe(
        WebhookApi.ACTIVITY, connection.webhook_id, connection.x_user_id, kinds["post.reply.create"]
    )
    mention = desk.customer_mention(customer, "my order never came")
    drained(local_stack)
    [ack] = [item for item in desk.sent_to(customer) if item["kind"] == "reply"]
    assert mention["post"]["id"] == ack["in_reply_to_post_id"]
    assert customer_reply(desk, customer, ack["post_id"], "lost?")["deliveries"] == []

    resubscribed = run_webhooks(local_stack.state_file, "resubscribe")

    # Only this account: the stack's other tests leave accounts that revoked the app.
    assert f"@{desk.account} " not in resubscribed.stderr
    assert customer_reply(desk, customer, ack["post_id"], "still there?")["deliveries"]
    drained(local_stack)
    assert journal(desk, customer, "comments") == ["still there?"]
