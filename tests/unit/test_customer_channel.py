"""Writing to a customer on X (twittnow.customer_channel) and the connected accounts'
helpers (twittnow.x_accounts), on the fakes, beyond what tests/unit/test_fakes.py shows
(a DM sent, a refused token marking the connection broken): splitting into DMs and
posts as X counts them, resuming a partial send, what is not sent, and the connection's
status, credentials and disconnection. X Chat: a customer whose latest message came in X
Chat is answered there, encrypted (and the customer, with real keys, reads it), each part
sealed once and sent again as it was by a retry."""

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.unit.chat_support import SIGNED_CONVERSATION_ID, ChatDesk
from tests.unit.chat_support import chat_desk as new_chat_desk
from tests.unit.outbound_desk import ACCOUNT, CUSTOMER, NOW, TOKENS, Desk, open_desk
from tests.unit.test_inbound_support import ACCOUNT_ID, CUSTOMER_ID
from twittnow import instance, x_accounts
from twittnow.clients.x import (
    UserCredentials,
    WebhookApi,
    XConnectionBroken,
    XNotFound,
    XRateLimited,
    XRequestRejected,
    XUnavailable,
)
from twittnow.customer_channel import (
    DM_LENGTH_LIMIT,
    POST_WEIGHT_LIMIT,
    channel_for,
    channel_of,
    post_weight,
    send,
    split_dm,
    split_post,
)
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageChannel,
    MessageDirection,
    MessageStatus,
    SealedChatMessage,
)
from twittnow.repositories.secrets import SecretGone
from twittnow.x_app import AppCredentials


@pytest.fixture
def desk(time) -> Desk:
    return open_desk()


@pytest.fixture
def mention(desk) -> Conversation:
    return desk.start_conversation(Channel.MENTION, latest_post_id="post-7")


# ---------------------------------------------------------------- how X counts


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("Hello", 5),
        ("café", 4),  # up to U+10FF: one each
        ("☕", 2),  # emoji: two
        ("日本語", 6),  # CJK: two each
        ("😀", 2),  # one code point beyond the BMP: two
        ("\u2014\u2019", 2),  # dashes and quotes: one each
        ("\u2026", 2),  # the ellipsis is outside twitter-text's light ranges
        ("see https://example.com/" + "a" * 100, 4 + 23),  # a link is a t.co link
        ("http://a.b and https://c.d", 23 + 5 + 23),
    ],
)
def test_post_weight_counts_as_x_does(text, weight):
    assert post_weight(text) == weight


def test_a_short_reply_post_is_one_post_mentioning_the_customer():
    text = "x" * (POST_WEIGHT_LIMIT - len("@jane "))

    assert split_post(text, "jane") == [f"@jane {text}"]
    assert split_post("日" * 137, "jane") == ["@jane " + "日" * 137]  # 6 + 274 = 280


def test_a_long_reply_post_is_split_at_words_into_numbered_posts_that_fit():
    text = " ".join(f"word{n}" for n in range(120))  # 849 characters

    posts = split_post(text, "jane")

    assert all(post_weight(post) <= POST_WEIGHT_LIMIT for post in posts)
    assert [post[-6:] for post in posts] == [" (1/4)", " (2/4)", " (3/4)", " (4/4)"]
    chunks = [post.removeprefix("@jane ").rsplit(" (", 1)[0] for post in posts]
    assert " ".join(chunks) == text  # no word cut, none lost


def test_wide_characters_and_links_are_weighed_when_splitting():
    text = ("日本語 " * 60 + "https://example.com/" + "a" * 300).strip()

    posts = split_post(text, "jane")

    assert all(post_weight(post) <= POST_WEIGHT_LIMIT for post in posts)
    assert posts[-1].endswith("https://example.com/" + "a" * 300 + f" ({len(posts)}/{len(posts)})")


def test_a_word_longer_than_a_post_is_cut():
    room = POST_WEIGHT_LIMIT - len("@jane ") - len(" (99/99)")
    word = "y" * (2 * room + 10)

    posts = split_post(f"Code: {word} done", "jane")

    chunks = [post.removeprefix("@jane ").rsplit(" (", 1)[0] for post in posts]
    assert chunks == ["Code:", "y" * room, "y" * room, "y" * 10 + " done"]


