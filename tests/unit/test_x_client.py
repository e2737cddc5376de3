"""The X client: OAuth 1.0a signatures, the bearer token, each endpoint, the error mapping,
and no secret in any error or repr."""

import base64
import hashlib
import hmac
import re
import traceback
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import pytest
import requests
import responses
from responses import matchers

from twittnow.clients import x
from twittnow.clients.x import (
    AccessToken,
    RequestToken,
    UserCredentials,
    Webhook,
    WebhookApi,
    XClient,
    XConnectionBroken,
    XError,
    XNotFound,
    XRateLimited,
    XReplyNotAllowed,
    XRequestRejected,
    XUnavailable,
)
from twittnow.x_app import AppCredentials

API = "https://api.x.com"
APP = AppCredentials("consumer-key-123", "consumer-secret-XYZ")
USER = UserCredentials("1500-access-token-abc", "access-secret-DEF")
BEARER = "AAAA%2Fbearer%3Dtoken"
WEBHOOK_ID = "1146654567674912769"


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return XClient(API, APP)


@pytest.fixture
def bearer(api):
    """X's oauth2/token, answering the app's bearer token."""
    return api.post(
        f"{API}/oauth2/token",
        json={"token_type": "bearer", "access_token": BEARER},
        match=[matchers.urlencoded_params_matcher({"grant_type": "client_credentials"})],
    )


# ---------------------------------------------------------------- an OAuth 1.0a verifier


def oauth_parameters(request) -> dict[str, str]:
    """The oauth_* parameters of a request's `Authorization: OAuth ...` header."""
    header = request.headers["Authorization"]
    assert header.startswith("OAuth ")
    pairs = re.findall(r'(\w+)="([^"]*)"', header)
    assert len(pairs) == header.count("=")  # every parameter is key="value"
    return {name: unquote(value) for name, value in pairs}


def hmac_sha1_signature(
    method: str, url: str, parameters: dict[str, str], consumer_secret: str, token_secret: str
) -> str:
    """RFC 5849 section 3.4, written out: the signature X computes on its side."""

    def encode(value: str) -> str:
        return quote(value, safe="~")

    pairs = sorted((encode(k), encode(v)) for k, v in parameters.items() if k != "oauth_signature")
    parameter_string = "&".join(f"{k}={v}" for k, v in pairs)
    base_string = "&".join((method, encode(url), encode(parameter_string)))
    key = f"{encode(consumer_secret)}&{encode(token_secret)}"
    return base64.b64encode(
        hmac.new(key.encode(), base_string.encode(), hashlib.sha1).digest()
    ).decode()


