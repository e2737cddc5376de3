"""The X client's OAuth 2.0: the authorize URL, the code exchange (HTTP Basic with the
app's client, the form X's token endpoint takes), GET /2/users/me, calls made with a
connection's bearer token, and no token, code, verifier or client secret in an error or
repr."""

import base64
import json
import traceback
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from twittnow import clock
from twittnow.clients.x import (
    OAUTH2_SCOPES,
    BearerCredentials,
    OAuth2Tokens,
    WebhookApi,
    XClient,
    XConnectionBroken,
    XError,
    XRequestRejected,
    XUnavailable,
    XUser,
)
from twittnow.clients.x.transport import Bearer
from twittnow.x_app import AppCredentials

API = "https://api.x.com"
AUTHORIZE = "https://x.com/i/oauth2/authorize"
APP = AppCredentials(
    "consumer-key-123", "consumer-secret-XYZ", "client-id-456", "client-SECRET-789"
)
USER = BearerCredentials("oauth2-ACCESS-token-abc")
CODE, VERIFIER = "the-CODE-123", "the-VERIFIER-" + "v" * 60
REDIRECT = "https://api.twittnow.test/twitter-callback"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TOKEN_ANSWER = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "oauth2-ACCESS-new",
    "scope": " ".join(OAUTH2_SCOPES),
    "refresh_token": "oauth2-REFRESH-new",
}


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return XClient(API, APP, oauth2_authorize_url=AUTHORIZE)


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def shown(error: XError) -> str:
    assert error.__cause__ is None and error.__context__ is None
    return "".join(traceback.format_exception_only(error)) + error.message + error.detail


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_authorize_url_asks_for_a_code_with_pkce_s256_and_the_scopes(client):
    url = client.oauth2_authorize_url(REDIRECT, "the-state", "the-challenge")

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE
    assert "%20" in parts.query and "+" not in parts.query  # the scopes' spaces
    assert {name: value for name, [value] in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": "client-id-456",
        "redirect_uri": REDIRECT,
        "scope": "tweet.read tweet.write users.read dm.read dm.write media.write offline.access",
        "state": "the-state",
        "code_challenge": "the-challenge",
        "code_challenge_method": "S256",
    }


def test_without_an_oauth2_client_nothing_is_started_or_sent(api):
    client = XClient(API, AppCredentials("consumer-key-123", "consumer-secret-XYZ"))

    for call in (
        lambda: client.oauth2_authorize_url(REDIRECT, "s", "c"),
        lambda: client.exchange_code(CODE, VERIFIER, REDIRECT),
    ):
        with pytest.raises(XError, match="X_CLIENT_ID and X_CLIENT_SECRET"):
            call()
    assert len(api.calls) == 0


def test_the_code_is_exchanged_with_basic_auth_and_the_verifier(api, client):
    api.post(
        f"{API}/2/oauth2/token",
        json=TOKEN_ANSWER,
        match=[
            matchers.header_matcher(
                {
                    "Authorization": basic("client-id-456", "client-SECRET-789"),
                    "Content-Type": "application/x-www-form-urlencoded",
                }
            ),
            matchers.urlencoded_params_matcher(
                {
                    "grant_type": "authorization_code",
                    "code": CODE,
                    "redirect_uri": REDIRECT,
                    "code_verifier": VERIFIER,
                }
            ),
        ],
    )

    tokens = client.exchange_code(CODE, VERIFIER, REDIRECT)

    assert tokens == OAuth2Tokens(
        access_token="oauth2-ACCESS-new",
        refresh_token="oauth2-REFRESH-new",
        expires_at=NOW + timedelta(hours=2),
        scope=" ".join(OAUTH2_SCOPES),
    )
    assert "client_id" not in api.calls[0].request.body  # the client authenticates in Basic
    assert "oauth2-ACCESS-new" not in repr(tokens) and "oauth2-REFRESH-new" not in repr(tokens)


@pytest.mark.parametrize(
    "body",
    [
        {
            "error": "invalid_request",
            "error_description": "Value passed for the authorization code was invalid.",
        },
        {"error": "invalid_grant", "error_description": f"code {CODE} verifier {VERIFIER}"},
    ],
)
def test_a_code_x_refuses_is_a_rejected_request_that_names_no_secret(api, client, body):
    api.post(f"{API}/2/oauth2/token", status=400, json=body)

    with pytest.raises(XRequestRejected) as refused:
        client.exchange_code(CODE, VERIFIER, REDIRECT)

    text = shown(refused.value)
    assert "wrong, expired or already used" in text
    for secret in (CODE, VERIFIER, APP.client_secret, APP.consumer_secret):
        assert secret not in text


def test_the_apps_client_x_refuses_is_not_the_codes_fault(api, client):
    api.post(
        f"{API}/2/oauth2/token",
        status=401,
        json={
            "error": "unauthorized_client",
            "error_description": "Missing valid authorization header",
        },
    )

    with pytest.raises(XError) as refused:
        client.exchange_code(CODE, VERIFIER, REDIRECT)

    assert type(refused.value) is XError and not refused.value.retryable
    assert "X_CLIENT_ID, X_CLIENT_SECRET" in refused.value.message
    assert APP.client_secret not in shown(refused.value)


