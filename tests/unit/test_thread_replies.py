"""Customers answering in the company's thread (issue 15, items 5 and 6), through the
inbound processor's domain on the fakes, from deliveries in X's shapes (built with the X
sandbox's payload builders, normalized by twittnow.x_events): a reply typed without
@company (XAA post.reply.create, AAA tweet_create_events) is a comment on the open case of
the customer's mention conversation, once, however many ways X delivers it; replies go to
the customer's latest post that mentions the account; a bot's reply X's summoned-reply
rule refuses is noted on the case and not retried."""

from datetime import datetime

import pytest

from sandboxes.x.payloads import (
    Account,
    ActivitySubscription,
    Post,
    aaa_post,
    xaa_event,
    xaa_post_payload,
)
from tests.unit.test_inbound_support import (
    ACCOUNT,
    ACCOUNT_ID,
    CUSTOMER,
    CUSTOMER_ID,
    Clock,
    Desk,
    acknowledgement,
)
from twittnow.clients.x import XReplyNotAllowed, XUser
from twittnow.models import Channel, MessageStatus
from twittnow.x_events import Mention, normalize

M = MessageStatus
COMPANY = Account(ACCOUNT_ID, ACCOUNT)
JANE = Account(CUSTOMER_ID, CUSTOMER)
BOB = Account("300", "bob")
NOT_SUMMONED = XReplyNotAllowed(
    "X refused to post a reply (403 Forbidden): Reply to this conversation is not allowed "
    "because you have not been mentioned or otherwise engaged by the author of the post "
    "you are replying to.",
    status_code=403,
)


@pytest.fixture
def desk(monkeypatch) -> Desk:
    return Desk(Clock(monkeypatch))


def customer_post(
    author: Account, typed: str, at: datetime, post_id: str, in_reply_to: str | None = None
) -> Post:
    """What `author` posts: a reply to the company's post `in_reply_to` gets X's
    "@company " before what they typed, outside the display range (an implicit mention)."""
    prefix = f"@{ACCOUNT} " if in_reply_to else ""
    text = prefix + typed
    mentions = (COMPANY,) if f"@{ACCOUNT}" in text else ()
    return Post(
        post_id,
        author,
        text,
        at,
        in_reply_to or post_id,
        mentions,
        in_reply_to,
        COMPANY if in_reply_to else None,
        display_from=len(prefix),
    )


def xaa(event_type: str, post: Post) -> dict:
    subscription = ActivitySubscription("sub-1", event_type, ACCOUNT_ID, "webhook-1", "twittnow")
    return xaa_event(f"uuid-{event_type}-{post.id}", subscription, *xaa_post_payload(post))


def deliveries(post: Post, how: str) -> list[dict]:
    """The deliveries X makes of `post` to the company's webhook, in one of the ways."""
    return {
        "xaa-reply": lambda: [xaa("post.reply.create", post)],
        "xaa-mention": lambda: [xaa("post.mention.create", post)],
        "aaa": lambda: [aaa_post(COMPANY, post)],
    }[how]()


def handle(desk: Desk, *delivered: dict) -> None:
    """The processor's handling of each delivery's events, in order."""
    for delivery in delivered:
        for event in normalize(delivery):
            desk.handle(event)


def mention_opens_a_case(desk: Desk) -> tuple[Post, str]:
    """Jane mentions the company, her case opens and the bot's acknowledgement is posted
    in reply; answers her post and the id X gives the acknowledgement (the fake X names
    its posts post-<n>; AAA's v1.1 posts need X's numbers)."""
    mention = customer_post(JANE, f"@{ACCOUNT} my router is broken", desk.clock.now, "5001")
    handle(desk, xaa("post.mention.create", mention))
    [ack] = desk.x.posts
    assert (ack.to, ack.text) == (mention.id, f"@{CUSTOMER} " + acknowledgement("CS0000001"))
    desk.clock.advance(minutes=2)
    return mention, "5000"


def comments(desk: Desk) -> list[str]:
    return desk.instance.comments("CS0000001")


@pytest.mark.parametrize("how", ["xaa-reply", "aaa"])
def test_a_reply_typed_without_the_handle_is_one_comment_on_the_open_case(desk, how):
    mention, ack_id = mention_opens_a_case(desk)
    reply = customer_post(JANE, "still broken after the reset", desk.clock.now, "5002", ack_id)

    handle(desk, *deliveries(reply, how))
    handle(desk, *deliveries(reply, how))  # X retrying the delivery

    assert comments(desk) == ["still broken after the reset"]  # what she typed
    assert len(desk.cases()) == 1
    assert desk.summary(Channel.MENTION) == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.DELIVERED, "CS0000001"),
        ("customer", M.COMMENTED, "CS0000001"),
    ]
    # X would refuse a reply to her reply (it does not mention the company): the next
    # reply still answers her mention.
    assert desk.conversation(Channel.MENTION).latest_post_id == mention.id


