"""The X client's X Chat calls: the paths, bodies and answers of X's API reference
(x-api/chat/*.mdx, openapi.json), the bearer token they go with, OAuth 1.0a credentials
refused before anything is sent, X's refusals as the client's errors, and no token in
an error."""

import traceback
from datetime import UTC, datetime

import pytest
import responses
from responses import matchers

from twittnow.clients.x import (
    BearerCredentials,
    ChatEvent,
    PublicKeyRecord,
    UserCredentials,
    XChatNeedsOAuth2,
    XClient,
    XConnectionBroken,
    XError,
    XMediaRefused,
    XNotFound,
    XRateLimited,
    XRequestRejected,
    XUnavailable,
    XUser,
)
from twittnow.x_app import AppCredentials

API = "https://api.x.com"
APP = AppCredentials("consumer-key", "consumer-SECRET", "client-id", "client-SECRET")
USER = BearerCredentials("oauth2-ACCESS-token-abc")
OAUTH1_USER = UserCredentials("access-token", "access-SECRET")
RECORD = {
    "public_key_version": "1796648494220",
    "public_key": "MFkwEwYH-identity",
    "signing_public_key": "signing",
    "identity_public_key_signature": "binding",
}
REGISTRATION = {
    "public_key": {
        "identity_public_key_signature": "binding",
        "public_key": "identity",
        "public_key_fingerprint": "fingerprint",
        "registration_method": "CustomPin",
        "signing_public_key": "signing",
        "signing_public_key_signature": "signing-signature",
    },
    "version": "1796648494220",
    "generate_version": True,
}


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return XClient(API, APP)


def bearer(call) -> str:
    return call.request.headers["Authorization"]


def shown(error: XError) -> str:
    return "".join(traceback.format_exception(error)) + error.message + error.detail


def test_public_keys_are_read_with_their_fields_and_incomplete_records_left_out(api, client):
    api.get(
        f"{API}/2/users/200/public_keys",
        match=[
            matchers.query_param_matcher(
                {
                    "public_key.fields": "public_key_version,public_key,signing_public_key,"
                    "identity_public_key_signature"
                }
            )
        ],
        json={"data": [RECORD, {"public_key_version": "1", "public_key": "no signing key"}]},
    )

    assert client.public_keys(USER, "200") == [PublicKeyRecord(**RECORD)]
    assert bearer(api.calls[0]) == f"Bearer {USER.access_token}"


def test_a_user_without_keys_has_none(api, client):
    api.get(f"{API}/2/users/200/public_keys", json={"meta": {"result_count": 0}})

    assert client.public_keys(USER, "200") == []


def test_registering_posts_the_xdk_payload_and_answers_xs_version(api, client):
    api.post(
        f"{API}/2/users/900/public_keys",
        match=[matchers.json_params_matcher(REGISTRATION)],
        json={"data": {"public_key_version": "1796648499999", "juicebox_config": {}}},
    )

    assert client.add_public_key(USER, "900", REGISTRATION) == "1796648499999"


def test_a_registration_x_answers_without_a_version_is_under_the_payloads(api, client):
    api.post(f"{API}/2/users/900/public_keys", json={"data": {}})

    assert client.add_public_key(USER, "900", REGISTRATION) == "1796648494220"


def test_a_rate_limited_registration_says_until_when(api, client):
    api.post(
        f"{API}/2/users/900/public_keys",
        status=429,
        headers={"x-rate-limit-reset": "1796648600"},
        json={"title": "Too Many Requests", "detail": "Too Many Requests"},
    )

    with pytest.raises(XRateLimited) as limited:
        client.add_public_key(USER, "900", REGISTRATION)
    assert limited.value.reset_at == datetime.fromtimestamp(1796648600, tz=UTC)


def test_conversation_keys_go_to_the_recipient_and_x_answers_the_canonical_id(api, client):
    body = {"conversation_key_version": "1", "conversation_participant_keys": []}
    api.post(
        f"{API}/2/chat/conversations/200/keys",
        match=[matchers.json_params_matcher(body)],
        json={"data": {"conversation_id": "200-900", "sequence_id": "7001"}},
    )

    assert client.add_conversation_keys(USER, "200", body) == ("200-900", "7001")


