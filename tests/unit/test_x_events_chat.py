"""X Chat deliveries normalized: chat.received and chat.sent, hand-written from X's
documentation examples (xchat/real-time-events.mdx "Payload shape (live)",
x-api/activity/event-payloads.mdx "chat.received", "chat.sent"). The encrypted fields are
opaque here: the processor decrypts them (tests/unit/test_inbound_chat.py)."""

import copy
import re
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from twittnow.x_events import (
    ChatMessage,
    DirectMessageReceived,
    InboundJob,
    MalformedDelivery,
    conversation_key,
    deduplication_id,
    delivery_account_id,
    normalize,
)

ACCOUNT = "1111111111111111111"  # the connected company account
CUSTOMER = "2222222222222222222"


def chat_delivery(
    event_type: str = "chat.received",
    *,
    sender: str = CUSTOMER,
    conversation_id: str = f"{ACCOUNT}-{CUSTOMER}",
    event_uuid: str = "0f52b591-4b7e-4f13-92cd-30e6b2a3f18a",
    **payload: object,
) -> dict:
    """real-time-events.mdx's live shape, with `payload` fields added or replaced."""
    return {
        "data": {
            "event_type": event_type,
            "event_uuid": event_uuid,
            "filter": {"user_id": ACCOUNT},
            "payload": {
                "conversation_id": conversation_id,
                "sender_id": sender,
                "encoded_event": "BASE64_ENCODED_MESSAGE_EVENT",
                "conversation_key_version": "1782945126642",
                "conversation_key_change_event": "BASE64_ENCODED_KEY_CHANGE_EVENT",
                **payload,
            },
        }
    }


# event-payloads.mdx's chat.received, as X documents it (the encoded fields truncated).
DOCS_CHAT_RECEIVED = {
    "data": {
        "event_uuid": "8511582263942905822",
        "filter": {"user_id": ACCOUNT},
        "event_type": "chat.received",
        "tag": "chat-inbound",
        "payload": {
            "conversation_token": "eyJhbGciOiJIUzI1NiJ9.eyJyZXF1ZXN0aW5nVXN…(truncated)",
            "id": "e4f4d3fc-8bbf-4928-92eb-e5058d6bb6f6",
            "created_at_msec": "1784841183370",
            "sender_id": CUSTOMER,
            "conversation_id": f"{CUSTOMER}:{ACCOUNT}",
            "conversation_key_version": "1768236281331",
            "encoded_event": "CwABAAAAEzIwODA0MDA4MjUyMjcxMDAxNjALAAIA…(truncated)",
            "conversation_key_change_event": "CwABAAAAEzIwMTA3NTQ4MTkxMTY0NDk5MDULAAIA…",
            "message_event_signature": {
                "public_key_version": "1765382634817",
                "signature": "6IK9SZIMXBe5SFcB7vGZJd5A5Eb5MLvnwrhUFfBGv4S5GsSX3WWPGuIn",
                "signature_version": "7",
                "signing_public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJ2c+3BYZs7ZCEY",
            },
        },
    }
}


def only(events: list) -> ChatMessage:
    [event] = events
    assert isinstance(event, ChatMessage)
    return event


def test_a_customers_chat_message_is_received_still_encrypted():
    event = only(normalize(chat_delivery()))

    assert event == ChatMessage(
        event_id="0f52b591-4b7e-4f13-92cd-30e6b2a3f18a",
        account_id=ACCOUNT,
        direction="received",
        chat_conversation_id=f"{ACCOUNT}-{CUSTOMER}",
        sender_id=CUSTOMER,
        customer_id=CUSTOMER,
        encoded_event="BASE64_ENCODED_MESSAGE_EVENT",
        key_version="1782945126642",
        key_change_event="BASE64_ENCODED_KEY_CHANGE_EVENT",
    )
    assert event.kind == "chat_message"


