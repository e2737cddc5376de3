"""The inbound processor's domain on the fakes: X Chat. A customer's encrypted message is
verified and decrypted with the account's keys (real Chat XDK keys on both sides: the
customer is tests.fakes.chat.ChatCustomer), then goes the way of a DM, in the customer's
one conversation: a case, comments, custom-field questions and the acknowledgement, in X
Chat; once by its signed message id, whatever copies X delivers. What cannot be verified
or decrypted is a failed message, with why. The account's own X Chat messages are our
echoes (dropped) or staff's (on the case); attachments are decrypted onto the case."""

import base64
from collections.abc import Iterator

import pytest
from chat_xdk import encrypted_stream_size

from tests.fakes import Attachment
from tests.unit.chat_support import (
    DELIVERED_CONVERSATION_ID,
    SIGNED_CONVERSATION_ID,
    ChatDesk,
    chat_desk,
)
from tests.unit.test_inbound_support import (
    ACCOUNT_ID,
    CUSTOMER,
    CUSTOMER_ID,
    Clock,
    Crash,
    acknowledgement,
    crash_once,
    saving,
)
from twitter_activity import inbound
from twittnow import customer_channel, observability
from twittnow.clients.servicenow import ServiceNowUnavailable
from twittnow.clients.x import DEFAULT_MAX_MEDIA_BYTES, XUnavailable, XUser
from twittnow.models import (
    Channel,
    ChatMedia,
    ConversationStatus,
    MessageChannel,
    MessageDirection,
    MessageStatus,
)
from twittnow.x_events import ChatMessage