@pytest.mark.parametrize(
    "order",
    [
        ("xaa-reply", "xaa-mention"),
        ("xaa-mention", "xaa-reply"),
        ("aaa", "xaa-reply", "xaa-mention"),
        ("xaa-mention", "aaa", "xaa-reply"),
    ],
)
def test_a_reply_typed_with_the_handle_is_one_comment_whichever_delivery_comes_first(desk, order):
    """XAA delivers it as post.reply.create and post.mention.create (and an account on
    both APIs gets AAA's too): the post id makes them one message."""
    _, ack_id = mention_opens_a_case(desk)
    reply = customer_post(JANE, f"@{ACCOUNT} any news?", desk.clock.now, "5003", ack_id)

    for how in order:
        handle(desk, *deliveries(reply, how))

    assert comments(desk) == [f"@{ACCOUNT} any news?"]
    assert [m.author for m in desk.messages(Channel.MENTION)] == ["customer", "bot", "customer"]
    # It mentions the company: the next reply answers it.
    assert desk.conversation(Channel.MENTION).latest_post_id == reply.id


def test_the_next_agent_reply_answers_the_latest_post_that_mentions_the_company(desk):
    _, ack_id = mention_opens_a_case(desk)
    summoning = customer_post(JANE, f"@{ACCOUNT} hello?", desk.clock.now, "5004", ack_id)
    handle(desk, xaa("post.reply.create", summoning), xaa("post.mention.create", summoning))
    desk.clock.advance(minutes=1)
    plain = customer_post(JANE, "anyone?", desk.clock.now, "5005", ack_id)
    handle(desk, xaa("post.reply.create", plain))

    assert desk.conversation(Channel.MENTION).latest_post_id == summoning.id
    assert comments(desk) == [f"@{ACCOUNT} hello?", "anyone?"]


def test_a_reply_to_a_company_post_no_conversation_is_about_opens_a_case(desk):
    """Bob answers a company post without typing @company: he is writing to the company
    in public, as with a mention. X refuses the acknowledgement (his post does not
    mention the company): the agent is told on the case, and nothing retries it."""
    desk.x.fail(NOT_SUMMONED, "reply")
    reply = customer_post(BOB, "your app logs me out", desk.clock.now, "6001", "4000")

    handle(desk, xaa("post.reply.create", reply))

    [case] = desk.cases()
    assert case["short_description"] == "X mention from @bob"
    assert case["description"] == "your app logs me out"
    conversation = desk.conversation(Channel.MENTION, BOB.id)
    assert conversation.latest_post_id == reply.id  # none of his mentions the company: X decides
    customer_message, ack = desk.messages(Channel.MENTION, BOB.id)
    assert (customer_message.status, customer_message.handled) == (M.CASE_CREATED, True)
    note = (
        "X did not let us reply to @bob in public: X lets apps reply only to posts that "
        f"mention the company's account, and @bob's post does not mention @{ACCOUNT}. Ask "
        f"the customer to mention @{ACCOUNT} again, or send them a DM from @{ACCOUNT}: a "
        "DM reaches them without a mention. Nothing was sent."
    )
    assert (ack.status, ack.status_detail, ack.handled) == (M.FAILED, note, True)
    assert desk.instance.work_notes(case["sys_id"]) == [note]
    assert desk.ports.credentials.x_of(desk.connection.user_id).status == "connected"

    # Delivered again: not sent again, not noted again.
    handle(desk, xaa("post.reply.create", reply))

    assert len(desk.x.calls_to("reply")) == 1
    assert desk.instance.work_notes(case["sys_id"]) == [note]


def test_a_reply_event_is_a_mention_of_the_customers_mention_conversation(desk):
    reply = customer_post(JANE, "hi", desk.clock.now, "7001", "4000")

    [event] = normalize(xaa("post.reply.create", reply))

    assert isinstance(event, Mention) and event.mentions_account is False
    desk.handle(event)
    assert desk.conversation(Channel.MENTION).customer_id == CUSTOMER_ID


def without_author(delivery: dict) -> dict:
    """The delivery as event-payloads.mdx's post.reply.create example has it: no users in
    includes."""
    delivery["data"]["includes"].pop("users", None)
    return delivery


def test_a_reply_x_delivers_without_its_author_is_the_known_customers_comment(desk):
    _, ack_id = mention_opens_a_case(desk)
    reply = customer_post(JANE, "still broken", desk.clock.now, "5002", ack_id)

    handle(desk, without_author(xaa("post.reply.create", reply)))

    assert comments(desk) == ["still broken"]
    assert desk.x.calls_to("get_user") == []  # her name is on record: no billed user read
    conversation = desk.conversation(Channel.MENTION)
    assert (conversation.customer_screen_name, conversation.customer_name) == (CUSTOMER, "jane")


def test_a_strangers_reply_x_delivers_without_its_author_is_named_by_one_user_read(desk):
    desk.x.users[BOB.id] = XUser(BOB.id, "bob", "Bob Smith")
    first = customer_post(BOB, "your app logs me out", desk.clock.now, "6001", "4000")
    handle(desk, without_author(xaa("post.reply.create", first)))
    desk.clock.advance(minutes=1)
    second = customer_post(BOB, "every hour", desk.clock.now, "6002", "4000")
    handle(desk, without_author(xaa("post.reply.create", second)))

    [case] = desk.cases()
    assert case["short_description"] == "X mention from @bob"
    assert desk.instance.comments(case["number"]) == ["every hour"]
    assert len(desk.x.calls_to("get_user")) == 1  # kept in the customer record after
    customer = desk.ports.customers.get(desk.connection.user_id, BOB.id)
    assert (customer.screen_name, customer.name) == ("bob", "Bob Smith")