@pytest.mark.parametrize(
    "answer",
    [
        {**TOKEN_ANSWER, "token_type": "mac"},
        {key: value for key, value in TOKEN_ANSWER.items() if key != "refresh_token"},
        {key: value for key, value in TOKEN_ANSWER.items() if key != "expires_in"},
        {"data": "nothing"},
    ],
)
def test_a_token_answer_x_never_gives_is_unavailable(api, client, answer):
    api.post(f"{API}/2/oauth2/token", json=answer)

    with pytest.raises(XUnavailable) as failure:
        client.exchange_code(CODE, VERIFIER, REDIRECT)

    assert TOKEN_ANSWER["access_token"] not in shown(failure.value)


def test_x_down_at_the_exchange_is_unavailable_and_names_no_secret(api, client):
    api.post(
        f"{API}/2/oauth2/token",
        body=requests.ConnectionError(f"failed {CODE} {VERIFIER} {APP.client_secret}"),
    )

    with pytest.raises(XUnavailable) as failure:
        client.exchange_code(CODE, VERIFIER, REDIRECT)

    for secret in (CODE, VERIFIER, APP.client_secret):
        assert secret not in shown(failure.value)


def test_me_reads_the_account_with_the_bearer_token(api, client):
    api.get(
        f"{API}/2/users/me",
        json={"data": {"id": "900", "username": "acme_support", "name": "Acme"}},
        match=[matchers.header_matcher({"Authorization": f"Bearer {USER.access_token}"})],
    )

    assert client.me(USER) == XUser("900", "acme_support")


def test_a_bearer_token_x_refuses_breaks_the_connection_and_is_not_shown(api, client):
    api.post(
        f"{API}/2/dm_conversations/with/42/messages",
        status=401,
        json={
            "title": "Unauthorized",
            "detail": f"bad token {USER.access_token}",
            "type": "about:blank",
        },
    )

    with pytest.raises(XConnectionBroken) as failure:
        client.send_dm(USER, "42", "hi")

    assert USER.access_token not in shown(failure.value)
    assert "***" in failure.value.message


def test_every_call_of_an_oauth2_connection_sends_its_bearer_token(api, client):
    bearer = matchers.header_matcher({"Authorization": f"Bearer {USER.access_token}"})
    api.post(
        f"{API}/2/dm_conversations/with/42/messages",
        json={"data": {"dm_conversation_id": "42-900", "dm_event_id": "dm-1"}},
        match=[bearer, matchers.json_params_matcher({"text": "hi"})],
    )
    api.post(f"{API}/2/tweets", json={"data": {"id": "post-1", "text": "hi"}}, match=[bearer])
    api.post(
        f"{API}/2/account_activity/webhooks/w1/subscriptions/all",
        json={"data": {"subscribed": True}},
        match=[bearer],
    )
    api.get(
        "https://ton.twitter.com/1.1/ton/data/dm/1/2/photo.jpg", body=b"\xff\xd8", match=[bearer]
    )

    assert client.send_dm(USER, "42", "hi") == "dm-1"
    assert client.reply(USER, "7", "hi") == "post-1"
    assert client.subscribe(WebhookApi.ACCOUNT_ACTIVITY, "w1", "900", USER) == "900"
    media = client.download_media(USER, "https://ton.twitter.com/1.1/ton/data/dm/1/2/photo.jpg")
    assert media.data == b"\xff\xd8"
    for call in api.calls:
        assert not call.request.headers["Authorization"].startswith("OAuth ")


def test_credentials_and_the_bearer_auth_show_no_token():
    text = repr(USER) + repr(Bearer(USER.access_token)) + repr(APP)
    assert USER.access_token not in text and APP.client_secret not in text
    assert "client-id-456" in repr(APP)  # the client id is not a secret
    assert json.dumps(APP.client_id) in json.dumps({"id": APP.client_id})


REFRESH_TOKEN = "oauth2-REFRESH-old"


def test_a_refresh_sends_the_refresh_token_with_basic_auth_and_answers_the_next_pair(api, client):
    api.post(
        f"{API}/2/oauth2/token",
        json=TOKEN_ANSWER,
        match=[
            matchers.header_matcher({"Authorization": basic("client-id-456", "client-SECRET-789")}),
            matchers.urlencoded_params_matcher(
                {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
            ),
        ],
    )

    tokens = client.refresh_oauth2(REFRESH_TOKEN)

    assert tokens == OAuth2Tokens(
        access_token="oauth2-ACCESS-new",
        refresh_token="oauth2-REFRESH-new",
        expires_at=NOW + timedelta(hours=2),
        scope=" ".join(OAUTH2_SCOPES),
    )


@pytest.mark.parametrize("error", ["invalid_request", "invalid_grant"])
def test_a_refresh_x_refuses_is_a_rejected_request_that_names_no_secret(api, client, error):
    api.post(
        f"{API}/2/oauth2/token",
        status=400,
        json={"error": error, "error_description": f"refresh token {REFRESH_TOKEN} invalid"},
    )

    with pytest.raises(XRequestRejected) as refused:
        client.refresh_oauth2(REFRESH_TOKEN)

    text = shown(refused.value)
    assert "revoked or already used" in text
    for secret in (REFRESH_TOKEN, APP.client_secret):
        assert secret not in text


def test_the_apps_client_x_refuses_at_a_refresh_is_not_the_tokens_fault(api, client):
    api.post(f"{API}/2/oauth2/token", status=401, json={"error": "unauthorized_client"})

    with pytest.raises(XError) as refused:
        client.refresh_oauth2(REFRESH_TOKEN)

    assert type(refused.value) is XError
    assert "X_CLIENT_ID, X_CLIENT_SECRET" in refused.value.message