M = MessageStatus
CITY = "Which city do you live in?"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def desk(monkeypatch) -> Iterator[ChatDesk]:
    with chat_desk(Clock(monkeypatch)) as desk:
        yield desk


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The metrics counted, by name."""
    names: list[str] = []
    original = observability.count

    def counting(name: str, value: float = 1) -> None:
        names.append(name)
        original(name, value)

    monkeypatch.setattr(inbound, "count", counting)
    return names


@pytest.fixture
def open_case(desk) -> ChatDesk:
    """Jane wrote in X Chat, has case CS0000001 and was told so there, a minute ago."""
    desk.handle(desk.chat("Where is my parcel?"))
    desk.clock.advance(minutes=1)
    return desk


# ---------------------------------------------------------------- a customer's message


def test_a_customers_chat_becomes_a_case_and_she_is_told_its_number_in_x_chat(desk):
    event = desk.chat("Where is my parcel?")

    desk.handle(event)

    case = desk.only_case()
    assert case["short_description"] == f"X Chat message from @{CUSTOMER}"
    assert case["description"] == "Where is my parcel?"
    assert desk.chats_received() == [acknowledgement("CS0000001")]
    assert desk.x.dms == []  # not as a legacy DM
    conversation = desk.conversation()
    assert conversation.channel == Channel.DM  # the customer's one conversation
    assert conversation.latest_channel == MessageChannel.X_CHAT
    assert conversation.chat_conversation_id == DELIVERED_CONVERSATION_ID
    assert (conversation.customer_screen_name, conversation.status) == (
        CUSTOMER,
        ConversationStatus.OPEN,
    )
    [message, ack] = desk.messages()
    assert (message.event_id, message.text, message.status) == (
        event.message_id,  # X's message id, signed in the event: not the delivery's uuid
        "Where is my parcel?",
        M.CASE_CREATED,
    )
    assert (message.channel, message.handled, message.sent_at) == (
        MessageChannel.X_CHAT,
        True,
        desk.clock.now,
    )
    assert (ack.author, ack.status, ack.channel) == ("bot", M.DELIVERED, MessageChannel.X_CHAT)
    assert ack.x_message_ids == [desk.x.chat_messages[0].message_id]


def test_the_customers_handle_and_name_are_read_from_x_once_and_kept(desk):
    desk.x.users[CUSTOMER_ID] = XUser(CUSTOMER_ID, CUSTOMER, "Jane Doe")

    desk.handle(desk.chat("Where is my parcel?"))
    desk.handle(desk.chat("It was due Monday"))

    assert desk.x.calls_to("get_user") == [{"user": desk.credentials(), "user_id": CUSTOMER_ID}]
    customer = desk.ports.customers.get("tenant-1", CUSTOMER_ID)
    assert customer is not None
    assert (customer.screen_name, customer.name) == (CUSTOMER, "Jane Doe")
    conversation = desk.conversation()
    assert (conversation.customer_screen_name, conversation.customer_name) == (
        CUSTOMER,
        "Jane Doe",
    )


def test_the_handle_of_a_customer_who_wrote_a_dm_before_is_not_read_from_x(desk):
    desk.handle(desk.dm("Hello by DM"))

    desk.handle(desk.chat("And now in X Chat"))

    assert desk.x.calls_to("get_user") == []


def test_a_customer_known_only_by_a_conversation_is_kept_as_a_customer(desk):
    desk.handle(desk.mention("@acme_support hi"))
    desk.ports.customers.delete_tenant("tenant-1")  # a record never written (a crash)

    desk.handle(desk.chat("In X Chat now"))

    assert desk.x.calls_to("get_user") == []
    customer = desk.ports.customers.get("tenant-1", CUSTOMER_ID)
    assert customer is not None and customer.screen_name == CUSTOMER


def test_the_next_chat_is_a_comment_on_the_open_case_with_the_key_kept(open_case):
    desk = open_case
    event = desk.chat("It was due Monday")
    assert event.key_change_event is None  # the key the first message brought is kept

    desk.handle(event)

    assert desk.instance.comments("CS0000001") == ["It was due Monday"]
    assert desk.summary()[-1] == ("customer", M.COMMENTED, "CS0000001")
    assert desk.chats_received() == [acknowledgement("CS0000001")]  # no second ack


def test_the_same_message_under_another_delivery_id_changes_nothing(open_case):
    desk = open_case
    event = desk.chat("It was due Monday")
    desk.handle(event)
    messages = desk.messages()

    desk.handle(desk.again(event))  # replayed, or found again by the reconciliation
    desk.handle(event)  # X's retry

    assert desk.messages() == messages
    assert desk.instance.comments("CS0000001") == ["It was due Monday"]
    assert len(desk.x.chat_messages) == 1


def test_a_retry_after_a_crash_comments_once(open_case):
    desk = open_case
    event = desk.chat("It was due Monday")
    with (
        crash_once(desk.ports.messages, "update", saving(status=M.COMMENTED)),
        pytest.raises(Crash),
    ):
        desk.handle(event)

    desk.handle(desk.again(event))

    assert desk.instance.comments("CS0000001") == ["It was due Monday"]
    assert desk.chat_message_of(event).status == M.COMMENTED


def test_custom_fields_are_asked_and_answered_in_x_chat(desk):
    desk.add_field("City", CITY)

    desk.handle(desk.chat("Where is my parcel?"))
    assert desk.chats_received() == [CITY]
    desk.clock.advance(minutes=1)
    desk.handle(desk.chat("Lisbon"))

    case = desk.only_case()
    assert case["description"] == "Where is my parcel?\n\nCity: Lisbon"
    assert desk.chats_received() == [CITY, acknowledgement("CS0000001")]
    assert [m.channel for m in desk.messages()] == [MessageChannel.X_CHAT] * 4


def test_a_chat_that_names_no_message_changes_nothing(desk):
    key_change_alone = desk.jane.start_conversation(ACCOUNT_ID, desk.account_record)
    event = desk.chat("unused").model_copy(update={"encoded_event": key_change_alone})

    desk.handle(event)

    assert desk.cases() == []
    assert desk.ports.conversations.get(desk.conversation_id()) is None


def test_an_event_for_an_account_no_tenant_holds_is_dropped(desk):
    event = desk.chat("Hello").model_copy(update={"account_id": "901"})
    calls = len(desk.x.calls)

    desk.handle(event)

    assert desk.cases() == []
    assert len(desk.x.calls) == calls  # not even decrypted


# ---------------------------------------------------------------- one conversation


def test_a_dm_then_a_chat_are_one_conversation_with_one_case_answered_in_x_chat(desk):
    desk.handle(desk.dm("Hello by DM"))
    desk.clock.advance(minutes=1)

    desk.handle(desk.chat("And now in X Chat"))

    assert len(desk.cases()) == 1
    assert desk.instance.comments("CS0000001") == ["And now in X Chat"]
    assert desk.dms_sent() == [acknowledgement("CS0000001")]  # the ack went by DM then
    conversation = desk.conversation()
    assert conversation.latest_channel == MessageChannel.X_CHAT
    assert [m.channel for m in desk.messages()] == [
        MessageChannel.DM,
        MessageChannel.DM,
        MessageChannel.X_CHAT,
    ]
    assert customer_channel.channel_for(conversation) == MessageChannel.X_CHAT


def test_a_chat_then_a_dm_moves_replies_back_to_dms(open_case):
    desk = open_case
    desk.clock.advance(minutes=1)

    desk.handle(desk.dm("A message request from another device"))

    conversation = desk.conversation()
    assert conversation.latest_channel == MessageChannel.DM
    assert conversation.chat_conversation_id == DELIVERED_CONVERSATION_ID  # kept
    assert len(desk.cases()) == 1
    assert customer_channel.channel_for(conversation) == MessageChannel.DM


def test_an_older_chat_delivered_late_does_not_move_the_replies(desk):
    late = desk.chat("Written first", sent_at=desk.clock.now)
    desk.clock.advance(minutes=5)
    desk.handle(desk.dm("Written second, by DM"))

    desk.handle(late)

    conversation = desk.conversation()
    assert conversation.latest_channel == MessageChannel.DM
    assert conversation.last_message_at == desk.clock.now
    assert conversation.chat_conversation_id == DELIVERED_CONVERSATION_ID
    assert [m.text for m in desk.messages() if m.author == "customer"] == [
        "Written first",
        "Written second, by DM",
    ]


# ---------------------------------------------------------------- cannot be read


def tampered(event: ChatMessage) -> ChatMessage:
    """The event with one byte of its ciphertext changed: its signature no longer holds."""
    data = bytearray(base64.b64decode(event.encoded_event))
    data[-40] ^= 0x01
    return event.model_copy(update={"encoded_event": base64.b64encode(bytes(data)).decode()})


def test_a_message_that_does_not_verify_is_a_visible_failed_message(desk, counted):
    event = tampered(desk.chat("Where is my parcel?"))

    desk.handle(event)

    [message] = desk.messages()
    assert (message.direction, message.author, message.status, message.handled) == (
        MessageDirection.INBOUND,
        "customer",
        M.FAILED,
        True,
    )
    assert message.status_detail.startswith(
        "An X Chat message to @acme_support could not be read: its signature does not verify"
    )
    assert (message.channel, message.text, message.sent_at) == (
        MessageChannel.X_CHAT,
        "",
        desk.clock.now,
    )
    assert message.event_id == f"unreadable:{event.message_id}"
    assert desk.cases() == [] and desk.x.chat_messages == []
    assert "ChatMessagesUnreadable" in counted
    # The conversation is there to show it, the customer named as X knows them.
    assert desk.conversation().customer_screen_name == CUSTOMER


def test_every_copy_of_an_unreadable_message_is_one_failed_message(desk):
    event = tampered(desk.chat("Where is my parcel?"))

    desk.handle(event)
    desk.handle(desk.again(event))

    assert len(desk.messages()) == 1
    assert desk.conversation().failed_messages == 1


def test_an_unreadable_copy_named_by_no_id_is_named_by_its_delivery(desk):
    event = tampered(desk.chat("Hi")).model_copy(update={"message_id": None})

    desk.handle(event)

    [message] = desk.messages()
    assert message.event_id == f"unreadable:{event.event_id}"


def test_a_copy_that_can_be_read_later_still_reaches_the_case(desk):
    event = desk.chat("Where is my parcel?")
    desk.handle(tampered(event))

    desk.handle(event)

    assert desk.only_case()["description"] == "Where is my parcel?"
    assert desk.chat_message_of(event).status == M.CASE_CREATED
    assert sorted(m.status for m in desk.messages()) == [M.CASE_CREATED, M.DELIVERED, M.FAILED]


def test_a_message_whose_key_x_does_not_hold_is_a_failed_message(desk):
    event = desk.chat("Hello").model_copy(update={"key_change_event": None})

    desk.handle(event)

    [message] = desk.messages()
    assert message.status == M.FAILED
    assert "no key version" in message.status_detail


def test_an_unreadable_message_of_staff_shows_on_the_conversation_there_is(open_case):
    desk = open_case
    staff = tampered(desk.staff_types_in_chat("We shipped it"))

    desk.handle(staff)

    [failed] = [m for m in desk.messages() if m.status == M.FAILED]
    assert (failed.direction, failed.author, failed.handled) == (
        MessageDirection.OUTBOUND,
        "staff",
        True,
    )


def test_an_unreadable_message_of_staff_to_a_stranger_is_not_recorded(desk):
    desk.handle(desk.chat("Hi"))  # jane starts the chat (so there are keys)...
    desk.ports.conversations.delete_tenant("tenant-1")  # ...and no conversation is left
    staff = tampered(desk.staff_types_in_chat("Hello stranger"))

    desk.handle(staff)

    assert desk.ports.conversations.get(desk.conversation_id()) is None


# ---------------------------------------------------------------- the account's own


def test_our_own_chat_message_coming_back_is_dropped(open_case):
    desk = open_case
    [ack] = desk.x.chat_messages
    messages = desk.messages()

    desk.handle(desk.chat_sent(ack))

    assert desk.messages() == messages
    assert desk.instance.comments("CS0000001") == []


def test_staff_typing_in_x_chat_is_recorded_on_the_open_case(open_case):
    desk = open_case
    event = desk.staff_types_in_chat("We shipped it today")

    desk.handle(event)

    assert desk.instance.comments("CS0000001") == [
        "Sent on X by @acme_support: We shipped it today"
    ]
    staff = desk.messages()[-1]
    assert (staff.author, staff.channel, staff.event_id, staff.handled) == (
        "staff",
        MessageChannel.X_CHAT,
        event.message_id,
        True,
    )


def test_staff_writing_while_the_service_sends_is_recorded_at_once(desk):
    # The service records its X Chat message's id before X has it: no echo race to wait
    # out, as there is for DMs.
    desk.handle(desk.chat("Where is my parcel?"))  # the acknowledgement goes out now

    desk.handle(desk.staff_types_in_chat("We shipped it today"))

    assert desk.instance.comments("CS0000001") == [
        "Sent on X by @acme_support: We shipped it today"
    ]


def test_an_acknowledgement_whose_answer_was_lost_reaches_the_customer_once(desk):
    desk.x.answers_lost["send_chat_message"] = 1  # X takes the ack; its answer never comes
    event = desk.chat("Where is my parcel?")
    with pytest.raises(XUnavailable):
        desk.handle(event)
    [ack] = desk.x.chat_messages

    desk.handle(desk.chat_sent(ack))  # its chat.sent, before the retry: ours, not staff's
    desk.handle(event)  # the retry sends the same sealed message again

    assert len(desk.x.calls_to("send_chat_message")) == 2
    [read] = desk.chats_received()
    assert "CS0000001" in read
    assert desk.instance.comments("CS0000001") == []
    [bot] = [m for m in desk.messages() if m.author == "bot"]
    assert (bot.status, bot.x_message_ids, bot.pending_chat_part) == (
        M.DELIVERED,
        [ack.message_id],
        None,
    )


def test_staff_writing_to_someone_who_never_wrote_is_not_a_support_thread(desk):
    desk.handle(desk.chat("Hi"))
    desk.ports.conversations.delete_tenant("tenant-1")
    desk.clock.advance(seconds=inbound.ECHO_RACE_WINDOW.total_seconds())

    desk.handle(desk.staff_types_in_chat("Hello stranger"))

    assert desk.ports.conversations.get(desk.conversation_id()) is None


# ---------------------------------------------------------------- attachments


def photo(desk: ChatDesk, name: str = "box.png", data: bytes = PNG) -> dict:
    """An attachment jane uploads (encrypted with the conversation key) and names."""
    desk.start_chat()
    media_hash_key = f"hash-{name}"
    desk.x.chat_media[(SIGNED_CONVERSATION_ID, media_hash_key)] = desk.jane.encrypt_media(
        ACCOUNT_ID, data
    )
    return {
        "attachment_type": "media",
        "media_hash_key": media_hash_key,
        "width": 1,
        "height": 1,
        "filesize_bytes": len(data),
        "filename": name,
    }


def test_an_attachment_is_decrypted_onto_the_case_and_named_in_its_description(desk):
    desk.handle(desk.chat("The box came broken", attachments=[photo(desk)]))

    case = desk.only_case()
    assert case["description"] == "The box came broken\nAttachment (X Chat): box.png"
    assert desk.instance.files(case["sys_id"]) == [
        Attachment(case["sys_id"], "box.png", "image/png", PNG)
    ]
    [download] = desk.x.calls_to("download_chat_media")
    assert download["media_hash_key"] == "hash-box.png"
    [message, _] = desk.messages()
    assert message.media_attached == ["hash-box.png"]
    assert message.chat_media == [
        ChatMedia(
            chat_conversation_id=DELIVERED_CONVERSATION_ID,
            media_hash_key="hash-box.png",
            file_name="box.png",
            content_type="image/png",
            size=len(PNG),
            key_version=desk.jane.latest[SIGNED_CONVERSATION_ID],
        )
    ]


def test_an_attachment_on_the_open_case_goes_with_its_comment(open_case):
    desk = open_case

    desk.handle(desk.chat("", attachments=[photo(desk, "lid.png")]))

    assert desk.instance.comments("CS0000001") == ["Attachment (X Chat): lid.png"]
    assert [f.file_name for f in desk.instance.files("CS0000001")] == ["lid.png"]


def test_an_attachment_that_cannot_be_downloaded_leaves_the_message_and_a_note(open_case, counted):
    desk = open_case
    attachment = photo(desk, "gone.png")
    del desk.x.chat_media[(SIGNED_CONVERSATION_ID, "hash-gone.png")]  # X lost it

    event = desk.chat("Here it is", attachments=[attachment])

    desk.handle(event)

    assert desk.instance.comments("CS0000001") == ["Here it is\nAttachment (X Chat): gone.png"]
    assert desk.instance.files("CS0000001") == []
    [note] = desk.instance.work_notes("CS0000001")
    assert note.startswith(f"Could not attach gone.png from @{CUSTOMER}'s X Chat message: ")
    assert "404" in note
    message = desk.chat_message_of(event)
    assert (message.handled, message.media_attached) == (True, ["hash-gone.png"])
    assert "ChatMediaNotAttached" in counted


def test_an_attachment_that_does_not_decrypt_leaves_a_note(open_case):
    desk = open_case
    attachment = photo(desk, "bad.png")
    desk.x.chat_media[(SIGNED_CONVERSATION_ID, "hash-bad.png")] = b"not encrypted at all"

    desk.handle(desk.chat("Here it is", attachments=[attachment]))

    [note] = desk.instance.work_notes("CS0000001")
    assert "does not decrypt" in note
    assert desk.instance.files("CS0000001") == []


def test_an_attachment_larger_than_dm_media_may_be_is_not_attached(open_case):
    desk = open_case
    attachment = photo(desk, "huge.png")
    too_large = encrypted_stream_size(DEFAULT_MAX_MEDIA_BYTES) + 1
    desk.x.chat_media[(SIGNED_CONVERSATION_ID, "hash-huge.png")] = b"\x00" * too_large

    desk.handle(desk.chat("Here it is", attachments=[attachment]))

    [note] = desk.instance.work_notes("CS0000001")
    assert "larger than" in note
    assert desk.instance.files("CS0000001") == []


def test_an_attachment_of_a_held_message_is_attached_when_the_case_opens(desk):
    desk.add_field("City", CITY)

    desk.handle(desk.chat("Broken", attachments=[photo(desk)]))
    desk.handle(desk.chat("Lisbon"))

    case = desk.only_case()
    assert case["description"] == "Broken\nAttachment (X Chat): box.png\n\nCity: Lisbon"
    assert [f.file_name for f in desk.instance.files(case["sys_id"])] == ["box.png"]


# ---------------------------------------------------------------- the last attempt


def test_the_last_failure_shows_on_the_decrypted_message(open_case):
    desk = open_case
    event = desk.chat("It was due Monday")
    desk.instance.fail(ServiceNowUnavailable("down"), times=None)
    with pytest.raises(ServiceNowUnavailable):
        desk.handle(event)

    inbound.record_failure(desk.ports, event, "ServiceNow failed: down")

    message = desk.chat_message_of(event)
    assert (message.text, message.failure, message.handled) == (
        "It was due Monday",
        "ServiceNow failed: down",
        False,
    )


def test_a_last_failure_that_cannot_be_read_again_stays_in_the_dead_letter_queue(open_case):
    desk = open_case
    event = desk.chat("It was due Monday")
    desk.instance.fail(ServiceNowUnavailable("down"), times=None)
    with pytest.raises(ServiceNowUnavailable):
        desk.handle(event)
    desk.ports.chat_keys.conversation_keys.clear()  # so X's history would be read...
    desk.x.fail(XUnavailable("X is down"), times=None)  # ...and X is down

    inbound.record_failure(desk.ports, event, "X failed: X is down")

    assert [m.failure for m in desk.messages()] == ["", "", ""]


def test_a_last_failure_of_a_message_never_recorded_changes_nothing(open_case):
    desk = open_case
    event = desk.chat("Never got as far as being recorded")

    inbound.record_failure(desk.ports, event, "X failed")

    assert len(desk.messages()) == 2


def test_a_last_failure_of_an_event_that_names_no_message_changes_nothing(open_case):
    desk = open_case
    key_change_alone = desk.jane.start_conversation(ACCOUNT_ID, desk.account_record)
    event = desk.chat("unused").model_copy(
        update={"encoded_event": key_change_alone, "key_change_event": key_change_alone}
    )
    messages = desk.messages()

    inbound.record_failure(desk.ports, event, "X failed")

    assert desk.messages() == messages


def test_a_last_failure_without_conversation_or_connection_changes_nothing(desk):
    event = desk.chat("Hi")

    inbound.record_failure(desk.ports, event, "X failed")
    inbound.record_failure(desk.ports, event.model_copy(update={"account_id": "901"}), "X failed")

    assert desk.ports.conversations.get(desk.conversation_id()) is None


def test_a_customer_x_cannot_tell_about_yet_is_tried_again(desk):
    event = desk.chat("Hi")
    desk.x.fail(XUnavailable("X is down"), "get_user")
    with pytest.raises(XUnavailable):
        desk.handle(event)
    assert desk.cases() == []

    desk.handle(event)

    assert desk.only_case()["description"] == "Hi"
