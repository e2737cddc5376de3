"""The sender (events.replies), on the fakes, for a customer who writes in X Chat: an
agent's reply reaches them encrypted in X Chat (they read it, verified and decrypted), the
message records the channel it went on; a customer X Chat cannot reach is undeliverable
as a DM X refuses is (work note, FAILED, dead-letter queue). Exactly once: a reply whose
answer X never gave is sent again as it was sealed (one message id), and one sealed with
a key the customer's app replaced since goes again with the new key."""

import base64
import json
from collections.abc import Iterator

import pytest

from events import replies
from tests.unit.chat_support import SIGNED_CONVERSATION_ID, ChatDesk, chat_desk
from tests.unit.test_inbound_support import ACCOUNT_ID, Clock
from twittnow import clock
from twittnow.clients.x import XUnavailable
from twittnow.jobs import ReplyJob
from twittnow.models import ConversationMessage, MessageChannel, MessageDirection, MessageStatus

AGENT_TEXT = "Your parcel leaves today."


@pytest.fixture
def desk(monkeypatch) -> Iterator[ChatDesk]:
    """@jane wrote in X Chat and has case CS0000001, open."""
    with chat_desk(Clock(monkeypatch)) as desk:
        desk.handle(desk.chat("Where is my parcel?"))
        desk.clock.advance(minutes=1)
        yield desk