def test_a_dm_up_to_the_limit_is_one_dm_and_a_longer_one_is_split_at_words():
    assert split_dm("x" * DM_LENGTH_LIMIT) == ["x" * DM_LENGTH_LIMIT]

    words = ["w" * 999] * 25  # 24,999 characters with the spaces
    parts = split_dm(" ".join(words))

    assert [len(part) for part in parts] == [9_999, 9_999, 4_999]
    assert " ".join(parts) == " ".join(words)


def test_a_dm_of_one_endless_word_is_cut_and_a_trailing_space_dropped():
    assert split_dm("z" * 25_000) == ["z" * 10_000, "z" * 10_000, "z" * 5_000]
    assert split_dm("z" * DM_LENGTH_LIMIT + " ") == ["z" * DM_LENGTH_LIMIT]
    assert split_dm("") == [""]


# ---------------------------------------------------------------- sending


def test_nothing_is_sent_for_a_text_of_only_controls_or_spaces(desk):
    for text in ("", "  \n", "\x00\x1b\u202e\u2066"):
        assert send(desk.ports, desk.connection, desk.conversation, text) == []
    assert send(desk.ports, desk.connection, desk.conversation, " ", ["dm-1"]) == ["dm-1"]

    assert desk.x.calls == []


def test_a_long_dm_goes_as_several_dms_each_recorded_as_sent(desk):
    text = " ".join(["w" * 999] * 12)  # 11,999 characters: two DMs
    heard: list[list[str]] = []

    sent = send(
        desk.ports,
        desk.connection,
        desk.conversation,
        text,
        on_sent=lambda ids: heard.append(list(ids)),
    )

    first, second = desk.x.dms
    assert sent == [first.id, second.id]
    assert [(dm.to, len(dm.text)) for dm in desk.x.dms] == [(CUSTOMER, 9_999), (CUSTOMER, 1_999)]
    assert heard == [[first.id], [first.id, second.id]]
    assert all(desk.ports.echoes.is_ours(ACCOUNT, dm.id) for dm in desk.x.dms)


def test_a_retry_sends_only_the_dms_a_failed_attempt_did_not(desk):
    text = " ".join(["w" * 999] * 12)

    sent = send(desk.ports, desk.connection, desk.conversation, text, ["dm-earlier"])

    [dm] = desk.x.dms
    assert sent == ["dm-earlier", dm.id]
    assert len(dm.text) == 1_999  # the second part


def test_a_retried_thread_answers_the_last_post_sent(desk, mention):
    text = " ".join(f"word{n}" for n in range(60))  # 409 characters: two posts

    sent = send(desk.ports, desk.connection, mention, text, ["post-earlier"])

    [post] = desk.x.posts
    assert (post.to, post.text[-6:]) == ("post-earlier", " (2/2)")
    assert sent == ["post-earlier", post.id]


def test_a_mention_conversation_without_a_post_cannot_be_answered(desk):
    conversation = desk.start_conversation(Channel.MENTION)  # latest_post_id None

    with pytest.raises(XNotFound, match="no customer post to reply to"):
        send(desk.ports, desk.connection, conversation, "Hello")

    assert desk.x.calls == []


def test_other_failures_leave_the_connection_as_it_is(desk):
    desk.x.fail(XUnavailable("X did not answer."), "send_dm")

    with pytest.raises(XUnavailable):
        send(desk.ports, desk.connection, desk.conversation, "Hello")

    assert desk.ports.credentials.x_of(desk.tenant_id) == desk.connection
    assert desk.ports.audit_log.between(NOW, NOW) == []


# ---------------------------------------------------------------- the connection's status


def test_a_refusal_told_again_is_one_audit_entry(desk, time):
    for _ in range(2):
        desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")
        connection = desk.ports.credentials.x_of(desk.tenant_id)
        assert connection is not None
        with pytest.raises(XConnectionBroken):
            send(desk.ports, connection, desk.conversation, "Hello")
        time.advance(timedelta(minutes=5))

    [entry] = desk.ports.audit_log.between(NOW, time.now)
    assert (entry.action, entry.changed_fields) == (
        "x_connection.broken",
        ["status", "status_detail"],
    )
    stored = desk.ports.credentials.x_of(desk.tenant_id)
    assert stored is not None and stored.updated_at == NOW  # written once