def test_the_verifier_reproduces_the_signature_in_x_documentation():
    # fundamentals/authentication/oauth-1-0a/creating-a-signature.mdx
    parameters = {
        "status": "Hello Ladies + Gentlemen, a signed OAuth request!",
        "include_entities": "true",
        "oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog",
        "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "1318622958",
        "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "oauth_version": "1.0",
    }

    signature = hmac_sha1_signature(
        "POST",
        "https://api.x.com/1.1/statuses/update.json",
        parameters,
        "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    )

    assert signature == "Ls93hJiZbQ3akF3HF3x1Bz8/zU4="


def assert_signed(request, *, token: str | None, token_secret: str = "", **expected) -> dict:
    """The request carries a valid HMAC-SHA1 OAuth 1.0a header as the app (and `token`)."""
    parameters = oauth_parameters(request)
    assert parameters["oauth_consumer_key"] == APP.consumer_key
    assert parameters["oauth_signature_method"] == "HMAC-SHA1"
    assert parameters["oauth_version"] == "1.0"
    assert parameters["oauth_timestamp"].isdigit()
    assert abs(int(parameters["oauth_timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert len(parameters["oauth_nonce"]) >= 16
    assert parameters.get("oauth_token") == token
    for name, value in expected.items():
        assert parameters[name] == value
    url = request.url.partition("?")[0]
    assert parameters["oauth_signature"] == hmac_sha1_signature(
        request.method, url, parameters, APP.consumer_secret, token_secret
    )
    return parameters


def shown(error: XError) -> str:
    """Everything an error can put in a log: its text, detail, and any chained exception."""
    assert error.__cause__ is None and error.__context__ is None
    return "".join(traceback.format_exception_only(error)) + error.message + error.detail


# ---------------------------------------------------------------- 3-legged OAuth


def test_a_request_token_is_asked_for_with_the_callback_signed_by_the_app(api, client):
    api.post(
        f"{API}/oauth/request_token",
        body="oauth_token=req-token&oauth_token_secret=req-secret&oauth_callback_confirmed=true",
        content_type="text/html",
    )

    token = client.request_token("https://api.example.com/twitter-callback?tenant=1")

    assert token == RequestToken("req-token", "req-secret")
    (call,) = api.calls
    assert_signed(
        call.request, token=None, oauth_callback="https://api.example.com/twitter-callback?tenant=1"
    )
    assert call.request.req_kwargs["timeout"] == (10.0, 10.0)


def test_an_unconfirmed_callback_is_rejected(api, client):
    api.post(f"{API}/oauth/request_token", body="oauth_token=t&oauth_callback_confirmed=false")

    with pytest.raises(XRequestRejected, match="callback"):
        client.request_token("https://api.example.com/twitter-callback")


def test_a_refused_callback_url_is_rejected_with_x_message(api, client):
    api.post(
        f"{API}/oauth/request_token",
        status=403,
        json={"errors": [{"code": 415, "message": "Callback URL not approved for this client."}]},
    )

    with pytest.raises(XRequestRejected) as failure:
        client.request_token("https://elsewhere.example.com/cb")

    assert "Callback URL not approved" in failure.value.message
    assert failure.value.detail == "415"


def test_the_authorize_url_is_on_the_base_url(client):
    assert client.authorize_url("a b&c") == f"{API}/oauth/authorize?oauth_token=a+b%26c"
    assert XClient(f"{API}/", APP).authorize_url("t") == f"{API}/oauth/authorize?oauth_token=t"


def test_the_verifier_is_exchanged_for_the_account_and_its_access_token(api, client):
    api.post(
        f"{API}/oauth/access_token",
        body=(
            "oauth_token=1500-access&oauth_token_secret=access-secret&user_id=1500&screen_name=acme"
        ),
    )

    account = client.access_token(RequestToken("req-token", "req-secret"), "the-verifier")

    assert account == AccessToken("1500", "acme", UserCredentials("1500-access", "access-secret"))
    assert_signed(
        api.calls[0].request,
        token="req-token",
        token_secret="req-secret",
        oauth_verifier="the-verifier",
    )


def test_a_bad_verifier_is_a_rejected_request_that_hides_the_token_secret(api, client):
    api.post(
        f"{API}/oauth/access_token",
        status=401,
        body="Error processing your OAuth request: Invalid oauth_verifier parameter (req-secret)",
    )

    with pytest.raises(XRequestRejected) as failure:
        client.access_token(RequestToken("req-token", "req-secret"), "wrong")

    assert failure.value.status_code == 401
    assert "req-secret" not in shown(failure.value)


# ---------------------------------------------------------------- as a connected account


def test_a_dm_is_sent_as_the_account(api, client):
    api.post(
        f"{API}/2/dm_conversations/with/2244994945/messages",
        status=201,
        json={
            "data": {"dm_conversation_id": "1500-2244994945", "dm_event_id": "1582103724607971332"}
        },
        match=[matchers.json_params_matcher({"text": "Your case is CS0001001"})],
    )

    assert client.send_dm(USER, "2244994945", "Your case is CS0001001") == "1582103724607971332"

    # The JSON body is not part of an OAuth 1.0a signature.
    assert_signed(
        api.calls[0].request, token=USER.access_token, token_secret=USER.access_token_secret
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda c, x_id: c.send_dm(USER, x_id, "Hello"),
        lambda c, x_id: c.validate_webhook(x_id),
        lambda c, x_id: c.delete_webhook(x_id),
        lambda c, x_id: c.subscribe(WebhookApi.ACCOUNT_ACTIVITY, x_id, "2244994945", USER),
    ],
    ids=["send_dm", "validate_webhook", "delete_webhook", "subscribe"],
)
@pytest.mark.parametrize("x_id", ["..", ".", ""])
def test_an_id_that_would_resolve_to_another_path_is_not_sent(api, client, call, x_id):
    # requests turns ".../with/../messages" into ".../messages".
    with pytest.raises(XNotFound):
        call(client, x_id)
    assert not api.calls


def test_an_id_with_a_slash_stays_one_path_segment(api, client):
    api.post(
        f"{API}/2/dm_conversations/with/..%2Fx/messages",
        status=201,
        json={"data": {"dm_event_id": "1"}},
    )

    assert client.send_dm(USER, "../x", "Hello") == "1"


def test_a_reply_is_posted_as_the_account(api, client):
    api.post(
        f"{API}/2/tweets",
        status=201,
        json={
            "data": {
                "id": "1445880548472328192",
                "text": "@jane on it",
                "edit_history_tweet_ids": [],
            }
        },
        match=[
            matchers.json_params_matcher(
                {"text": "@jane on it", "reply": {"in_reply_to_tweet_id": "1445880000000000000"}}
            )
        ],
    )

    assert client.reply(USER, "1445880000000000000", "@jane on it") == "1445880548472328192"
    assert_signed(
        api.calls[0].request, token=USER.access_token, token_secret=USER.access_token_secret
    )


def test_an_answer_without_the_expected_id_is_unavailable(api, client):
    api.post(f"{API}/2/tweets", status=201, json={"data": {"text": "no id"}})

    with pytest.raises(XUnavailable, match="id"):
        client.reply(USER, "1", "hi")


# ---------------------------------------------------------------- the error mapping


NOT_SUMMONED = (
    "Reply to this conversation is not allowed because you have not been mentioned or "
    "otherwise engaged by the author of the post you are replying to."
)


def problem(status: int, detail: str, type_: str = "about:blank") -> dict:
    return {"title": "Problem", "detail": detail, "type": type_, "status": status}


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (401, problem(401, "Unauthorized"), XConnectionBroken),
        (
            401,
            {"errors": [{"code": 89, "message": "Invalid or expired token."}]},
            XConnectionBroken,
        ),
        (
            403,
            problem(
                403,
                "Your client app is not configured with the appropriate oauth1 app "
                "permissions for this endpoint.",
                "https://api.x.com/2/problems/oauth1-permissions",
            ),
            XConnectionBroken,
        ),
        (
            403,
            {"errors": [{"code": 326, "message": "This account is temporarily locked."}]},
            XConnectionBroken,
        ),
        (
            403,
            problem(403, "You are not allowed to create a Tweet with duplicate content."),
            XRequestRejected,
        ),
        # The summoned-reply rule (x-api/posts/manage-tweets/integrate.mdx) refuses the
        # reply, not the account: never a broken connection, whatever the problem type.
        (403, problem(403, NOT_SUMMONED), XReplyNotAllowed),
        (
            403,
            problem(403, NOT_SUMMONED, "https://api.x.com/2/problems/client-forbidden"),
            XReplyNotAllowed,
        ),
        (
            400,
            problem(
                400,
                "One or more parameters to your request was invalid.",
                "https://api.x.com/2/problems/invalid-request",
            ),
            XRequestRejected,
        ),
        (
            404,
            problem(
                404, "Could not find the post.", "https://api.x.com/2/problems/resource-not-found"
            ),
            XNotFound,
        ),
        (500, problem(500, "Internal error"), XUnavailable),
        (503, {}, XUnavailable),
        (502, "<html>Bad Gateway</html>", XUnavailable),
        (302, "", XUnavailable),
    ],
)
def test_answers_of_x_become_typed_errors(api, client, status, body, error_class):
    if isinstance(body, str):
        api.post(f"{API}/2/tweets", status=status, body=body, content_type="text/html")
    else:
        api.post(f"{API}/2/tweets", status=status, json=body)

    with pytest.raises(XError) as failure:
        client.reply(USER, "1", "hi")

    error = failure.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message.startswith(("X refused to post a reply", "X failed to post a reply"))
    assert error.retryable is (error_class is XUnavailable)
    if isinstance(body, dict) and body.get("detail"):
        assert body["detail"] in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_refusals_of_app_calls_are_rejections_not_broken_connections(api, client, bearer, status):
    api.get(
        f"{API}/2/webhooks",
        status=status,
        json=problem(status, "Forbidden", "https://api.x.com/2/problems/client-forbidden"),
    )

    with pytest.raises(XRequestRejected):
        client.list_webhooks()


def test_a_rate_limit_says_until_when(api, client):
    reset = int((datetime.now(UTC) + timedelta(minutes=12)).timestamp())
    api.post(
        f"{API}/2/dm_conversations/with/42/messages",
        status=429,
        headers={
            "x-rate-limit-limit": "200",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
        json={
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
    )

    with pytest.raises(XRateLimited) as failure:
        client.send_dm(USER, "42", "hello")

    error = failure.value
    assert error.reset_at == datetime.fromtimestamp(reset, tz=UTC)
    assert error.reset_at.tzinfo is not None
    assert error.status_code == 429
    assert error.retryable
    assert error.reset_at.isoformat() in error.message


def test_a_rate_limit_without_a_reset_header_waits_a_minute(api, client):
    api.post(
        f"{API}/2/tweets",
        status=429,
        json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
    )
    before = datetime.now(UTC)

    with pytest.raises(XRateLimited) as failure:
        client.reply(USER, "1", "hi")

    assert (
        before + timedelta(seconds=59)
        <= failure.value.reset_at
        <= datetime.now(UTC) + timedelta(seconds=61)
    )


@pytest.mark.parametrize(
    "exception", [requests.ConnectTimeout, requests.ReadTimeout, requests.ConnectionError]
)
def test_timeouts_and_connection_failures_are_unavailable(api, exception):
    api.post(f"{API}/2/tweets", body=exception(f"failed; secret {USER.access_token_secret}"))

    with pytest.raises(XUnavailable) as failure:
        XClient(API, APP, timeout=2.5).reply(USER, "1", "hi")

    error = failure.value
    assert error.retryable and error.status_code is None
    assert "post a reply" in error.message
    assert error.__cause__ is None and error.__context__ is None
    assert USER.access_token_secret not in error.detail
    assert api.calls[0].request.req_kwargs["timeout"] == (2.5, 2.5)
    if exception is not requests.ConnectionError:
        assert "2.5 seconds" in error.message


def test_no_secret_appears_in_errors_or_reprs(api, client, bearer):
    # What a misbehaving server or proxy could echo back of what each call sent.
    as_user = f"{APP.consumer_secret} {USER.access_token} {USER.access_token_secret}"
    as_app = f"{APP.consumer_secret} {BEARER}"
    api.post(f"{API}/2/tweets", status=400, json=problem(400, f"bad request {as_user}"))
    api.get(f"{API}/2/webhooks", status=400, json=problem(400, f"bad request {as_app}"))

    errors = []
    for call in (lambda: client.reply(USER, "1", "hi"), client.list_webhooks):
        with pytest.raises(XError) as failure:
            call()
        errors.append(failure.value)

    text = " ".join(shown(error) for error in errors)
    text += repr(APP) + repr(USER) + repr(RequestToken("t", "request-secret"))
    text += repr(AccessToken("1", "acme", USER))
    for secret in (
        APP.consumer_secret,
        USER.access_token,
        USER.access_token_secret,
        BEARER,
        "request-secret",
    ):
        assert secret not in text
    assert "***" in errors[0].message


# ---------------------------------------------------------------- webhooks, as the app


def test_app_calls_use_one_bearer_token_fetched_with_the_consumer_credentials(api, client, bearer):
    created = {
        "id": WEBHOOK_ID,
        "url": "https://hooks.example.com/x",
        "valid": True,
        "created_at": "2025-01-15T12:00:00.000Z",
    }
    api.post(
        f"{API}/2/webhooks",
        json={"data": created},
        match=[matchers.json_params_matcher({"url": "https://hooks.example.com/x"})],
    )
    api.get(f"{API}/2/webhooks", json={"data": [created], "meta": {"result_count": 1}})

    webhook = client.register_webhook("https://hooks.example.com/x")
    listed = client.list_webhooks()

    assert webhook == Webhook(
        WEBHOOK_ID, "https://hooks.example.com/x", True, "2025-01-15T12:00:00.000Z"
    )
    assert listed == [webhook]
    assert bearer.call_count == 1
    token_request = api.calls[0].request
    basic = base64.b64encode(f"{APP.consumer_key}:{APP.consumer_secret}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {basic}"
    assert (
        token_request.headers["Content-Type"] == "application/x-www-form-urlencoded;charset=UTF-8"
    )
    for call in api.calls[1:]:
        assert call.request.headers["Authorization"] == f"Bearer {BEARER}"


def test_a_refused_bearer_token_is_fetched_again_on_the_next_call(api, client, bearer):
    api.get(f"{API}/2/webhooks", status=401, json=problem(401, "Unauthorized"))
    api.get(f"{API}/2/webhooks", json={"data": [], "meta": {"result_count": 0}})

    with pytest.raises(XRequestRejected):
        client.list_webhooks()
    assert client.list_webhooks() == []

    assert bearer.call_count == 2


def test_wrong_consumer_credentials_are_rejected(api, client):
    api.post(
        f"{API}/oauth2/token",
        status=403,
        json={
            "errors": [
                {
                    "code": 99,
                    "label": "authenticity_token_error",
                    "message": "Unable to verify your credentials",
                }
            ]
        },
    )

    with pytest.raises(XRequestRejected, match="Unable to verify your credentials"):
        client.list_webhooks()


def test_a_failed_crc_check_on_registration_is_rejected(api, client, bearer):
    api.post(
        f"{API}/2/webhooks",
        status=400,
        json={
            "title": "Invalid Request",
            "detail": "CrcValidationFailed: the webhook did not answer the CRC",
            "type": "https://api.x.com/2/problems/invalid-request",
            "reason": "CrcValidationFailed",
        },
    )

    with pytest.raises(XRequestRejected) as failure:
        client.register_webhook("https://hooks.example.com/x")

    assert failure.value.detail == "CrcValidationFailed"


def test_validating_runs_the_crc_again_and_a_failure_is_rejected(api, client, bearer):
    api.put(f"{API}/2/webhooks/{WEBHOOK_ID}", json={"data": {"valid": True}})
    api.put(f"{API}/2/webhooks/{WEBHOOK_ID}", json={"data": {"valid": False}})

    assert client.validate_webhook(WEBHOOK_ID) is None
    with pytest.raises(XRequestRejected, match="CRC"):
        client.validate_webhook(WEBHOOK_ID)


def test_a_webhook_is_deleted(api, client, bearer):
    api.delete(f"{API}/2/webhooks/{WEBHOOK_ID}", json={"data": {"deleted": True}})

    assert client.delete_webhook(WEBHOOK_ID) is None
    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {BEARER}"


# ---------------------------------------------------------------- subscriptions


def test_an_account_activity_subscription_is_made_as_the_account(api, client):
    api.post(
        f"{API}/2/account_activity/webhooks/{WEBHOOK_ID}/subscriptions/all",
        json={"data": {"subscribed": True}},
    )

    subscription = client.subscribe(WebhookApi.ACCOUNT_ACTIVITY, WEBHOOK_ID, "1500", USER)

    assert subscription == "1500"
    assert_signed(
        api.calls[0].request, token=USER.access_token, token_secret=USER.access_token_secret
    )


def test_an_activity_subscription_is_one_per_event_type_made_as_the_account(api, client):
    for number, event_type in enumerate(x.ACTIVITY_EVENT_TYPES):
        answer = {
            "subscription_id": f"90{number}",
            "event_type": event_type,
            "filter": {"user_id": "1500"},
            "webhook_id": WEBHOOK_ID,
        }
        # The API reference nests the subscription; the quickstart does not.
        data = (
            {"subscription": answer, "total_subscriptions_for_instance_id": number + 1}
            if number
            else answer
        )
        api.post(
            f"{API}/2/activity/subscriptions",
            json={"data": data, "meta": {"total_subscriptions": number + 1}},
            match=[
                matchers.json_params_matcher(
                    {
                        "event_type": event_type,
                        "filter": {"user_id": "1500"},
                        "tag": "twittnow",
                        "webhook_id": WEBHOOK_ID,
                    }
                )
            ],
        )

    subscription = client.subscribe(WebhookApi.ACTIVITY, WEBHOOK_ID, "1500", USER)

    assert subscription == "900,901,902,903,904,905"
    assert x.ACTIVITY_EVENT_TYPES == (
        "dm.received",
        "dm.sent",
        "post.mention.create",
        "post.reply.create",
        "chat.received",
        "chat.sent",
    )
    for call in api.calls:
        assert_signed(call.request, token=USER.access_token, token_secret=USER.access_token_secret)


def test_subscribing_an_account_subscribed_already_is_fine(api, client, bearer):
    api.post(
        f"{API}/2/account_activity/webhooks/{WEBHOOK_ID}/subscriptions/all",
        status=400,
        json={
            "title": "Invalid Request",
            "detail": "DuplicateSubscriptionFailed",
            "type": "https://api.x.com/2/problems/invalid-request",
        },
    )
    duplicate = {"title": "Invalid Request", "detail": "Duplicate subscription", "status": 400}
    api.post(f"{API}/2/activity/subscriptions", status=400, json=duplicate)
    api.get(
        f"{API}/2/activity/subscriptions",
        json={
            "data": [
                {
                    "subscription_id": "800",
                    "event_type": "dm.received",
                    "filter": {"user_id": "999"},
                    "webhook_id": WEBHOOK_ID,
                },
                {
                    "subscription_id": "900",
                    "event_type": "dm.received",
                    "filter": {"user_id": "1500"},
                    "webhook_id": WEBHOOK_ID,
                },
            ]
        },
    )
    for number in (1, 2, 3, 4, 5):
        answer = {"subscription": {"subscription_id": f"90{number}"}}
        api.post(f"{API}/2/activity/subscriptions", json={"data": answer})

    assert client.subscribe(WebhookApi.ACCOUNT_ACTIVITY, WEBHOOK_ID, "1500", USER) == "1500"
    assert (
        client.subscribe(WebhookApi.ACTIVITY, WEBHOOK_ID, "1500", USER) == "900,901,902,903,904,905"
    )


def test_an_activity_subscription_that_fails_midway_is_undone(api, client, bearer):
    api.post(
        f"{API}/2/activity/subscriptions",
        json={"data": {"subscription": {"subscription_id": "900"}}},
    )
    api.post(
        f"{API}/2/activity/subscriptions", status=503, json=problem(503, "Service Unavailable")
    )
    undone = api.delete(f"{API}/2/activity/subscriptions/900", json={"data": {"deleted": True}})

    with pytest.raises(XUnavailable):
        client.subscribe(WebhookApi.ACTIVITY, WEBHOOK_ID, "1500", USER)

    assert undone.call_count == 1


def test_unsubscribing_from_account_activity_uses_the_app_and_tolerates_a_missing_one(
    api, client, bearer
):
    path = f"{API}/2/account_activity/webhooks/{WEBHOOK_ID}/subscriptions/1500/all"
    api.delete(path, json={"data": {"subscribed": False}})
    api.delete(
        path,
        status=400,
        json={
            "title": "Invalid Request",
            "detail": "SubscriptionNotFound",
            "type": "https://api.x.com/2/problems/invalid-request",
        },
    )
    api.delete(path, status=404, json=problem(404, "Not Found"))
    api.delete(
        path,
        status=400,
        json={
            "title": "Invalid Request",
            "detail": "WebhookIdInvalid",
            "type": "https://api.x.com/2/problems/invalid-request",
        },
    )

    for _ in range(3):
        client.unsubscribe(WebhookApi.ACCOUNT_ACTIVITY, WEBHOOK_ID, "1500", "1500")
    with pytest.raises(XRequestRejected, match="WebhookIdInvalid"):
        client.unsubscribe(WebhookApi.ACCOUNT_ACTIVITY, WEBHOOK_ID, "1500", "1500")

    assert all(
        call.request.headers["Authorization"] == f"Bearer {BEARER}" for call in api.calls[1:]
    )


def test_unsubscribing_from_the_activity_api_deletes_each_subscription(api, client, bearer):
    first = api.delete(f"{API}/2/activity/subscriptions/900", json={"data": {"deleted": True}})
    gone = api.delete(
        f"{API}/2/activity/subscriptions/901", status=404, json=problem(404, "Not Found")
    )
    third = api.delete(f"{API}/2/activity/subscriptions/902", json={"data": {"deleted": True}})

    client.unsubscribe(WebhookApi.ACTIVITY, WEBHOOK_ID, "1500", "900,901,902")

    assert (first.call_count, gone.call_count, third.call_count) == (1, 1, 1)
