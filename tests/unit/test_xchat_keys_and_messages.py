"""The account's X Chat identity and keys (twittnow.xchat) over the fakes, with the real
Chat XDK's cryptography on both sides: the customer (tests.fakes.chat.ChatCustomer) has
keys of their own, and what the account sends is read, verified, by the customer."""

import base64
import json
import logging
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import FakeX, fake_ports
from tests.fakes.chat import ChatCustomer, message_event
from twitter_activity import connections
from twittnow import clock, instance, xchat
from twittnow.auth import Caller
from twittnow.clients.x import (
    BearerCredentials,
    ChatEvent,
    PublicKeyRecord,
    UserCredentials,
    XChatNeedsOAuth2,
    XMediaRefused,
    XRateLimited,
    XUnavailable,
    XUser,
)
from twittnow.errors import UpstreamUnavailable
from twittnow.models import SealedChatMessage, Token, TokenKind, User

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ACCOUNT_ID = "900"
CUSTOMER_ID = "200"
CONVERSATION = "200:900"
WEBHOOK_URL = "https://api.twittnow.test/twitter-activity"
CALLBACK_URL = "https://api.twittnow.test/twitter-callback"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@dataclass(frozen=True)
class Account:
    x_user_id: str = ACCOUNT_ID
    screen_name: str = "acme_support"


ACCOUNT = Account()


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture(autouse=True)
def fresh_instance():
    """Each test is a new Lambda instance: nothing loaded or cached by another test."""
    with instance.scope({}):
        yield


@pytest.fixture
def x() -> FakeX:
    fake = FakeX()
    fake.oauth2_account = XUser(ACCOUNT_ID, ACCOUNT.screen_name)
    fake.register_webhook(WEBHOOK_URL)
    return fake


@pytest.fixture
def ports(x):
    return fake_ports(x=x)


@pytest.fixture
def credentials(x) -> BearerCredentials:
    return BearerCredentials(x.issue_tokens().access_token)


@pytest.fixture
def customer(x) -> ChatCustomer:
    """A customer who set up X Chat: X serves their public keys."""
    person = ChatCustomer(CUSTOMER_ID)
    x.chat_public_keys[CUSTOMER_ID] = [PublicKeyRecord(**person.record)]
    return person


@pytest.fixture
def registered(ports, credentials) -> dict[str, str]:
    """The account connected: its identity registered. Answers its record as X serves it."""
    xchat.ensure_identity(ports, ACCOUNT, credentials)
    return account_record(ports.x)


def account_record(x: FakeX) -> dict[str, str]:
    [record] = x.chat_public_keys[ACCOUNT_ID]
    return record._asdict()


def customer_event(customer, sequence_id: str, payload):
    """What the customer wrote, carrying `payload` (what the Chat XDK encrypted and signed)
    instead of its own text, as X's encoded event."""
    return replace(
        customer.write(ACCOUNT_ID, "unused"),
        encoded_event=message_event(
            sequence_id=sequence_id,
            message_id=payload.message_id,
            sender_id=CUSTOMER_ID,
            conversation_id=CONVERSATION,
            encrypted_content=payload.encrypted_content,
            encoded_event_signature=payload.encoded_event_signature,
        ),
    )


def stored_identity(ports) -> dict:
    return json.loads(ports.x_chat_secrets.get(ports.settings.x_chat_secret_prefix + ACCOUNT_ID))


def opened(ports, credentials, written, *, key_change_event=None, sender_id=CUSTOMER_ID):
    return xchat.open_message(
        ports,
        ACCOUNT,
        credentials,
        chat_conversation_id="200-900",  # as X's delivery names it
        sender_id=sender_id,
        encoded_event=written.encoded_event,
        key_version=written.key_version,
        key_change_event=key_change_event,
    )


def sealed(
    ports, credentials, chat_conversation_id: str | None, text: str, **options
) -> SealedChatMessage:
    """`text` sealed by the account for the customer, not sent."""
    return xchat.seal_text(
        ports,
        ACCOUNT,
        credentials,
        customer_id=CUSTOMER_ID,
        chat_conversation_id=chat_conversation_id,
        text=text,
        **options,
    )


def sent_now(ports, credentials, chat_conversation_id: str | None, text: str) -> tuple[str, str]:
    """`text` sealed and sent: its (message id, conversation id)."""
    message = sealed(ports, credentials, chat_conversation_id, text)
    xchat.post_sealed(ports, credentials, message)
    return message.message_id, message.chat_conversation_id


# ---------------------------------------------------------------- the account's identity