def test_the_chat_received_example_of_xs_docs():
    event = only(normalize(DOCS_CHAT_RECEIVED))

    assert event.event_id == "8511582263942905822"
    assert event.direction == "received"
    assert (event.chat_conversation_id, event.customer_id) == (f"{CUSTOMER}:{ACCOUNT}", CUSTOMER)
    assert event.key_version == "1768236281331"
    # X's unsigned copies of the message's id and time, kept to name an unreadable one.
    assert event.message_id == "e4f4d3fc-8bbf-4928-92eb-e5058d6bb6f6"
    assert event.created_at == datetime(2026, 7, 23, 21, 13, 3, 370000, tzinfo=UTC)


def test_the_accounts_own_chat_message_is_sent_to_the_other_participant():
    # event-payloads.mdx's chat.sent: the account sends, in "A:B" form.
    delivery = chat_delivery(
        "chat.sent", sender=ACCOUNT, conversation_id=f"{CUSTOMER}:{ACCOUNT}", event_uuid="37230"
    )

    event = only(normalize(delivery))

    assert (event.direction, event.sender_id, event.customer_id) == ("sent", ACCOUNT, CUSTOMER)


@pytest.mark.parametrize(
    "conversation_id", [f"{ACCOUNT}-{CUSTOMER}", f"{CUSTOMER}-{ACCOUNT}", f"{ACCOUNT}:{CUSTOMER}"]
)
def test_the_customer_is_the_participant_who_is_not_the_account(conversation_id):
    event = only(normalize(chat_delivery(conversation_id=conversation_id)))

    assert event.customer_id == CUSTOMER
    assert event.chat_conversation_id == conversation_id  # as X gave it


def test_without_a_key_change_the_event_names_none():
    delivery = chat_delivery()
    del delivery["data"]["payload"]["conversation_key_change_event"]

    event = only(normalize(delivery))

    assert event.key_change_event is None
    assert (event.message_id, event.created_at) == (None, None)