def test_a_connection_replaced_or_revoked_meanwhile_is_not_written_back(desk, time):
    """The sender read the connection, then the tenant revoked it: marking it broken (or
    connected again) must not bring the record back."""
    desk.ports.credentials.disconnect_x(desk.connection, released_at=NOW)

    x_accounts.mark_broken(desk.ports, desk.connection, "refused", by="system")
    broken = desk.connection.model_copy(update={"status": "broken"})
    x_accounts.mark_restored(desk.ports, broken)

    assert desk.ports.credentials.x_of(desk.tenant_id) is None
    assert desk.ports.audit_log.between(NOW, time.now) == []


def test_a_connected_connection_is_not_restored_again(desk):
    x_accounts.mark_restored(desk.ports, desk.connection)

    assert desk.ports.credentials.x_of(desk.tenant_id) == desk.connection
    assert desk.ports.audit_log.between(NOW, NOW) == []


# ---------------------------------------------------------------- credentials and client


def test_the_credentials_are_the_secret_version_the_connection_names(desk):
    # A newer version (a reconnection under way) does not change what this record signs with.
    desk.ports.x_secrets.put(
        desk.connection.secret_arn, '{"access_token": "new", "access_token_secret": "new"}'
    )

    credentials = x_accounts.credentials_of(desk.ports, desk.connection)

    assert credentials == UserCredentials(TOKENS["access_token"], TOKENS["access_token_secret"])


def test_the_x_client_is_built_once_with_the_apps_credentials(monkeypatch, desk):
    monkeypatch.setenv("X_CONSUMER_KEY", "consumer-key")
    monkeypatch.setenv("X_CONSUMER_SECRET", "consumer-secret")
    settings = desk.ports.settings.model_copy(update={"x_api_base_url": "https://x.example/"})
    monkeypatch.setattr(x_accounts, "get_settings", lambda: settings)

    with instance.scope({}):
        client = x_accounts.x_client()
        assert x_accounts.x_client() is client

    assert client.base_url == "https://x.example"
    assert client._app == AppCredentials("consumer-key", "consumer-secret")


# ---------------------------------------------------------------- disconnecting


def assert_forgotten(desk: Desk) -> None:
    assert desk.ports.credentials.x_of(desk.tenant_id) is None
    assert desk.ports.credentials.account_released_at(ACCOUNT) == NOW
    assert not desk.ports.credentials.holds_account(ACCOUNT)
    with pytest.raises(SecretGone):
        desk.ports.x_secrets.get(desk.connection.secret_arn)


def test_disconnecting_unsubscribes_then_forgets_the_account_and_its_tokens(desk):
    x_accounts.disconnect(desk.ports, desk.connection)

    assert desk.x.calls_to("unsubscribe") == [
        {
            "api": WebhookApi.ACTIVITY,
            "webhook_id": "webhook-1",
            "user_id": ACCOUNT,
            "subscription_id": f"{ACCOUNT}-dm.received",
        }
    ]
    assert_forgotten(desk)


@pytest.mark.parametrize(
    "error",
    [
        XNotFound("SubscriptionNotFound", status_code=404),
        XConnectionBroken("Unauthorized", status_code=401),
    ],
    ids=["unsubscribed-already", "revoked-on-x"],
)
def test_an_account_with_nothing_left_to_stop_is_forgotten_all_the_same(desk, error):
    desk.x.fail(error, "unsubscribe")

    x_accounts.disconnect(desk.ports, desk.connection)

    assert_forgotten(desk)


def test_x_down_while_disconnecting_forgets_nothing(desk):
    desk.x.fail(XUnavailable("X did not answer."), "unsubscribe")

    with pytest.raises(XUnavailable):
        x_accounts.disconnect(desk.ports, desk.connection)

    assert desk.ports.credentials.x_of(desk.tenant_id) == desk.connection
    assert (
        x_accounts.credentials_of(desk.ports, desk.connection).access_token
        == TOKENS["access_token"]
    )


# ---------------------------------------------------------------- X Chat


@pytest.fixture
def chat_desk(time) -> Iterator[ChatDesk]:
    """@jane wrote in X Chat (the conversation's key came with her message) and was
    told her case's number there."""
    with new_chat_desk(time) as desk:
        desk.handle(desk.chat("Where is my parcel?"))
        yield desk


