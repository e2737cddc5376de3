"""The X client against a running sandbox X: the 3-legged flow, DMs and replies, webhooks,
subscriptions through both APIs, customers' media, and X's refusals as the client's typed
errors."""

import base64
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from sandboxes.x import XSandbox
from sandboxes.x.payloads import Account
from twittnow.clients.x import (
    AccessToken,
    BearerCredentials,
    DownloadedMedia,
    WebhookApi,
    XClient,
    XConnectionBroken,
    XError,
    XMediaRefused,
    XRateLimited,
    XRequestRejected,
    XUnavailable,
)
from twittnow.x_app import AppCredentials, app_credentials, crc_response, signature_matches
from twittnow.x_events import normalize

APP = AppCredentials("integration-key", "integration-secret")
CALLBACK = "http://localhost:3000/twitter-callback"


@pytest.fixture
def sandbox():
    with XSandbox(APP.consumer_key, APP.consumer_secret) as running:
        yield running


@pytest.fixture
def client(sandbox):
    return XClient(sandbox.base_url, APP, timeout=5)


class Webhook:
    """A webhook on loopback that answers the CRC check as the service does, with `secret`,
    and keeps what is delivered to it."""

    def __init__(self) -> None:
        self.secret = APP.consumer_secret
        self.received: list[tuple[str, bytes]] = []  # (signature header, body)
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = dict(parse_qsl(urlsplit(self.path).query))["crc_token"]
                self._answer(json.dumps(crc_response(webhook.secret, token)).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.received.append((self.headers["x-twitter-webhooks-signature"], body))
                self._answer(b"")

            def _answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/twitter-activity"

    @property
    def deliveries(self) -> list[dict]:
        """The bodies delivered, each signed with the app's consumer secret."""
        for signature, body in self.received:
            assert signature_matches(APP.consumer_secret, body, signature)
        return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook():
    receiver = Webhook()
    yield receiver
    receiver.close()


def connect(client: XClient, screen_name: str) -> AccessToken:
    """What /get-auth-url and /twitter-callback do, with the account approving on X."""
    request_token = client.request_token(CALLBACK)
    approved = requests.get(
        client.authorize_url(request_token.oauth_token),
        params={"approve": screen_name},
        allow_redirects=False,
        timeout=5,
    )
    callback = dict(parse_qsl(urlsplit(approved.headers["Location"]).query))
    assert callback["oauth_token"] == request_token.oauth_token
    return client.access_token(request_token, callback["oauth_verifier"])


def customer(sandbox: XSandbox, action: str, **body) -> dict:
    answer = requests.post(
        f"{sandbox.base_url}/sandbox/customers/jane/{action}", json=body, timeout=15
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def sandbox_get(sandbox: XSandbox, path: str):
    return requests.get(f"{sandbox.base_url}/sandbox{path}", timeout=5).json()


# ---------------------------------------------------------------- OAuth


def test_the_3_legged_flow_connects_the_approving_account(client):
    account = connect(client, "acme")

    assert (account.user_id, account.screen_name) == (Account.named("acme").id, "acme")
    assert account.credentials.access_token.startswith(f"{account.user_id}-")
    assert connect(client, "acme") == account  # approving again gives the same token


def test_a_verifier_used_twice_is_rejected(client):
    request_token = client.request_token(CALLBACK)
    approved = requests.get(
        client.authorize_url(request_token.oauth_token),
        params={"approve": "acme"},
        allow_redirects=False,
        timeout=5,
    )
    verifier = dict(parse_qsl(urlsplit(approved.headers["Location"]).query))["oauth_verifier"]
    client.access_token(request_token, verifier)

    with pytest.raises(XRequestRejected) as failure:
        client.access_token(request_token, verifier)

    assert failure.value.status_code == 401
    assert request_token.oauth_token_secret not in failure.value.message


def test_another_app_secret_is_rejected(sandbox):
    impostor = XClient(sandbox.base_url, AppCredentials(APP.consumer_key, "guessed"))

    with pytest.raises(XRequestRejected, match="Could not authenticate you"):
        impostor.request_token(CALLBACK)
    with pytest.raises(XRequestRejected, match="Unable to verify your credentials"):
        impostor.list_webhooks()


# ---------------------------------------------------------------- DMs and replies


def test_a_dm_and_a_reply_reach_the_customer(client, sandbox):
    account = connect(client, "acme")
    jane = customer(sandbox, "dm", to="acme", text="Where is my order?")["dm"]["from"]
    mention = customer(sandbox, "mention", to="acme", text="Anyone there?")["post"]

    dm_event_id = client.send_dm(account.credentials, jane["id"], "Case CS0001 is open")
    post_id = client.reply(account.credentials, mention["id"], "@jane We are on it")

    dm, reply = sandbox_get(sandbox, "/sent")
    assert (dm["kind"], dm["dm_event_id"], dm["to"], dm["text"]) == (
        "dm",
        dm_event_id,
        jane,
        "Case CS0001 is open",
    )
    assert (reply["kind"], reply["post_id"], reply["in_reply_to_post_id"]) == (
        "reply",
        post_id,
        mention["id"],
    )
    with pytest.raises(XRequestRejected, match="duplicate content") as duplicate:
        client.reply(account.credentials, mention["id"], "@jane We are on it")
    assert duplicate.value.status_code == 403


def test_a_revoked_account_is_a_broken_connection(client, sandbox):
    account = connect(client, "acme")
    jane = customer(sandbox, "dm", to="acme", text="hi")["dm"]["from"]
    requests.post(f"{sandbox.base_url}/sandbox/accounts/acme/revoke", timeout=15)

    with pytest.raises(XConnectionBroken) as failure:
        client.send_dm(account.credentials, jane["id"], "hello?")

    assert failure.value.status_code == 401


# ---------------------------------------------------------------- webhooks and subscriptions


def test_a_webhook_is_registered_listed_validated_and_deleted(client, webhook):
    registered = client.register_webhook(webhook.url)

    assert registered.url == webhook.url and registered.valid and registered.created_at
    assert client.list_webhooks() == [registered]
    client.validate_webhook(registered.id)
    webhook.secret = "a rotated secret"
    with pytest.raises(XRequestRejected, match="CRC"):
        client.validate_webhook(registered.id)
    assert client.list_webhooks()[0].valid is False
    client.delete_webhook(registered.id)
    assert client.list_webhooks() == []
    with pytest.raises(XRequestRejected) as gone:
        client.delete_webhook(registered.id)
    assert gone.value.detail == "WebhookIdInvalid"


def test_a_webhook_failing_the_crc_check_is_rejected(client, webhook):
    webhook.secret = "not the app's"

    with pytest.raises(XRequestRejected) as failure:
        client.register_webhook(webhook.url)

    assert failure.value.detail == "CrcValidationFailed"


@pytest.mark.parametrize(
    ("api", "event"),
    [
        (WebhookApi.ACCOUNT_ACTIVITY, lambda body: body["direct_message_events"][0]),
        (WebhookApi.ACTIVITY, lambda body: body["data"]["payload"]["direct_message_events"][0]),
    ],
)
def test_a_subscription_delivers_the_account_dms_until_unsubscribed(
    client, sandbox, webhook, api, event
):
    account = connect(client, "acme")
    webhook_id = client.register_webhook(webhook.url).id

    subscription = client.subscribe(api, webhook_id, account.user_id, account.credentials)
    customer(sandbox, "dm", to="acme", text="Hello?")
    client.unsubscribe(api, webhook_id, account.user_id, subscription)
    customer(sandbox, "dm", to="acme", text="Still there?")
    client.unsubscribe(api, webhook_id, account.user_id, subscription)  # already gone

    (delivered,) = webhook.deliveries
    assert event(delivered)["message_create"]["message_data"]["text"] == "Hello?"
    assert event(delivered)["message_create"]["target"] == {"recipient_id": account.user_id}
    overview = sandbox_get(sandbox, "")
    assert overview["subscriptions"] == []


@pytest.mark.parametrize("api", list(WebhookApi))
def test_subscribing_again_gives_the_same_subscription(client, webhook, api):
    account = connect(client, "acme")
    webhook_id = client.register_webhook(webhook.url).id

    first = client.subscribe(api, webhook_id, account.user_id, account.credentials)
    again = client.subscribe(api, webhook_id, account.user_id, account.credentials)

    assert again == first


def test_an_activity_subscription_covers_dms_both_ways_and_mentions(client, sandbox, webhook):
    account = connect(client, "acme")
    webhook_id = client.register_webhook(webhook.url).id
    client.subscribe(WebhookApi.ACTIVITY, webhook_id, account.user_id, account.credentials)

    jane = customer(sandbox, "dm", to="acme", text="hi")["dm"]["from"]
    customer(sandbox, "mention", to="acme", text="hello")
    client.send_dm(account.credentials, jane["id"], "Hello Jane")
    assert sandbox.drain()

    kinds = [delivery["data"]["event_type"] for delivery in webhook.deliveries]
    assert kinds == ["dm.received", "post.mention.create", "dm.sent"]


# ---------------------------------------------------------------- customers' media


@pytest.mark.parametrize("api", list(WebhookApi))
def test_a_dm_photo_delivered_downloads_with_the_account_credentials(client, sandbox, webhook, api):
    account = connect(client, "acme")
    webhook_id = client.register_webhook(webhook.url).id
    client.subscribe(api, webhook_id, account.user_id, account.credentials)
    photo = b"\x89PNG\r\n\x1a\n jane's broken parcel"
    media = {
        "type": "photo",
        "file_name": "parcel.png",
        "data_base64": base64.b64encode(photo).decode(),
    }

    customer(sandbox, "dm", to="acme", text="It arrived broken", media=[media])

    (delivery,) = webhook.deliveries
    (event,) = normalize(delivery)
    assert event.text == "It arrived broken"
    (attached,) = event.media
    downloaded = client.download_media(account.credentials, attached.url)
    assert downloaded == DownloadedMedia("parcel.png", "image/png", photo)
    assert requests.get(attached.url, timeout=5).status_code == 401  # DM media need a signature


def test_post_media_are_public_and_download_as_the_account(client, sandbox, webhook):
    account = connect(client, "acme")
    webhook_id = client.register_webhook(webhook.url).id
    client.subscribe(WebhookApi.ACTIVITY, webhook_id, account.user_id, account.credentials)
    video = b"\x00\x00\x00\x18ftypmp42 jane's video"
    media = [{"type": "video", "data_base64": base64.b64encode(video).decode()}]

    posted = customer(sandbox, "mention", to="acme", text="See this", media=media)["post"]

    (event,) = normalize(webhook.deliveries[0])
    (attached,) = event.media
    key = posted["media"][0]["media_key"]
    assert (attached.media_type, attached.content_type) == ("video", "video/mp4")
    assert client.download_media(account.credentials, attached.url) == DownloadedMedia(
        f"{key}.mp4", "video/mp4", video
    )
    assert requests.get(attached.url, timeout=5).content == video


def test_media_downloads_fail_as_x_fails_and_stay_on_x(client, sandbox):
    account = connect(client, "acme")
    posted = customer(sandbox, "mention", to="acme", media=[{"type": "photo"}])["post"]
    url = posted["media"][0]["url"]
    for status in (429, 503):
        fault = {"endpoint": "media", "status": status}
        requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    with pytest.raises(XRateLimited):
        client.download_media(account.credentials, url)
    with pytest.raises(XUnavailable):
        client.download_media(account.credentials, url)
    with pytest.raises(XMediaRefused, match="larger than"):
        client.download_media(account.credentials, url, max_bytes=10)
    with pytest.raises(XMediaRefused, match=r"127\.0\.0\.2"):
        client.download_media(account.credentials, url.replace("127.0.0.1", "127.0.0.2"))
    assert client.download_media(account.credentials, url).content_type == "image/png"


# ---------------------------------------------------------------- throttling and failures


def test_a_throttled_call_says_until_when(client, sandbox):
    account = connect(client, "acme")
    jane = customer(sandbox, "dm", to="acme", text="hi")["dm"]["from"]
    fault = {"endpoint": "dm", "status": 429, "times": 1, "reset_in": 120}
    requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    with pytest.raises(XRateLimited) as failure:
        client.send_dm(account.credentials, jane["id"], "hello")

    expected = datetime.now(UTC) + timedelta(seconds=120)
    assert abs(failure.value.reset_at - expected) < timedelta(seconds=5)
    assert failure.value.retryable
    assert client.send_dm(account.credentials, jane["id"], "hello")  # the window passed


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_x_is_unavailable(client, sandbox, webhook, status):
    fault = {"endpoint": "webhooks", "status": status}
    requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    with pytest.raises(XUnavailable) as failure:
        client.register_webhook(webhook.url)

    assert failure.value.status_code == status and failure.value.retryable


def test_an_unreachable_x_is_unavailable(sandbox):
    url = sandbox.base_url
    sandbox.stop()
    started = time.monotonic()

    with pytest.raises(XUnavailable, match="Could not connect"):
        XClient(url, APP, timeout=2).request_token(CALLBACK)

    assert time.monotonic() - started < 2


# ---------------------------------------------------------------- OAuth 2.0


def test_oauth2_with_pkce_against_the_sandbox_then_calls_with_the_bearer_token(sandbox):
    from twitter_activity.connections import code_challenge

    app = AppCredentials(
        APP.consumer_key, APP.consumer_secret, sandbox.client_id, sandbox.client_secret
    )
    client = XClient(
        sandbox.base_url, app, timeout=5, oauth2_authorize_url=sandbox.oauth2_authorize_url
    )
    verifier = "v" * 43 + "-PKCE-verifier"
    url = client.oauth2_authorize_url(CALLBACK, "the-state", code_challenge(verifier))
    approved = requests.get(f"{url}&approve=acme", allow_redirects=False, timeout=5)
    assert approved.status_code == 302, approved.text
    redirect = dict(parse_qsl(urlsplit(approved.headers["Location"]).query))
    assert redirect["state"] == "the-state"

    tokens = client.exchange_code(redirect["code"], verifier, CALLBACK)

    assert tokens.refresh_token and tokens.expires_at > datetime.now(UTC) + timedelta(hours=1)
    assert set(tokens.scope.split()) >= {"dm.write", "tweet.write", "offline.access"}
    account = client.me(BearerCredentials(tokens.access_token))
    assert account.username == "acme" and account.id == Account.named("acme").id
    with pytest.raises(XRequestRejected, match="wrong, expired or already used"):
        client.exchange_code(redirect["code"], verifier, CALLBACK)  # a code is good once
    customer = Account.named("jane_oauth2")
    requests.post(
        f"{sandbox.base_url}/sandbox/customers/jane_oauth2/dm",
        json={"to": "someone_else", "text": "hi"},
        timeout=5,
    )
    assert client.send_dm(BearerCredentials(tokens.access_token), customer.id, "Hello")
    with pytest.raises(XConnectionBroken):
        client.send_dm(BearerCredentials("not-a-token"), customer.id, "Hello")


def test_the_sandbox_refuses_the_apps_wrong_client_secret_as_not_the_codes_fault(sandbox):
    app = AppCredentials(APP.consumer_key, APP.consumer_secret, sandbox.client_id, "wrong")
    client = XClient(sandbox.base_url, app, timeout=5)

    with pytest.raises(XError) as refused:  # not a refusal of the code
        client.exchange_code("any-code", "v" * 43, CALLBACK)

    assert not isinstance(refused.value, XRequestRejected)
    assert "X_CLIENT_ID, X_CLIENT_SECRET" in refused.value.message


# ---------------------------------------------------------------- in the local stack


def test_the_local_stack_points_the_functions_at_its_sandbox(stack_environment):
    sandbox = stack_environment.x_sandbox
    assert sandbox is not None
    app = app_credentials()

    assert os.environ["X_API_BASE_URL"] == sandbox.base_url
    assert os.environ["X_OAUTH2_AUTHORIZE_URL"] == sandbox.oauth2_authorize_url
    assert app == AppCredentials(
        sandbox.consumer_key, sandbox.consumer_secret, sandbox.client_id, sandbox.client_secret
    )
    assert XClient(os.environ["X_API_BASE_URL"], app).request_token(CALLBACK).oauth_token