def queue_reply(desk: ChatDesk, text: str = AGENT_TEXT) -> ReplyJob:
    """An agent's comment, recorded in the conversation as POST /events/ records it."""
    conversation = desk.conversation()
    key = f"{clock.sortable(clock.now())}#sys-1:1"
    desk.ports.messages.add(
        ConversationMessage(
            conversation_id=conversation.id,
            key=key,
            direction=MessageDirection.OUTBOUND,
            author="agent",
            text=text,
            event_id="sys-1:1",
            status=MessageStatus.QUEUED,
            case_number=conversation.case_number,
            sent_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    return ReplyJob(
        conversation_id=conversation.id,
        message_key=key,
        type="comment",
        case_sys_id=conversation.case_sys_id,
    )


def test_an_agents_reply_reaches_the_customer_in_x_chat(desk):
    job = queue_reply(desk)

    replies.deliver(desk.ports, job)

    assert desk.chats_received()[-1] == AGENT_TEXT
    reply = desk.ports.messages.get(job.conversation_id, job.message_key)
    assert reply is not None
    assert (reply.status, reply.channel, reply.handled) == (
        MessageStatus.DELIVERED,
        MessageChannel.X_CHAT,
        True,
    )
    assert reply.x_message_ids == [desk.x.chat_messages[-1].message_id]


def test_a_reply_x_chat_cannot_carry_is_undeliverable_and_kept(desk):
    job = queue_reply(desk)
    desk.x.chat_public_keys.pop("200")  # jane's keys are gone...
    desk.ports.chat_keys.conversation_keys.clear()  # ...and a new conversation key is needed

    replies.deliver(desk.ports, job)

    reply = desk.ports.messages.get(job.conversation_id, job.message_key)
    assert reply is not None
    assert reply.status == MessageStatus.FAILED
    assert "has not set up X Chat" in reply.status_detail
    [note] = desk.instance.work_notes("CS0000001")
    assert note.startswith("Could not deliver to @jane: The customer has not set up X Chat")
    [dead] = desk.ports.outbound_dead_letter_queue.sent
    assert dead.body == job


# ---------------------------------------------------------------- exactly once


def reply_of(desk: ChatDesk, job: ReplyJob) -> ConversationMessage:
    reply = desk.ports.messages.get(job.conversation_id, job.message_key)
    assert reply is not None
    return reply


def test_a_reply_whose_answer_was_lost_is_sent_again_as_it_was_and_arrives_once(desk):
    job = queue_reply(desk)
    desk.x.answers_lost["send_chat_message"] = 1  # X takes it; its answer never comes

    with pytest.raises(XUnavailable):
        replies.deliver(desk.ports, job)
    sealed = reply_of(desk, job).pending_chat_part
    assert sealed is not None and reply_of(desk, job).x_message_ids == []

    replies.deliver(desk.ports, job)  # the queue's retry

    first, again = desk.x.calls_to("send_chat_message")[-2:]
    assert first["message_id"] == again["message_id"] == sealed.message_id
    assert desk.chats_received().count(AGENT_TEXT) == 1
    reply = reply_of(desk, job)
    assert (reply.status, reply.x_message_ids, reply.pending_chat_part) == (
        MessageStatus.DELIVERED,
        [sealed.message_id],
        None,
    )


def test_the_sealed_part_kept_holds_no_key(desk):
    job = queue_reply(desk)
    desk.x.answers_lost["send_chat_message"] = 1

    with pytest.raises(XUnavailable):
        replies.deliver(desk.ports, job)

    kept = reply_of(desk, job).model_dump_json()
    assert reply_of(desk, job).pending_chat_part is not None
    version = desk.jane.latest[SIGNED_CONVERSATION_ID]
    raw = desk.jane.keys[(SIGNED_CONVERSATION_ID, version)]
    identity = json.loads(
        desk.ports.x_chat_secrets.get(desk.ports.settings.x_chat_secret_prefix + ACCOUNT_ID)
    )
    secrets = [
        base64.b64encode(raw).decode(),
        raw.hex(),
        desk.ports.chat_keys.conversation_key(ACCOUNT_ID, SIGNED_CONVERSATION_ID, version),
        identity["key_blob"][:40],
        desk.credentials().access_token,
    ]
    for secret in secrets:
        assert secret and secret not in kept


def test_a_part_sealed_with_a_key_the_customer_replaced_goes_with_the_new_key(desk):
    job = queue_reply(desk)
    desk.x.fail(XUnavailable("X failed (503)", status_code=503), "send_chat_message")
    with pytest.raises(XUnavailable):
        replies.deliver(desk.ports, job)
    stale = reply_of(desk, job).pending_chat_part
    assert stale is not None
    # Jane's app makes a new key meanwhile: X takes messages under it only, and the
    # account has not been told (her next message would carry it).
    key_change = desk.jane.start_conversation(ACCOUNT_ID, desk.account_record)
    new_version = desk.jane.latest[SIGNED_CONVERSATION_ID]
    desk.x.chat_key_versions[SIGNED_CONVERSATION_ID] = new_version
    desk.x.chat_key_change_events[SIGNED_CONVERSATION_ID] = [key_change]

    replies.deliver(desk.ports, job)

    assert desk.chats_received()[-1] == AGENT_TEXT
    [sent] = [m for m in desk.x.chat_messages if m.message_id != desk.x.chat_messages[0].message_id]
    assert sent.message_id != stale.message_id
    assert (
        desk.jane.read(
            ACCOUNT_ID,
            desk.account_record,
            message_id=sent.message_id,
            encoded_message_create_event=sent.encoded_message_create_event,
            encoded_message_event_signature=sent.encoded_message_event_signature,
        )["key_version"]
        == new_version
    )
    reply = reply_of(desk, job)
    assert (reply.status, reply.x_message_ids, reply.pending_chat_part) == (
        MessageStatus.DELIVERED,
        [sent.message_id],
        None,
    )
    assert desk.ports.echoes.is_ours(ACCOUNT_ID, sent.message_id)


def test_a_replaced_key_with_no_newer_one_on_x_is_undeliverable_not_retried_forever(desk):
    job = queue_reply(desk)
    desk.x.chat_key_versions[SIGNED_CONVERSATION_ID] = "9" * 13  # a key the account never got

    replies.deliver(desk.ports, job)

    reply = reply_of(desk, job)
    assert reply.status == MessageStatus.FAILED
    assert "no newer key of the conversation" in reply.status_detail
    [dead] = desk.ports.outbound_dead_letter_queue.sent
    assert dead.body == job