def test_keys_are_stored_then_registered_and_a_reconnection_reuses_them(ports, credentials):
    xchat.ensure_identity(ports, ACCOUNT, credentials)

    stored = stored_identity(ports)
    [registration] = ports.x.calls_to("add_public_key")
    assert stored["registered"] is True
    assert stored["registration"] == registration["registration_payload"]
    assert stored["key_version"] == account_record(ports.x)["public_key_version"]
    [secret] = ports.x_chat_secrets.stored.values()
    assert secret.name == "test/x-chat/900"

    ports.x.calls.clear()
    xchat.ensure_identity(ports, ACCOUNT, credentials)  # connected again
    assert [call.method for call in ports.x.calls] == ["public_keys"]  # X still has them
    assert stored_identity(ports) == stored


def test_connecting_again_registers_the_same_keys_again_when_x_lost_them(ports, credentials):
    xchat.ensure_identity(ports, ACCOUNT, credentials)
    stored = stored_identity(ports)
    ports.x.chat_public_keys.clear()

    xchat.ensure_identity(ports, ACCOUNT, credentials)

    first, again = ports.x.calls_to("add_public_key")
    assert first["registration_payload"] == again["registration_payload"]
    assert stored_identity(ports)["key_blob"] == stored["key_blob"]


def test_a_retried_registration_posts_the_same_public_keys(ports, credentials):
    ports.x.fail(XUnavailable("X is down"), "add_public_key")

    with pytest.raises(XUnavailable):
        xchat.ensure_identity(ports, ACCOUNT, credentials)
    kept = stored_identity(ports)
    assert kept["registered"] is False
    xchat.ensure_identity(ports, ACCOUNT, credentials)

    first, second = ports.x.calls_to("add_public_key")
    assert first["registration_payload"] == second["registration_payload"] == kept["registration"]
    assert stored_identity(ports)["registered"] is True
    assert len(ports.x.chat_public_keys[ACCOUNT_ID]) == 1


def test_keys_x_took_though_its_answer_was_lost_count_as_registered(ports, credentials):
    ports.x.fail(XUnavailable("X is down"), "add_public_key")
    with pytest.raises(XUnavailable):
        xchat.ensure_identity(ports, ACCOUNT, credentials)
    # X had registered them after all, under a version of its own.
    keys = stored_identity(ports)["registration"]["public_key"]
    ports.x.chat_public_keys[ACCOUNT_ID] = [
        PublicKeyRecord(
            "1796648499999",
            keys["public_key"],
            keys["signing_public_key"],
            keys["identity_public_key_signature"],
        )
    ]

    xchat.ensure_identity(ports, ACCOUNT, credentials)

    assert len(ports.x.calls_to("add_public_key")) == 1  # the failed one only
    assert stored_identity(ports)["key_version"] == "1796648499999"
    assert stored_identity(ports)["registered"] is True


def test_a_rate_limited_registration_keeps_the_keys_for_the_next_try(ports, credentials):
    reset_at = NOW + timedelta(minutes=15)
    ports.x.fail(XRateLimited("slow down", reset_at=reset_at), "add_public_key")

    with pytest.raises(XRateLimited):
        xchat.ensure_identity(ports, ACCOUNT, credentials)

    assert stored_identity(ports)["registered"] is False
    xchat.ensure_identity(ports, ACCOUNT, credentials)
    assert stored_identity(ports)["registered"] is True


def test_oauth1_credentials_get_no_x_chat(ports):
    with pytest.raises(XChatNeedsOAuth2, match=r"OAuth 2\.0"):
        xchat.ensure_identity(ports, ACCOUNT, UserCredentials("token", "secret"))
    assert ports.x_chat_secrets.stored == {}


def test_an_account_without_registered_keys_cannot_use_x_chat(ports, credentials, customer):
    with pytest.raises(xchat.ChatUndecryptable, match="connect the account again"):
        sealed(ports, credentials, None, "Hello")


# ---------------------------------------------------------------- connecting


def tenant(ports) -> Caller:
    user = User(
        id="user-tenant",
        username="tenant@example.com",
        company_name="Tenant Ltd",
        password_hash="not used here",
        created_at=NOW,
        updated_at=NOW,
    )
    ports.users.create(user)
    token = Token(digest="token-tenant", user_id=user.id, kind=TokenKind.LOGIN, created_at=NOW)
    return Caller(user=user, token=token, source_ip="198.51.100.7")