def test_a_message_is_sent_to_the_hyphenated_conversation(api, client):
    api.post(
        f"{API}/2/chat/conversations/200-900/messages",
        match=[
            matchers.json_params_matcher(
                {
                    "message_id": "uuid-1",
                    "encoded_message_create_event": "create",
                    "encoded_message_event_signature": "signature",
                }
            )
        ],
        status=201,
        json={"data": {"encoded_message_event": "x-event"}},
    )

    assert client.send_chat_message(USER, "200:900", "uuid-1", "create", "signature") == "x-event"


def test_a_conversations_events_come_a_page_at_a_time_with_its_key_changes(api, client):
    fields = "id,encoded_event,sender_id,conversation_id,created_at"
    api.get(
        f"{API}/2/chat/conversations/200-900/events",
        match=[
            matchers.query_param_matcher(
                {"max_results": "100", "chat_message_event.fields": fields}
            )
        ],
        json={
            "data": [
                {"id": "7002", "encoded_event": "message", "sender_id": "200"},
                {"id": "7003"},  # no event: left out
            ],
            "meta": {"next_token": "next", "conversation_key_events": ["key-change"]},
        },
    )
    api.get(
        f"{API}/2/chat/conversations/200-900/events",
        match=[
            matchers.query_param_matcher(
                {
                    "max_results": "100",
                    "chat_message_event.fields": fields,
                    "pagination_token": "next",
                }
            )
        ],
        json={"meta": {"result_count": 0}},
    )

    first = client.conversation_events(USER, "200:900")
    last = client.conversation_events(USER, "200:900", first.next_token)

    assert first.events == [ChatEvent("7002", "message", "200")]
    assert first.key_change_events == ["key-change"]
    assert first.next_token == "next"
    assert (last.events, last.key_change_events, last.next_token) == ([], [], None)


def test_chat_media_is_downloaded_up_to_the_limit(api, client):
    api.get(f"{API}/2/chat/media/200-900/abc123", body=b"encrypted")
    api.get(f"{API}/2/chat/media/200-900/big", body=b"x" * 11)

    assert client.download_chat_media(USER, "200:900", "abc123", max_bytes=10) == b"encrypted"
    with pytest.raises(XMediaRefused):
        client.download_chat_media(USER, "200:900", "big", max_bytes=10)


def test_a_user_is_read_by_id_with_their_name(api, client):
    api.get(f"{API}/2/users/200", json={"data": {"id": "200", "username": "jane", "name": "J"}})
    api.get(f"{API}/2/users/300", json={"data": {"id": "300", "username": "joe"}})

    assert client.get_user(USER, "200") == XUser("200", "jane", "J")
    assert client.get_user(USER, "300") == XUser("300", "joe", "")


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.public_keys(OAUTH1_USER, "200"),
        lambda client: client.add_public_key(OAUTH1_USER, "900", REGISTRATION),
        lambda client: client.add_conversation_keys(OAUTH1_USER, "200", {}),
        lambda client: client.send_chat_message(OAUTH1_USER, "200:900", "m", "c", "s"),
        lambda client: client.conversation_events(OAUTH1_USER, "200:900"),
        lambda client: client.download_chat_media(OAUTH1_USER, "200:900", "abc"),
    ],
)
def test_oauth1_credentials_are_refused_before_anything_is_sent(api, client, call):
    with pytest.raises(XChatNeedsOAuth2, match="connect it again"):
        call(client)
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, XConnectionBroken),
        (400, XRequestRejected),
        (404, XNotFound),
        (503, XUnavailable),
    ],
)
def test_xs_refusals_are_the_clients_errors_without_the_token(api, client, status, error):
    api.post(
        f"{API}/2/chat/conversations/200-900/messages",
        status=status,
        json={"title": "Refused", "detail": f"token {USER.access_token} refused"},
    )

    with pytest.raises(error) as refused:
        client.send_chat_message(USER, "200:900", "uuid-1", "create", "signature")
    assert USER.access_token not in shown(refused.value)


def test_an_id_of_nothing_is_refused_before_any_call(api, client):
    with pytest.raises(XNotFound):
        client.download_chat_media(USER, "200:900", "..")
    assert len(api.calls) == 0