@pytest.fixture
def dm_desk(time) -> Iterator[ChatDesk]:
    """@jane, who has X Chat keys, wrote only a legacy DM (no chat conversation yet)."""
    with new_chat_desk(time) as desk:
        desk.handle(desk.dm("Where is my parcel?"))
        yield desk


def in_chat(desk: ChatDesk) -> Conversation:
    """The conversation, its customer's latest message taken as an X Chat one."""
    return desk.ports.conversations.update(
        desk.conversation_id(), latest_channel=MessageChannel.X_CHAT
    )


def test_a_customer_who_wrote_last_in_x_chat_is_answered_there_encrypted(chat_desk):
    desk = chat_desk

    sent = send(desk.ports, desk.connection, desk.conversation(), "We are on it")

    assert desk.chats_received()[-1] == "We are on it"  # jane's app verifies and decrypts it
    reply = desk.x.chat_messages[-1]
    assert sent == [reply.message_id]
    assert reply.conversation_id == SIGNED_CONVERSATION_ID
    assert desk.ports.echoes.is_ours(ACCOUNT_ID, reply.message_id)  # its chat.sent is ours
    assert desk.x.dms == []


def test_a_long_chat_reply_is_split_as_dms_are_and_a_retry_sends_the_rest(chat_desk):
    desk = chat_desk
    text = " ".join(["w" * 999] * 12)  # 11,999 characters: two messages
    heard: list[list[str]] = []

    sent = send(
        desk.ports,
        desk.connection,
        desk.conversation(),
        text,
        ["sent-earlier"],
        on_sent=lambda ids: heard.append(list(ids)),
    )

    reply = desk.x.chat_messages[-1]
    assert sent == ["sent-earlier", reply.message_id] == heard[-1]
    assert [len(t) for t in desk.chats_received()[1:]] == [1_999]  # only the second part


def test_without_a_chat_conversation_one_is_made_and_kept(dm_desk):
    desk = dm_desk
    conversation = in_chat(desk)
    assert conversation.chat_conversation_id is None

    sent = send(desk.ports, desk.connection, conversation, "Hello in X Chat")

    [(recipient, _)] = desk.x.chat_key_changes  # a new 1:1 is posted to the recipient's id
    assert recipient == CUSTOMER_ID
    assert desk.chats_received() == ["Hello in X Chat"]
    assert sent == [desk.x.chat_messages[0].message_id]
    assert desk.conversation().chat_conversation_id == SIGNED_CONVERSATION_ID


def test_a_new_chat_whose_key_answer_was_lost_takes_that_key_from_x(dm_desk):
    desk = dm_desk
    desk.x.answers_lost["add_conversation_keys"] = 1  # X takes the key; the answer is lost
    with pytest.raises(XUnavailable):
        send(desk.ports, desk.connection, in_chat(desk), "Hello in X Chat")
    assert desk.x.chat_messages == []

    sent = send(desk.ports, desk.connection, in_chat(desk), "Hello in X Chat")

    [(_, body)] = desk.x.chat_key_changes  # no second key: found in the history
    [message] = desk.x.chat_messages
    assert sent == [message.message_id]
    assert desk.chats_received() == ["Hello in X Chat"]
    assert desk.ports.chat_keys.latest_conversation_key(ACCOUNT_ID, SIGNED_CONVERSATION_ID)[
        0
    ] == str(body["conversation_key_version"])


def test_each_sealed_part_is_heard_before_it_is_sent_and_a_retry_sends_it_again(chat_desk):
    desk = chat_desk
    heard: list[SealedChatMessage] = []
    desk.x.answers_lost["send_chat_message"] = 1

    with pytest.raises(XUnavailable):
        send(
            desk.ports, desk.connection, desk.conversation(), "We are on it", on_sealed=heard.append
        )
    [sealed] = heard
    assert desk.x.chat_messages[-1].message_id == sealed.message_id  # X has it
    assert desk.ports.echoes.is_ours(ACCOUNT_ID, sealed.message_id)  # known before it went

    sent = send(desk.ports, desk.connection, desk.conversation(), "We are on it", sealed=sealed)

    assert sent == [sealed.message_id] and heard == [sealed]  # nothing sealed again
    assert desk.chats_received().count("We are on it") == 1