def approval(ports, caller: Caller) -> connections.Approval:
    auth_url, _ = connections.start(ports, caller, CALLBACK_URL)
    code, state = ports.x.approve(auth_url)
    return connections.finish_oauth2(ports, code, state, None)


def test_an_oauth2_connection_registers_its_keys_before_it_is_subscribed(ports):
    caller = tenant(ports)
    connections.confirm(ports, caller, approval(ports, caller).confirmation, WEBHOOK_URL)

    methods = [call.method for call in ports.x.calls]
    assert methods.index("add_public_key") < methods.index("subscribe")
    assert stored_identity(ports)["registered"] is True


def test_a_throttled_registration_fails_the_connection_for_a_retry_with_the_same_code(ports):
    caller = tenant(ports)
    pending = approval(ports, caller)
    ports.x.fail(XRateLimited("slow down", reset_at=NOW + timedelta(minutes=15)), "add_public_key")

    with pytest.raises(UpstreamUnavailable, match=r"set up X Chat.*Try again in 900 seconds"):
        connections.confirm(ports, caller, pending.confirmation, WEBHOOK_URL)
    assert ports.credentials.x_of(caller.user.id) is None
    assert ports.x.calls_to("subscribe") == []
    kept = stored_identity(ports)

    connection = connections.confirm(ports, caller, pending.confirmation, WEBHOOK_URL)
    assert connection.x_user_id == ACCOUNT_ID
    first, second = ports.x.calls_to("add_public_key")
    assert first["registration_payload"] == second["registration_payload"] == kept["registration"]


# ---------------------------------------------------------------- receiving


def test_a_message_with_its_key_change_is_verified_and_decrypted(
    ports, credentials, registered, customer
):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    written = customer.write(ACCOUNT_ID, "Hello, my order is late")

    message = opened(ports, credentials, written, key_change_event=key_change)

    assert message is not None
    assert message.text == "Hello, my order is late"
    assert message.message_id == written.message_id
    assert (message.sender_id, message.chat_conversation_id) == (CUSTOMER_ID, CONVERSATION)
    assert message.key_version == written.key_version
    assert message.attachments == []
    # Kept as the account's encrypted copy, not the key.
    stored = ports.chat_keys.conversation_key(ACCOUNT_ID, CONVERSATION, written.key_version)
    raw = customer.keys[(CONVERSATION, written.key_version)]
    assert stored is not None and base64.b64decode(stored) != raw
    assert raw not in base64.b64decode(stored)


def test_a_later_message_opens_with_the_stored_key(ports, credentials, registered, customer):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    opened(ports, credentials, customer.write(ACCOUNT_ID, "first"), key_change_event=key_change)
    ports.x.calls.clear()

    message = opened(ports, credentials, customer.write(ACCOUNT_ID, "second"))

    assert message is not None and message.text == "second"
    assert ports.x.calls == []  # keys stored and cached: X is not asked


def test_a_key_version_the_service_lacks_is_found_in_the_conversations_history(
    ports, credentials, registered, customer
):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    earlier = customer.write(ACCOUNT_ID, "an earlier message")
    ports.x.chat_history[CONVERSATION] = [
        ChatEvent(customer.next_sequence_id(), earlier.encoded_event, CUSTOMER_ID),
        ChatEvent(customer.next_sequence_id(), key_change, CUSTOMER_ID),
    ]
    ports.x.chat_page_size = 1  # the key change is on the second page
    written = customer.write(ACCOUNT_ID, "Where is my parcel?")

    message = opened(ports, credentials, written)

    assert message is not None and message.text == "Where is my parcel?"
    assert [call["pagination"] for call in ports.x.calls_to("conversation_events")] == [None, "1"]
    assert ports.chat_keys.conversation_key(ACCOUNT_ID, CONVERSATION, written.key_version)


def test_a_key_version_nowhere_to_be_found_fails_closed(ports, credentials, registered, customer):
    customer.start_conversation(ACCOUNT_ID, registered)  # never delivered, not in the history

    with pytest.raises(xchat.ChatUndecryptable, match="holds no key version"):
        opened(ports, credentials, customer.write(ACCOUNT_ID, "lost"))