def test_a_customers_dms_and_chats_share_one_message_group():
    chat = only(normalize(chat_delivery()))
    staff_chat = only(normalize(chat_delivery("chat.sent", sender=ACCOUNT)))
    dm = DirectMessageReceived(
        event_id="1",
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        customer_screen_name="jane",
        customer_name="Jane",
        text="hi",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    assert conversation_key(chat) == conversation_key(staff_chat) == conversation_key(dm)
    assert conversation_key(chat) == f"{ACCOUNT}:{CUSTOMER}"


def test_a_delivery_is_deduplicated_by_its_event_uuid_per_account():
    assert deduplication_id(only(normalize(DOCS_CHAT_RECEIVED))) == (
        f"{ACCOUNT}:8511582263942905822"
    )


def test_the_account_of_a_chat_delivery_is_its_filters():
    assert delivery_account_id(chat_delivery()) == ACCOUNT


def unfiltered(delivery: dict) -> dict:
    """As real-time-events.mdx's live payload has it: no filter."""
    del delivery["data"]["filter"]
    return delivery


@pytest.mark.parametrize(
    ("event_type", "sender", "direction"),
    [("chat.received", CUSTOMER, "received"), ("chat.sent", ACCOUNT, "sent")],
)
def test_a_chat_delivery_without_a_filter_is_the_accounts_by_its_conversation(
    event_type, sender, direction
):
    for conversation_id in (f"{ACCOUNT}-{CUSTOMER}", f"{CUSTOMER}:{ACCOUNT}"):
        delivery = unfiltered(
            chat_delivery(event_type, sender=sender, conversation_id=conversation_id)
        )

        chat = only(normalize(delivery))

        assert (chat.account_id, chat.customer_id, chat.direction) == (ACCOUNT, CUSTOMER, direction)
        assert delivery_account_id(delivery) == ACCOUNT


def test_a_chat_delivery_without_a_filter_whose_sender_is_not_in_it_names_no_account():
    delivery = unfiltered(chat_delivery(sender="3333"))

    assert delivery_account_id(delivery) is None
    assert normalize(delivery) == []


def test_a_chat_event_is_queued_and_read_back_as_an_inbound_job():
    event = only(normalize(DOCS_CHAT_RECEIVED))

    assert TypeAdapter(InboundJob).validate_json(event.model_dump_json()) == event


IGNORED = {
    "a group conversation": chat_delivery(conversation_id="g1234567890"),
    "a conversation without the account": chat_delivery(conversation_id="3333-4444", sender="3333"),
    "the account's notes to itself": chat_delivery(
        conversation_id=f"{ACCOUNT}-{ACCOUNT}", sender=ACCOUNT
    ),
    "a group join": chat_delivery("chat.conversation_join"),
}


@pytest.mark.parametrize("delivery", IGNORED.values(), ids=IGNORED.keys())
def test_what_is_no_customers_thread_is_ignored(delivery):
    assert normalize(delivery) == []


def mutations(value, path=()):
    """Every field of a delivery removed, or replaced by a value of each wrong type."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in children:
        for replacement in (None, 7, 1.5, True, "x", "g1", "1:2:3", [], {}, ["x"], [{}]):
            yield (*path, key), replacement
        yield (*path, key), "<removed>"
        yield from mutations(child, (*path, key))


def mutated(delivery: dict, path: tuple, replacement: object) -> dict:
    delivery = copy.deepcopy(delivery)
    parent = delivery
    for key in path[:-1]:
        parent = parent[key]
    if replacement == "<removed>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return delivery


def without(field: str) -> dict:
    delivery = chat_delivery()
    del delivery["data"]["payload"][field]
    return delivery


MALFORMED = {
    "no conversation id": (without("conversation_id"), "payload.conversation_id is missing"),
    "no sender": (without("sender_id"), "payload.sender_id is missing"),
    "no encoded event": (without("encoded_event"), "payload.encoded_event is missing"),
    "no key version": (
        without("conversation_key_version"),
        "payload.conversation_key_version is missing",
    ),
    "key version a number": (
        chat_delivery(conversation_key_version=1782945126642),
        "payload.conversation_key_version must be a string, not int",
    ),
    "conversation id of three users": (
        chat_delivery(conversation_id=f"{ACCOUNT}-{CUSTOMER}-3"),
        "payload.conversation_id is not an X Chat conversation",
    ),
    "conversation id not ids": (
        chat_delivery(conversation_id="acme:jane"),
        "payload.conversation_id is not an X Chat conversation",
    ),
    "sender not a participant": (
        chat_delivery(sender="3333"),
        f"payload.sender_id 3333 is not in conversation {ACCOUNT}-{CUSTOMER}",
    ),
    "time not epoch ms": (
        chat_delivery(created_at_msec="yesterday"),
        "payload.created_at_msec must be epoch milliseconds",
    ),
    "no event uuid": (
        {"data": {k: v for k, v in chat_delivery()["data"].items() if k != "event_uuid"}},
        "delivery.data.event_uuid is missing",
    ),
}


@pytest.mark.parametrize(("delivery", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_chat_delivery_says_what_is_wrong(delivery, message):
    with pytest.raises(MalformedDelivery, match=re.escape(message)):
        normalize(delivery)


@pytest.mark.parametrize(
    "delivery",
    [DOCS_CHAT_RECEIVED, chat_delivery("chat.sent", sender=ACCOUNT)],
    ids=["received", "sent"],
)
def test_no_mangling_of_a_chat_delivery_raises_anything_but_malformed_delivery(delivery):
    for path, replacement in mutations(delivery):
        broken_delivery = mutated(delivery, path, replacement)
        try:
            events = normalize(broken_delivery)
        except MalformedDelivery:
            continue
        except Exception as error:  # anything else is the bug this test looks for
            error.add_note(f"with {'.'.join(map(str, path))} = {replacement!r}")
            raise
        assert isinstance(events, list)