def test_a_customer_without_x_chat_keys_is_undeliverable_there(time):
    with new_chat_desk(time, jane_has_keys=False) as desk:
        desk.handle(desk.dm("Where is my parcel?"))

        with pytest.raises(XRequestRejected, match="has not set up X Chat"):
            send(desk.ports, desk.connection, in_chat(desk), "Hello")

    assert desk.x.chat_messages == []
    stored = desk.ports.credentials.x_of(desk.connection.user_id)
    assert stored is not None and stored.status == "connected"  # the account is fine


def test_an_account_without_its_x_chat_keys_is_undeliverable_there(chat_desk):
    desk = chat_desk
    desk.ports.x_chat_secrets.delete(desk.ports.settings.x_chat_secret_prefix + ACCOUNT_ID)

    with pytest.raises(XRequestRejected, match="no X Chat keys registered"):
        send(desk.ports, desk.connection, desk.conversation(), "Hello")


def test_a_refused_token_is_renewed_once_for_x_chat(chat_desk):
    desk = chat_desk
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_chat_message")

    sent = send(desk.ports, desk.connection, desk.conversation(), "We are on it")

    assert desk.x.refreshes == 1
    assert sent == [desk.x.chat_messages[-1].message_id]
    assert desk.chats_received()[-1] == "We are on it"
    refused, taken = desk.x.calls_to("send_chat_message")[-2:]
    assert refused["message_id"] == taken["message_id"]  # sealed once, sent again


def test_a_token_refused_again_marks_the_connection_broken(chat_desk):
    desk = chat_desk
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_chat_message", times=2)

    with pytest.raises(XConnectionBroken):
        send(desk.ports, desk.connection, desk.conversation(), "We are on it")

    stored = desk.ports.credentials.x_of(desk.connection.user_id)
    assert stored is not None and stored.status == "broken"


def test_a_rate_limit_in_x_chat_is_raised_for_a_retry(chat_desk, time):
    desk = chat_desk
    desk.x.fail(XRateLimited("slow", reset_at=time.now + timedelta(minutes=15)))
    before = len(desk.x.chat_messages)

    with pytest.raises(XRateLimited):
        send(desk.ports, desk.connection, desk.conversation(), "We are on it")

    assert len(desk.x.chat_messages) == before


def test_replies_go_the_way_the_customers_latest_message_came(desk, mention):
    assert channel_for(mention) == MessageChannel.POST
    assert desk.conversation.latest_channel is None  # from before X Chat
    assert channel_for(desk.conversation) == MessageChannel.DM
    chat = desk.conversation.model_copy(update={"latest_channel": MessageChannel.X_CHAT})
    assert channel_for(chat) == MessageChannel.X_CHAT


def test_a_reply_partly_sent_goes_on_where_its_first_parts_went(desk):
    chat = desk.conversation.model_copy(update={"latest_channel": MessageChannel.X_CHAT})
    started = ConversationMessage(
        conversation_id=chat.id,
        key="k",
        direction=MessageDirection.OUTBOUND,
        author="agent",
        text="Long",
        event_id="e",
        x_message_ids=["dm-1"],
        status=MessageStatus.QUEUED,
        channel=MessageChannel.DM,
        sent_at=NOW,
        updated_at=NOW,
    )

    assert channel_of(chat, started) == MessageChannel.DM
    assert channel_of(chat, started.model_copy(update={"x_message_ids": []})) == (
        MessageChannel.X_CHAT
    )


def test_a_reply_with_a_part_sealed_goes_on_in_x_chat(desk):
    # X may have taken the sealed part: it is sent again there, whatever came since.
    sealed = SealedChatMessage(
        message_id="m-1",
        chat_conversation_id="200:900",
        key_version="1",
        encoded_message_create_event="Y2lwaGVy",
        encoded_message_event_signature="c2ln",
    )
    started = ConversationMessage(
        conversation_id=desk.conversation.id,
        key="k",
        direction=MessageDirection.OUTBOUND,
        author="agent",
        text="Hello",
        event_id="e",
        status=MessageStatus.QUEUED,
        pending_chat_part=sealed,
        sent_at=NOW,
        updated_at=NOW,
    )

    assert channel_for(desk.conversation) == MessageChannel.DM
    assert channel_of(desk.conversation, started) == MessageChannel.X_CHAT