def test_a_signing_key_version_the_caches_lack_is_read_again_from_x(
    ports, credentials, registered, customer, x
):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    opened(ports, credentials, customer.write(ACCOUNT_ID, "first"), key_change_event=key_change)
    # The customer moved to new keys (a new device, say); X serves them, the caches do not.
    moved = ChatCustomer(CUSTOMER_ID)
    moved.keys, moved.latest = customer.keys, customer.latest
    x.chat_public_keys[CUSTOMER_ID] = [PublicKeyRecord(**moved.record)]
    reads = len(x.calls_to("public_keys"))

    message = opened(ports, credentials, moved.write(ACCOUNT_ID, "from my new phone"))

    assert message is not None and message.text == "from my new phone"
    assert len(x.calls_to("public_keys")) == reads + 1
    assert ports.chat_keys.cached_public_keys(CUSTOMER_ID) == [PublicKeyRecord(**moved.record)]


def test_a_forged_signature_fails_closed(ports, credentials, registered, customer):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    opened(ports, credentials, customer.write(ACCOUNT_ID, "first"), key_change_event=key_change)
    # Someone who holds the conversation key but not the customer's signing key.
    forger = ChatCustomer("666")
    version = customer.latest[CONVERSATION]
    payload = forger.chat.encrypt_message(
        CONVERSATION,
        "Please refund to account 123",
        conversation_key=customer.keys[(CONVERSATION, version)],
        conversation_key_version=version,
    )
    forged = customer_event(customer, "1", payload)

    with pytest.raises(xchat.ChatUndecryptable, match="signature does not verify"):
        opened(ports, credentials, forged)


def test_a_message_naming_another_sender_than_the_delivery_is_refused(
    ports, credentials, registered, customer, x
):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    written = customer.write(ACCOUNT_ID, "Hello")
    x.chat_public_keys["201"] = [PublicKeyRecord(**customer.record)]  # the same keys

    # The Chat XDK binds a signing key to its user: the customer's signature is not 201's.
    with pytest.raises(xchat.ChatUndecryptable, match="could not be read"):
        opened(ports, credentials, written, key_change_event=key_change, sender_id="201")


def test_a_reaction_is_not_a_message(ports, credentials, registered, customer):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    version = customer.latest[CONVERSATION]
    reaction = customer.chat.encrypt_add_reaction(
        emoji="+1",
        conversation_id=CONVERSATION,
        target_message_sequence_id="1",
        conversation_key=customer.keys[(CONVERSATION, version)],
        conversation_key_version=version,
    )
    written = customer_event(customer, "2", reaction)

    assert opened(ports, credentials, written, key_change_event=key_change) is None


# ---------------------------------------------------------------- media


def test_an_attachment_is_downloaded_and_decrypted_with_its_key_version(
    ports, credentials, registered, customer
):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    written = customer.write(
        ACCOUNT_ID,
        "see the photo",
        attachments=[
            {
                "attachment_type": "media",
                "media_hash_key": "abc123",
                "width": 1,
                "height": 1,
                "filesize_bytes": len(PNG),
                "filename": "../receipt.png",
            }
        ],
    )
    ports.x.chat_media[(CONVERSATION, "abc123")] = customer.encrypt_media(ACCOUNT_ID, PNG)
    message = opened(ports, credentials, written, key_change_event=key_change)
    assert message is not None
    [attachment] = message.attachments
    assert attachment == xchat.ChatAttachment("abc123", "receipt.png", "image/png", len(PNG))

    media = xchat.download_attachment(
        ports,
        ACCOUNT,
        credentials,
        chat_conversation_id=CONVERSATION,
        attachment=attachment,
        key_version=message.key_version,
        max_bytes=1024,
    )

    assert (media.file_name, media.content_type, media.data) == ("receipt.png", "image/png", PNG)
    with pytest.raises(XMediaRefused):
        xchat.download_attachment(
            ports,
            ACCOUNT,
            credentials,
            chat_conversation_id=CONVERSATION,
            attachment=attachment,
            key_version=message.key_version,
            max_bytes=10,
        )


def test_an_attachment_that_does_not_decrypt_fails_closed(ports, credentials, registered, customer):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    written = customer.write(ACCOUNT_ID, "hello")
    opened(ports, credentials, written, key_change_event=key_change)
    ports.x.chat_media[(CONVERSATION, "abc123")] = customer.encrypt_media(ACCOUNT_ID, PNG)[:-5]

    with pytest.raises(xchat.ChatUndecryptable, match="does not decrypt"):
        xchat.download_attachment(
            ports,
            ACCOUNT,
            credentials,
            chat_conversation_id=CONVERSATION,
            attachment=xchat.ChatAttachment("abc123", "a.png", "image/png", len(PNG)),
            key_version=written.key_version,
            max_bytes=1024,
        )


# ---------------------------------------------------------------- sending


