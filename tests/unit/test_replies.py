"""The sender (events.replies), on the fakes: a queued reply goes to the customer on X
once, as DMs or reply posts, resuming after a partial send; X's rate limits, outages and a
refused token leave it queued for a retry; a reply that cannot be delivered is recorded
on the case (a work note), in the conversation (FAILED) and in the dead-letter queue.
The SQS batch handling around it (send_replies) is the integration and e2e tests'."""

from datetime import timedelta

import pytest

from events import case_events, replies
from events.models import CaseEventRequest
from tests.fakes import fake_settings
from tests.unit.outbound_desk import ACCOUNT, CUSTOMER, NOW, TOKENS, Desk, open_desk
from twittnow.clients.servicenow import ServiceNowBadCredentials, ServiceNowUnavailable
from twittnow.clients.x import (
    UserCredentials,
    XConnectionBroken,
    XRateLimited,
    XReplyNotAllowed,
    XRequestRejected,
    XUnavailable,
)
from twittnow.jobs import ReplyJob
from twittnow.models import Channel, Conversation, ConversationStatus, MessageStatus
from twittnow.repositories.queues import QueueMessage

CREDENTIALS = UserCredentials(TOKENS["access_token"], TOKENS["access_token_secret"])
LONG = ("We are sorry for the wait. " * 15).strip()  # 404 characters: two reply posts


@pytest.fixture
def desk(time) -> Desk:
    return open_desk()


@pytest.fixture
def mention(desk) -> Conversation:
    """The customer's mention conversation, its own case open, their latest post post-7."""
    conversation_id = Conversation.id_for(desk.tenant_id, ACCOUNT, CUSTOMER, Channel.MENTION)
    case = desk.open_case(conversation_id)
    return desk.start_conversation(Channel.MENTION, case=case, latest_post_id="post-7")


def queue_reply(desk: Desk, message: str = "", **fields) -> ReplyJob:
    """POST /events/'s domain: the agent's reply recorded and queued; answers its job."""
    request = CaseEventRequest.model_validate(
        {"case": desk.case.sys_id, "message": message, **fields}
    )
    case_events.accept(desk.ports, desk.caller, request)
    job = desk.ports.outbound_queue.sent[-1].body  # type: ignore[attr-defined]
    assert isinstance(job, ReplyJob)
    return job


def reply_of(desk: Desk, job: ReplyJob):
    reply = desk.ports.messages.get(job.conversation_id, job.message_key)
    assert reply is not None
    return reply


def dead_letters(desk: Desk) -> list[QueueMessage]:
    return desk.ports.outbound_dead_letter_queue.sent  # type: ignore[attr-defined]