def test_a_reply_goes_with_the_conversations_latest_key(ports, credentials, registered, customer):
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    opened(ports, credentials, customer.write(ACCOUNT_ID, "Hello"), key_change_event=key_change)

    message_id, conversation = sent_now(ports, credentials, "200-900", "Your case is CS0001005")

    [sent] = ports.x.chat_messages
    assert (sent.message_id, sent.conversation_id, conversation) == (
        message_id,
        CONVERSATION,
        CONVERSATION,
    )
    assert ports.x.chat_key_changes == []
    read = customer.read(
        ACCOUNT_ID,
        registered,
        message_id=sent.message_id,
        encoded_message_create_event=sent.encoded_message_create_event,
        encoded_message_event_signature=sent.encoded_message_event_signature,
    )
    assert read["content"]["text"] == "Your case is CS0001005"
    assert read["verified"] is True and read["id"] == message_id


def test_a_conversation_without_a_key_gets_one_for_both_users(
    ports, credentials, registered, customer
):
    message_id, conversation = sent_now(ports, credentials, None, "Hello from Acme")

    assert conversation == CONVERSATION
    [(path_id, body)] = ports.x.chat_key_changes
    assert path_id == CUSTOMER_ID  # a new 1:1 goes to the recipient
    version = customer.receive_key_change(ACCOUNT_ID, body, registered)  # verifies it
    assert ports.chat_keys.latest_conversation_key(ACCOUNT_ID, CONVERSATION)[0] == version
    [sent] = ports.x.chat_messages
    read = customer.read(
        ACCOUNT_ID,
        registered,
        message_id=sent.message_id,
        encoded_message_create_event=sent.encoded_message_create_event,
        encoded_message_event_signature=sent.encoded_message_event_signature,
    )
    assert read["content"]["text"] == "Hello from Acme" and read["id"] == message_id


def test_a_customer_without_x_chat_keys_cannot_be_written_to(ports, credentials, registered):
    with pytest.raises(xchat.ChatRecipientHasNoKeys, match="not set up X Chat"):
        sealed(ports, credentials, None, "Hello")
    assert ports.x.chat_key_changes == [] and ports.x.chat_messages == []


# ---------------------------------------------------------------- no secret shown


def test_no_key_or_token_reaches_a_log_line_or_an_exception(
    ports, credentials, registered, customer, caplog
):
    caplog.set_level(logging.DEBUG)
    key_change = customer.start_conversation(ACCOUNT_ID, registered)
    opened(ports, credentials, customer.write(ACCOUNT_ID, "Hello"), key_change_event=key_change)
    sent_now(ports, credentials, CONVERSATION, "Reply")
    errors: list[BaseException] = []
    forger = ChatCustomer(CUSTOMER_ID)  # not the keys X serves for the customer
    forger.keys, forger.latest = customer.keys, customer.latest
    for attempt in (
        lambda: opened(ports, credentials, forger.write(ACCOUNT_ID, "forged")),
        lambda: opened(
            ports, credentials, replace(customer.write(ACCOUNT_ID, "x"), key_version="1")
        ),
    ):
        with pytest.raises(xchat.ChatUndecryptable) as refused:
            attempt()
        errors.append(refused.value)

    identity = stored_identity(ports)
    version = customer.latest[CONVERSATION]
    raw = customer.keys[(CONVERSATION, version)]
    secrets = [
        identity["key_blob"],
        identity["key_blob"][:40],
        base64.b64encode(raw).decode(),
        raw.hex(),
        ports.chat_keys.conversation_key(ACCOUNT_ID, CONVERSATION, version),
        credentials.access_token,
    ]
    # The whole traceback, with any exception chained to it (the Chat XDK's, say).
    shown = caplog.text + "".join(
        "".join(traceback.format_exception(error)) + getattr(error, "reason", "")
        for error in errors
    )
    assert caplog.records  # something was logged, and checked
    for secret in secrets:
        assert secret and secret not in shown


def test_a_key_change_of_another_conversation_opens_nothing_here(
    ports, credentials, registered, customer, x
):
    other = ChatCustomer("300")
    x.chat_public_keys["300"] = [PublicKeyRecord(**other.record)]
    elsewhere = other.start_conversation(ACCOUNT_ID, registered)  # for "300:900"
    customer.start_conversation(ACCOUNT_ID, registered)
    written = customer.write(ACCOUNT_ID, "Hello")

    with pytest.raises(xchat.ChatUndecryptable, match="holds no key version"):
        opened(ports, credentials, written, key_change_event=elsewhere)
    assert ports.chat_keys.latest_conversation_key(ACCOUNT_ID, CONVERSATION) is None