def fail_after(monkeypatch, fake, method: str, successes: int, error: Exception) -> None:
    """`fake`'s `method` succeeds `successes` times, then raises `error` once."""
    real = getattr(fake, method)
    calls = 0

    def call(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == successes + 1:
            fake.fail(error, method)
        return real(*args, **kwargs)

    monkeypatch.setattr(fake, method, call)


# ---------------------------------------------------------------- delivered


def test_a_reply_in_a_dm_conversation_is_one_dm_to_the_customer(desk):
    job = queue_reply(desk, "Found it\u2067\x07 in\r\nthe depot\u202d.", event_id="journal:1")

    replies.deliver(desk.ports, job)

    [dm] = desk.x.dms
    # As the tenant's account, without the controls and the bidi overrides.
    assert (dm.to, dm.text, dm.credentials) == (CUSTOMER, "Found it in\nthe depot.", CREDENTIALS)
    assert desk.x.posts == []
    reply = reply_of(desk, job)
    assert (reply.status, reply.handled, reply.failure) == (MessageStatus.DELIVERED, True, "")
    assert (reply.x_message_ids, reply.updated_at) == ([dm.id], NOW)
    # Its echo from X is known as ours, not a DM of the company's staff.
    assert desk.ports.echoes.is_ours(ACCOUNT, dm.id)
    assert desk.ports.echoes.sending_since(ACCOUNT, CUSTOMER) == NOW
    # A comment leaves the case open: the customer's next message still goes on it.
    assert desk.conversation_now() == desk.conversation
    assert dead_letters(desk) == [] and desk.servicenow.calls == []


def test_a_reply_in_a_mention_conversation_is_a_reply_post_mentioning_the_customer(desk, mention):
    job = queue_reply(desk, "Refund\u202e issued today.", case=mention.case_sys_id)

    replies.deliver(desk.ports, job)

    [post] = desk.x.posts
    assert (post.to, post.text, post.credentials) == (
        "post-7",
        "@jane Refund issued today.",
        CREDENTIALS,
    )
    assert desk.x.dms == []
    reply = reply_of(desk, job)
    assert (reply.status, reply.x_message_ids) == (MessageStatus.DELIVERED, [post.id])


def test_a_long_reply_is_a_thread_of_numbered_posts(desk, mention):
    job = queue_reply(desk, LONG, case=mention.case_sys_id)

    replies.deliver(desk.ports, job)

    first, second = desk.x.posts
    assert (first.to, second.to) == ("post-7", first.id)  # each answers the one before
    assert first.text.startswith("@jane We are sorry") and first.text.endswith(" (1/2)")
    assert second.text.startswith("@jane ") and second.text.endswith("wait. (2/2)")
    parts = [post.text.removeprefix("@jane ").rsplit(" (", 1)[0] for post in (first, second)]
    assert " ".join(parts) == LONG
    assert reply_of(desk, job).x_message_ids == [first.id, second.id]


def test_a_delivered_reply_is_not_sent_again(desk):
    job = queue_reply(desk, "Checking now.")
    replies.deliver(desk.ports, job)

    replies.deliver(desk.ports, job)  # the job again: SQS delivers at least once

    assert [dm.text for dm in desk.x.dms] == ["Checking now."]


@pytest.mark.parametrize("kind", ["resolved", "closed"])
def test_a_resolution_sends_its_message_and_ends_the_conversation(desk, kind):
    job = queue_reply(desk, "Refund issued. Anything else?", type=kind)

    replies.deliver(desk.ports, job)

    assert [dm.text for dm in desk.x.dms] == ["Refund issued. Anything else?"]
    # The customer's next message opens a new case.
    assert desk.conversation_now().status == ConversationStatus.NEW
    assert reply_of(desk, job).status == MessageStatus.DELIVERED


def test_a_resolution_without_a_message_sends_nothing_and_ends_the_conversation(desk):
    job = queue_reply(desk, type="resolved")

    replies.deliver(desk.ports, job)

    assert desk.x.calls == []
    assert desk.conversation_now().status == ConversationStatus.NEW
    reply = reply_of(desk, job)
    assert (reply.status, reply.handled, reply.x_message_ids) == (
        MessageStatus.DELIVERED,
        True,
        [],
    )


def test_a_resolution_of_a_case_the_conversation_has_left_leaves_the_conversation_open(desk):
    job = queue_reply(desk, "Closing the old one.", type="closed")
    # Meanwhile the conversation moved on to another case.
    newer = desk.open_case(desk.conversation.id)
    desk.ports.conversations.update(
        desk.conversation.id, case_sys_id=newer.sys_id, case_number=newer.number
    )

    replies.deliver(desk.ports, job)

    assert [dm.text for dm in desk.x.dms] == ["Closing the old one."]
    conversation = desk.conversation_now()
    assert (conversation.status, conversation.case_sys_id) == (
        ConversationStatus.OPEN,
        newer.sys_id,
    )


def test_a_reply_whose_conversation_or_message_is_gone_is_dropped(desk):
    kept = queue_reply(desk, "For a deleted message.")
    desk.ports.messages.delete_conversation(desk.conversation.id)
    replies.deliver(desk.ports, kept)

    desk.ports.conversations.delete_tenant(desk.tenant_id)  # the tenant deleted since
    replies.deliver(desk.ports, kept)

    assert desk.x.calls == []
    assert dead_letters(desk) == [] and desk.servicenow.calls == []


# ---------------------------------------------------------------- tried again later


def test_a_rate_limit_midway_keeps_the_parts_sent_and_the_retry_sends_only_the_rest(
    desk, mention, time, monkeypatch
):
    job = queue_reply(desk, LONG, case=mention.case_sys_id)
    limited = XRateLimited("Too Many Requests", reset_at=NOW + timedelta(minutes=15))
    fail_after(monkeypatch, desk.x, "reply", successes=1, error=limited)

    with pytest.raises(XRateLimited):  # the handler's retry policy waits until reset_at
        replies.deliver(desk.ports, job)

    [first] = desk.x.posts
    reply = reply_of(desk, job)
    assert (reply.status, reply.handled, reply.x_message_ids) == (
        MessageStatus.QUEUED,
        False,
        [first.id],
    )
    assert dead_letters(desk) == [] and desk.servicenow.calls == []

    time.advance(timedelta(minutes=15))
    replies.deliver(desk.ports, job)

    assert [call["in_reply_to_post_id"] for call in desk.x.calls_to("reply")] == [
        "post-7",
        first.id,  # the failed attempt
        first.id,
    ]
    _, second = desk.x.posts
    assert second.text.endswith("(2/2)")
    reply = reply_of(desk, job)
    assert (reply.status, reply.x_message_ids, reply.updated_at) == (
        MessageStatus.DELIVERED,
        [first.id, second.id],
        time.now,
    )


def test_x_down_leaves_the_reply_queued_for_a_retry(desk):
    job = queue_reply(desk, "We are on it.")
    desk.x.fail(XUnavailable("X did not answer (timeout)."), "send_dm")

    with pytest.raises(XUnavailable):
        replies.deliver(desk.ports, job)

    assert desk.x.dms == []
    assert reply_of(desk, job).status == MessageStatus.QUEUED
    assert dead_letters(desk) == [] and desk.servicenow.calls == []
    replies.deliver(desk.ports, job)
    assert [dm.text for dm in desk.x.dms] == ["We are on it."]


def test_a_refused_token_marks_the_connection_broken_and_a_later_send_restores_it(desk, time):
    job = queue_reply(desk, "Are you still there?")
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")

    with pytest.raises(XConnectionBroken):
        replies.deliver(desk.ports, job)

    broken = desk.ports.credentials.x_of(desk.tenant_id)
    assert broken is not None and broken.status == "broken"
    assert broken.status_detail == (
        "X refused @acme_support's token (Unauthorized); connect the account again."
    )
    assert reply_of(desk, job).status == MessageStatus.QUEUED  # kept for the retry
    assert dead_letters(desk) == [] and desk.servicenow.calls == []

    # The account authorized the app again on X: a broken connection still sends.
    time.advance(timedelta(minutes=5))
    replies.deliver(desk.ports, job)

    assert [dm.text for dm in desk.x.dms] == ["Are you still there?"]
    restored = desk.ports.credentials.x_of(desk.tenant_id)
    assert restored is not None and (restored.status, restored.status_detail) == ("connected", "")
    entries = desk.ports.audit_log.between(NOW, time.now)  # newest first
    assert [(e.action, e.actor_username, e.tenant_id) for e in entries] == [
        ("x_connection.restored", "system", desk.tenant_id),
        ("x_connection.broken", "system", desk.tenant_id),
    ]


# ---------------------------------------------------------------- undeliverable


def assert_undeliverable(desk: Desk, job: ReplyJob, reason: str) -> None:
    """Recorded where agents, the tenant and an operator see it; not sent."""
    reply = reply_of(desk, job)
    # Not handled: redriven from the dead-letter queue, it is tried again.
    assert (reply.status, reply.status_detail, reply.handled) == (
        MessageStatus.FAILED,
        reason,
        False,
    )
    assert desk.servicenow.work_notes(job.case_sys_id or "") == [
        f"Could not deliver to @jane: {reason}"
    ]
    [dead] = dead_letters(desk)
    assert (dead.body, dead.group_id, dead.deduplication_id) == (
        job,
        job.conversation_id,
        f"{job.conversation_id}:{reply.event_id}",
    )


def disconnect(desk: Desk) -> None:
    desk.ports.credentials.disconnect_x(desk.connection, released_at=NOW)


def connect_another_account(desk: Desk) -> None:
    desk.ports.credentials.replace_x(desk.connection.model_copy(update={"x_user_id": "901"}))


@pytest.mark.parametrize("change", [disconnect, connect_another_account])
def test_a_reply_for_an_account_no_longer_connected_is_undeliverable(desk, change):
    job = queue_reply(desk, "Too late.", event_id="journal:5")
    change(desk)

    replies.deliver(desk.ports, job)

    assert desk.x.calls == []
    assert_undeliverable(desk, job, "the tenant's X account is no longer connected")


def test_a_reply_x_refuses_is_undeliverable_and_a_redrive_delivers_it(desk):
    job = queue_reply(desk, "Can you send us a photo?")
    said = "X refused to send the DM (403): You cannot send messages to this user."
    desk.x.fail(XRequestRejected(said, status_code=403), "send_dm")

    replies.deliver(desk.ports, job)

    assert desk.x.dms == []
    assert_undeliverable(desk, job, said)

    # Once the cause is gone, an operator redrives it from the dead-letter queue.
    replies.deliver(desk.ports, job)

    [dm] = desk.x.dms
    reply = reply_of(desk, job)
    assert (reply.status, reply.handled, reply.x_message_ids) == (
        MessageStatus.DELIVERED,
        True,
        [dm.id],
    )


def failed_messages(desk: Desk, job: ReplyJob) -> int:
    conversation = desk.ports.conversations.get(job.conversation_id)
    assert conversation is not None
    return conversation.failed_messages


def test_an_undeliverable_reply_counts_on_its_conversation_once_until_delivered(desk):
    job = queue_reply(desk, "Can you send us a photo?")
    desk.x.fail(XRequestRejected("refused", status_code=403), "send_dm")
    assert failed_messages(desk, job) == 0

    replies.deliver(desk.ports, job)
    # SQS's last failed attempt gives up on it again, and so does a failed redrive.
    replies.give_up(desk.ports, job, "refused")
    replies.give_up(desk.ports, job, "refused again")
    assert failed_messages(desk, job) == 1

    replies.deliver(desk.ports, job)  # redriven, X takes it
    assert failed_messages(desk, job) == 0


def test_a_mention_conversation_without_a_post_to_answer_is_undeliverable(desk):
    conversation_id = Conversation.id_for(desk.tenant_id, ACCOUNT, CUSTOMER, Channel.MENTION)
    case = desk.open_case(conversation_id)
    desk.start_conversation(Channel.MENTION, case=case)

    job = queue_reply(desk, "Hello?", case=case.sys_id)
    replies.deliver(desk.ports, job)

    assert desk.x.posts == []
    assert_undeliverable(desk, job, "The conversation has no customer post to reply to.")


# ---------------------------------------------------------------- X's summoned-reply rule

NOT_SUMMONED = XReplyNotAllowed(
    "X refused to post a reply (403 Forbidden): Reply to this conversation is not allowed "
    "because you have not been mentioned or otherwise engaged by the author of the post "
    "you are replying to.",
    status_code=403,
)
NOT_ALLOWED_NOTE = (
    "X did not let us reply to @jane in public: X lets apps reply only to posts that "
    "mention the company's account, and @jane's post does not mention @acme_support. Ask "
    "the customer to mention @acme_support again, or send them a DM from @acme_support: a "
    "DM reaches them without a mention. Nothing was sent."
)


def test_a_reply_xs_rule_refuses_is_final_and_told_to_the_agent(desk, mention, monkeypatch):
    counted: list[str] = []
    monkeypatch.setattr(replies, "count", lambda name, value=1: counted.append(name))
    job = queue_reply(desk, "Refund issued.", case=mention.case_sys_id)
    desk.x.fail(NOT_SUMMONED, "reply")

    replies.deliver(desk.ports, job)

    # It tried the customer's post, as the rule allows only that.
    assert [call["in_reply_to_post_id"] for call in desk.x.calls_to("reply")] == ["post-7"]
    assert desk.x.posts == []
    reply = reply_of(desk, job)
    # Final: FAILED with the reason, handled so that nothing tries it again.
    assert (reply.status, reply.status_detail, reply.handled, reply.failure) == (
        MessageStatus.FAILED,
        NOT_ALLOWED_NOTE,
        True,
        "",
    )
    assert desk.servicenow.work_notes(mention.case_sys_id or "") == [NOT_ALLOWED_NOTE]
    # Not an outage: the account stays connected, no dead letter, a metric of its own.
    assert desk.ports.credentials.x_of(desk.tenant_id).status == "connected"
    assert dead_letters(desk) == []
    assert counted == ["RepliesNotAllowedByX"]

    # The same job again (SQS delivering it twice) neither calls X nor notes again.
    replies.deliver(desk.ports, job)

    assert len(desk.x.calls_to("reply")) == 1
    assert desk.servicenow.work_notes(mention.case_sys_id or "") == [NOT_ALLOWED_NOTE]


def test_a_reply_xs_rule_refuses_counts_on_its_conversation_once(desk, mention):
    job = queue_reply(desk, "Refund issued.", case=mention.case_sys_id)
    desk.x.fail(NOT_SUMMONED, "reply")

    replies.deliver(desk.ports, job)
    replies.deliver(desk.ports, job)  # SQS delivering it twice

    assert reply_of(desk, job).status == MessageStatus.FAILED
    assert failed_messages(desk, job) == 1


def test_a_resolution_xs_rule_refuses_still_ends_the_conversation(desk, mention):
    job = queue_reply(desk, "All done.", case=mention.case_sys_id, type="resolved")
    desk.x.fail(NOT_SUMMONED, "reply")

    replies.deliver(desk.ports, job)

    assert reply_of(desk, job).status == MessageStatus.FAILED
    assert desk.conversation_now(mention.id).status == ConversationStatus.NEW
    assert dead_letters(desk) == []


def test_a_failure_midway_through_a_thread_is_resumed_by_the_redrive(desk, mention, monkeypatch):
    job = queue_reply(desk, LONG, case=mention.case_sys_id)
    refused = XRequestRejected("X refused the post (403): duplicate content.", status_code=403)
    fail_after(monkeypatch, desk.x, "reply", successes=1, error=refused)

    replies.deliver(desk.ports, job)

    [first] = desk.x.posts
    assert reply_of(desk, job).x_message_ids == [first.id]
    assert_undeliverable(desk, job, "X refused the post (403): duplicate content.")

    replies.deliver(desk.ports, job)

    _, second = desk.x.posts
    assert second.to == first.id and second.text.endswith("(2/2)")
    assert reply_of(desk, job).status == MessageStatus.DELIVERED


def test_an_undeliverable_reply_to_a_case_not_linked_yet_is_noted_on_that_case(desk):
    conversation = desk.start_conversation(Channel.MENTION)  # no post to answer: undeliverable
    case = desk.servicenow.add_case(
        desk.customer.consumer_sys_id or "",
        correlation_id=f"twittnow:{conversation.id}:post-7",
    )
    request = CaseEventRequest(case=case.number, message="We found it.")
    case_events.accept(desk.ports, desk.caller, request)
    [message] = desk.ports.outbound_queue.sent  # type: ignore[attr-defined]

    replies.deliver(desk.ports, message.body)

    assert desk.servicenow.work_notes(case.sys_id) == [
        "Could not deliver to @jane: The conversation has no customer post to reply to."
    ]


# ---------------------------------------------------------------- giving up


def test_the_last_failed_attempt_gives_up_with_its_reason(desk, time):
    job = queue_reply(desk, "We are on it.")
    time.advance(timedelta(hours=2))

    replies.give_up(desk.ports, job, "X is rate limiting: Too Many Requests")

    reply = reply_of(desk, job)
    assert (reply.status, reply.status_detail, reply.updated_at) == (
        MessageStatus.FAILED,
        "X is rate limiting: Too Many Requests",
        time.now,
    )
    assert desk.servicenow.work_notes(desk.case.sys_id) == [
        "Could not deliver to @jane: X is rate limiting: Too Many Requests"
    ]
    # SQS moves the message to the dead-letter queue itself: nothing sent there.
    assert dead_letters(desk) == []

    replies.give_up(desk.ports, job, "X failed again")  # after a redrive: FAILED again
    assert reply_of(desk, job).status_detail == "X failed again"
    assert len(desk.servicenow.work_notes(desk.case.sys_id)) == 2


def test_without_servicenow_details_or_a_case_nothing_is_noted(desk):
    job = queue_reply(desk, "We are on it.")
    without_case = job.model_copy(update={"case_sys_id": None})

    replies.give_up(desk.ports, without_case, "refused")
    desk.ports.credentials.delete_servicenow(desk.details)
    replies.give_up(desk.ports, job, "refused again")

    assert desk.ports.servicenow.connections == []  # type: ignore[attr-defined]
    assert reply_of(desk, job).status_detail == "refused again"


@pytest.mark.parametrize(
    "failure",
    [ServiceNowUnavailable("down"), ServiceNowBadCredentials("User Not Authenticated")],
    ids=["unavailable", "bad-credentials"],
)
def test_servicenow_failing_to_take_the_note_still_records_the_failure(desk, failure):
    job = queue_reply(desk, "We are on it.")
    desk.servicenow.fail(failure, "add_work_note")

    replies.give_up(desk.ports, job, "refused")  # does not raise: the failure is recorded

    assert len(desk.servicenow.calls_to("add_work_note")) == 1
    assert desk.servicenow.work_notes(desk.case.sys_id) == []
    assert reply_of(desk, job).status == MessageStatus.FAILED


def test_an_instance_no_longer_allowed_gets_no_note_and_no_credentials(desk):
    job = queue_reply(desk, "We are on it.")
    narrowed = fake_settings(servicenow_allowed_hosts="*.example.com")
    desk.ports = desk.ports._replace(settings=narrowed)

    replies.give_up(desk.ports, job, "refused")

    assert desk.ports.servicenow.connections == []  # type: ignore[attr-defined]
    assert reply_of(desk, job).status == MessageStatus.FAILED


def test_giving_up_on_a_reply_whose_conversation_or_message_is_gone_does_nothing(desk):
    job = queue_reply(desk, "We are on it.")
    desk.ports.messages.delete_conversation(desk.conversation.id)
    replies.give_up(desk.ports, job, "refused")

    desk.ports.conversations.delete_tenant(desk.tenant_id)
    replies.give_up(desk.ports, job, "refused")

    assert desk.ports.messages.of_conversation(desk.conversation.id) == []
    assert desk.servicenow.calls == []
