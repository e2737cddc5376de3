"""The sandbox X over HTTP, with an OAuth 1.0a client of its own (requests-oauthlib) and a
webhook on loopback: the 3-legged flow and its refusals, webhooks and the CRC check,
subscriptions, signed deliveries in both shapes, media, what the service sent, faults,
revokes."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth1

from local.stack import LocalStack, Settings
from sandboxes.x import XSandbox, oauth1
from sandboxes.x.payloads import Account
from sandboxes.x.server import GENERATED_MP4, GENERATED_PNG
from twittnow.x_app import crc_response, signature_matches
from twittnow.x_events import Media, normalize

KEY, SECRET = "sandbox-key", "sandbox-secret"
CALLBACK = "http://localhost:3000/twitter-callback?tenant=7"


class Webhook:
    """A webhook on loopback: answers X's CRC check with `crc_secret`, records deliveries."""

    def __init__(self) -> None:
        self.crc_secret = SECRET
        self.status = 200
        self.crc_tokens: list[str] = []
        self.deliveries: list[tuple[dict, bytes]] = []
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = dict(parse_qsl(urlsplit(self.path).query))["crc_token"]
                webhook.crc_tokens.append(token)
                self._answer(200, json.dumps(crc_response(webhook.crc_secret, token)).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                webhook.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self._answer(webhook.status, b"")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/twitter-activity"

    def bodies(self) -> list[dict]:
        """The deliveries' JSON bodies, once each signature is checked."""
        for headers, body in self.deliveries:
            assert signature_matches(SECRET, body, headers["x-twitter-webhooks-signature"])
            assert headers["content-type"].startswith("application/json")
        return [json.loads(body) for _, body in self.deliveries]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sandbox():
    with XSandbox(KEY, SECRET) as running:
        yield running


@pytest.fixture
def webhook():
    receiver = Webhook()
    yield receiver
    receiver.close()


class X:
    """What the service does on the sandbox, step by step."""

    def __init__(self, sandbox: XSandbox):
        self.sandbox = sandbox
        self.url = sandbox.base_url
        self._bearer: str | None = None

    def request_token(self, callback: str = CALLBACK, secret: str = SECRET) -> requests.Response:
        auth = OAuth1(KEY, secret, callback_uri=callback)
        return requests.post(f"{self.url}/oauth/request_token", auth=auth, timeout=5)

    def authorize(self, token: str, **query) -> requests.Response:
        params = {"oauth_token": token, **query}
        return requests.get(
            f"{self.url}/oauth/authorize", params=params, allow_redirects=False, timeout=5
        )

    def access_token(self, token: str, secret: str, verifier: str) -> requests.Response:
        auth = OAuth1(KEY, SECRET, token, secret, verifier=verifier)
        return requests.post(f"{self.url}/oauth/access_token", auth=auth, timeout=5)

    def connect(self, screen_name: str) -> dict:
        """The 3-legged flow, approved as `screen_name`: its access token answer."""
        temporary = dict(parse_qsl(self.request_token().text))
        location = self.authorize(temporary["oauth_token"], approve=screen_name).headers["Location"]
        verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]
        answer = self.access_token(
            temporary["oauth_token"], temporary["oauth_token_secret"], verifier
        )
        assert answer.status_code == 200, answer.text
        return dict(parse_qsl(answer.text))

    def as_user(self, account: dict, method: str, path: str, **kwargs) -> requests.Response:
        auth = OAuth1(KEY, SECRET, account["oauth_token"], account["oauth_token_secret"])
        return requests.request(method, self.url + path, auth=auth, timeout=5, **kwargs)

    def as_app(self, method: str, path: str, **kwargs) -> requests.Response:
        if self._bearer is None:
            answer = requests.post(
                f"{self.url}/oauth2/token",
                auth=(KEY, SECRET),
                data={"grant_type": "client_credentials"},
                timeout=5,
            )
            self._bearer = answer.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._bearer}"}
        return requests.request(method, self.url + path, headers=headers, timeout=5, **kwargs)

    def sandbox_call(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/sandbox{path}", timeout=15, **kwargs)

    def register(self, url: str) -> str:
        answer = self.as_app("POST", "/2/webhooks", json={"url": url})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["id"]

    def subscribe_both(self, account: dict, webhook_id: str, *event_types: str) -> None:
        path = f"/2/account_activity/webhooks/{webhook_id}/subscriptions/all"
        assert self.as_user(account, "POST", path).json() == {"data": {"subscribed": True}}
        for event_type in event_types:
            body = {
                "event_type": event_type,
                "filter": {"user_id": account["user_id"]},
                "tag": "twittnow",
                "webhook_id": webhook_id,
            }
            answer = self.as_user(account, "POST", "/2/activity/subscriptions", json=body)
            assert answer.status_code == 200, answer.text


@pytest.fixture
def x(sandbox):
    return X(sandbox)


@pytest.fixture
def acme(x, webhook):
    """@acme, connected, and subscribed through both APIs to the registered webhook."""
    account = x.connect("acme")
    x.subscribe_both(
        account, x.register(webhook.url), "dm.received", "dm.sent", "post.mention.create"
    )
    return account


# ---------------------------------------------------------------- OAuth 1.0a


def test_the_3_legged_flow_gives_the_approving_account_and_its_tokens(x):
    temporary = x.request_token()
    assert temporary.status_code == 200
    token = dict(parse_qsl(temporary.text))
    assert token["oauth_callback_confirmed"] == "true"

    consent = x.authorize(token["oauth_token"])
    assert consent.status_code == 200
    assert "Authorize app" in consent.text and 'name="approve"' in consent.text

    approved = x.authorize(token["oauth_token"], approve="Acme_Support")
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    assert location._replace(query="").geturl() == "http://localhost:3000/twitter-callback"
    query = dict(parse_qsl(location.query))
    assert query["tenant"] == "7" and query["oauth_token"] == token["oauth_token"]

    account = x.access_token(
        token["oauth_token"], token["oauth_token_secret"], query["oauth_verifier"]
    )

    values = dict(parse_qsl(account.text))
    assert values["screen_name"] == "Acme_Support"
    assert values["user_id"] == Account.named("acme_support").id  # stable across runs
    assert values["oauth_token"].startswith(f"{values['user_id']}-")
    assert values["oauth_token_secret"]


def test_denying_redirects_with_denied_and_ends_the_request_token(x):
    token = dict(parse_qsl(x.request_token().text))

    denied = x.authorize(token["oauth_token"], deny="1")

    assert denied.status_code == 302
    assert (
        dict(parse_qsl(urlsplit(denied.headers["Location"]).query))["denied"]
        == token["oauth_token"]
    )
    assert x.authorize(token["oauth_token"], approve="acme").status_code == 400


def test_a_verifier_is_good_once(x):
    token = dict(parse_qsl(x.request_token().text))
    location = x.authorize(token["oauth_token"], approve="acme").headers["Location"]
    verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]

    first = x.access_token(token["oauth_token"], token["oauth_token_secret"], verifier)
    second = x.access_token(token["oauth_token"], token["oauth_token_secret"], verifier)

    assert first.status_code == 200
    assert second.status_code == 401


def test_a_wrong_verifier_fails_and_leaves_the_request_token_for_the_right_one(x):
    token = dict(parse_qsl(x.request_token().text))
    location = x.authorize(token["oauth_token"], approve="acme").headers["Location"]
    verifier = dict(parse_qsl(urlsplit(location).query))["oauth_verifier"]

    wrong = x.access_token(token["oauth_token"], token["oauth_token_secret"], "guess")
    right = x.access_token(token["oauth_token"], token["oauth_token_secret"], verifier)
    again = x.access_token(token["oauth_token"], token["oauth_token_secret"], verifier)

    assert (wrong.status_code, right.status_code, again.status_code) == (401, 200, 401)
    assert wrong.json()["errors"][0]["message"] == "Invalid oauth_verifier parameter"


def test_an_account_that_approves_again_gets_its_token_again(x):
    assert x.connect("acme") == x.connect("acme")


def test_bad_signatures_are_refused_like_x_does(x):
    wrong_secret = x.request_token(secret="not-the-secret")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json() == {
        "errors": [{"code": 32, "message": "Could not authenticate you."}]
    }

    account = x.connect("acme")
    forged = {**account, "oauth_token_secret": "forged"}
    answer = x.as_user(forged, "POST", "/2/tweets", json={"text": "hello"})
    assert answer.status_code == 401
    assert answer.json()["title"] == "Unauthorized"

    # Signed for one URL, sent to another.
    signed = requests.Request(
        "POST",
        f"{x.url}/2/tweets?a=1",
        json={"text": "hi"},
        auth=OAuth1(KEY, SECRET, account["oauth_token"], account["oauth_token_secret"]),
    ).prepare()
    signed.url = f"{x.url}/2/tweets?a=2"
    assert requests.Session().send(signed, timeout=5).status_code == 401


def test_a_replayed_request_is_refused(x):
    account = x.connect("acme")
    signed = requests.Request(
        "POST",
        f"{x.url}/2/tweets",
        json={"text": "once"},
        auth=OAuth1(KEY, SECRET, account["oauth_token"], account["oauth_token_secret"]),
    ).prepare()

    with requests.Session() as session:
        assert session.send(signed, timeout=5).status_code == 201
        assert session.send(signed, timeout=5).status_code == 401


def test_the_signature_check_agrees_with_x_documented_example():
    # fundamentals/authentication/oauth-1-0a/creating-a-signature.mdx
    header = (
        'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", '
        'oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", '
        'oauth_signature="Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D", oauth_signature_method="HMAC-SHA1", '
        'oauth_timestamp="1318622958", '
        'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"'
    )
    body = b"status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21"

    def valid(token_secret: str, content_type: str = "application/x-www-form-urlencoded") -> bool:
        return oauth1.signature_valid(
            "POST",
            "https://api.x.com/1.1/statuses/update.json?include_entities=true",
            header,
            body,
            content_type,
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            token_secret,
        )

    assert valid("LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE")
    assert not valid("another-token-secret")
    assert not valid("LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE", content_type="application/json")


def test_app_only_endpoints_want_the_bearer_token(x):
    assert requests.get(f"{x.url}/2/webhooks", timeout=5).status_code == 401
    account = x.connect("acme")
    as_user = x.as_user(account, "GET", "/2/webhooks")
    assert as_user.status_code == 403
    assert as_user.json()["type"].endswith("/unsupported-authentication")
    refused = requests.post(
        f"{x.url}/oauth2/token",
        auth=(KEY, "wrong"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == 99


def test_user_context_endpoints_refuse_the_bearer_token(x):
    answer = x.as_app("POST", "/2/tweets", json={"text": "hi"})

    assert answer.status_code == 403
    assert answer.json()["type"].endswith("/unsupported-authentication")


# ---------------------------------------------------------------- webhooks


def test_registering_a_webhook_runs_the_crc_check(x, webhook):
    answer = x.as_app("POST", "/2/webhooks", json={"url": webhook.url})

    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["url"] == webhook.url and data["valid"] is True and data["created_at"]
    assert len(webhook.crc_tokens) == 1
    listed = x.as_app("GET", "/2/webhooks").json()
    assert listed == {"data": [data], "meta": {"result_count": 1}}
    duplicate = x.as_app("POST", "/2/webhooks", json={"url": webhook.url})
    assert duplicate.status_code == 400 and duplicate.json()["reason"] == "DuplicateUrlFailed"


def test_a_webhook_failing_the_crc_check_is_not_registered(x, webhook):
    webhook.crc_secret = "another-app-secret"

    answer = x.as_app("POST", "/2/webhooks", json={"url": webhook.url})

    assert answer.status_code == 400
    assert answer.json()["reason"] == "CrcValidationFailed"
    assert x.as_app("GET", "/2/webhooks").json()["data"] == []


def test_validating_runs_the_crc_check_again_and_an_invalid_webhook_gets_nothing(x, webhook, acme):
    webhook_id = x.as_app("GET", "/2/webhooks").json()["data"][0]["id"]
    webhook.crc_secret = "rotated"

    answer = x.as_app("PUT", f"/2/webhooks/{webhook_id}")

    assert answer.json() == {"data": {"valid": False}}
    assert x.as_app("GET", "/2/webhooks").json()["data"][0]["valid"] is False
    dm = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hello?"})
    assert dm.json()["deliveries"] == [] and webhook.deliveries == []


def test_deleting_a_webhook_ends_its_subscriptions(x, webhook, acme):
    webhook_id = x.as_app("GET", "/2/webhooks").json()["data"][0]["id"]

    assert x.as_app("DELETE", f"/2/webhooks/{webhook_id}").json() == {"data": {"deleted": True}}

    overview = x.sandbox_call("GET", "").json()
    assert overview["webhooks"] == []
    assert overview["subscriptions"] == []
    again = x.as_app("DELETE", f"/2/webhooks/{webhook_id}")
    assert again.status_code == 400 and again.json()["reason"] == "WebhookIdInvalid"


# ---------------------------------------------------------------- subscriptions


def test_subscriptions_are_listed_checked_and_deleted(x, webhook, acme):
    webhook_id = x.as_app("GET", "/2/webhooks").json()["data"][0]["id"]
    aaa = f"/2/account_activity/webhooks/{webhook_id}/subscriptions"

    overview = x.sandbox_call("GET", "").json()["subscriptions"]
    assert [(item["api"], item["screen_name"]) for item in overview] == [
        ("account_activity", "acme")
    ] + [("activity", "acme")] * 3
    assert x.as_user(acme, "GET", f"{aaa}/all").json() == {"data": {"subscribed": True}}
    listed = x.as_app("GET", f"{aaa}/all/list").json()["data"]
    assert listed["subscriptions"] == [{"user_id": acme["user_id"]}]
    assert listed["webhook_url"] == webhook.url
    duplicate = x.as_user(acme, "POST", f"{aaa}/all")
    assert duplicate.json()["reason"] == "DuplicateSubscriptionFailed"

    gone = x.as_app("DELETE", f"{aaa}/{acme['user_id']}/all")
    assert gone.json() == {"data": {"subscribed": False}}
    again = x.as_app("DELETE", f"{aaa}/{acme['user_id']}/all")
    assert again.status_code == 400 and again.json()["reason"] == "SubscriptionNotFound"

    activity = x.as_app("GET", "/2/activity/subscriptions").json()
    assert activity["meta"]["total_subscriptions"] == 3
    first = activity["data"][0]
    assert first["filter"] == {"user_id": acme["user_id"]} and first["webhook_id"] == webhook_id
    path = f"/2/activity/subscriptions/{first['subscription_id']}"
    assert x.as_app("DELETE", path).json()["data"] == {"deleted": True}
    assert x.as_app("DELETE", path).status_code == 404


def test_private_activity_events_need_the_account_own_authorization(x, webhook):
    webhook_id = x.register(webhook.url)
    acme, other = x.connect("acme"), x.connect("other")
    body = {
        "event_type": "dm.received",
        "filter": {"user_id": acme["user_id"]},
        "webhook_id": webhook_id,
    }

    assert x.as_app("POST", "/2/activity/subscriptions", json=body).status_code == 403
    assert x.as_user(other, "POST", "/2/activity/subscriptions", json=body).status_code == 403
    created = x.as_user(acme, "POST", "/2/activity/subscriptions", json=body)
    assert created.status_code == 200
    subscription = created.json()["data"]["subscription"]
    assert subscription["event_type"] == "dm.received" and subscription["subscription_id"].isdigit()


# ---------------------------------------------------------------- a customer's DM and mention


def test_a_customer_dm_is_delivered_signed_in_both_shapes(x, webhook, acme):
    answer = x.sandbox_call(
        "POST", "/customers/jane/dm", json={"to": "acme", "text": "My order is late"}
    )

    assert answer.status_code == 200
    result = answer.json()
    jane = Account.named("jane").id
    assert result["dm"]["from"] == {"id": jane, "screen_name": "jane"}
    assert [(d["shape"], d["event"], d["status"]) for d in result["deliveries"]] == [
        ("account_activity", "direct_message_events", 200),
        ("activity", "dm.received", 200),
    ]
    aaa, xaa = webhook.bodies()
    event = aaa["direct_message_events"][0]
    assert aaa["for_user_id"] == acme["user_id"]
    assert event["type"] == "message_create" and event["id"] == result["dm"]["dm_event_id"]
    assert event["message_create"]["sender_id"] == jane
    assert event["message_create"]["target"] == {"recipient_id": acme["user_id"]}
    assert event["message_create"]["message_data"]["text"] == "My order is late"
    assert "source_app_id" not in event["message_create"]
    assert aaa["users"][jane]["screen_name"] == "jane"
    data = xaa["data"]
    assert data["event_type"] == "dm.received" and data["filter"] == {"user_id": acme["user_id"]}
    assert data["tag"] == "twittnow" and data["event_uuid"]
    assert data["payload"]["direct_message_events"] == aaa["direct_message_events"]
    assert data["payload"]["users"][jane]["data"]["username"] == "jane"


def test_a_renamed_customer_keeps_their_id_and_the_next_holder_of_the_name_gets_another(
    x, webhook, acme
):
    def dm_from(screen_name: str) -> dict:
        answer = x.sandbox_call(
            "POST", f"/customers/{screen_name}/dm", json={"to": "acme", "text": "hi"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["dm"]["from"]

    jane = dm_from("jane")
    renamed = x.sandbox_call("POST", "/customers/jane/rename", json={"screen_name": "jane_new"})
    assert renamed.json() == {"user": {"id": jane["id"], "screen_name": "jane_new"}}

    assert dm_from("jane_new") == {"id": jane["id"], "screen_name": "jane_new"}
    newcomer = dm_from("jane")
    assert newcomer["screen_name"] == "jane" and newcomer["id"] not in (jane["id"], acme["user_id"])
    aaa, _ = webhook.bodies()[-2:]
    assert aaa["direct_message_events"][0]["message_create"]["sender_id"] == newcomer["id"]
    assert aaa["users"][newcomer["id"]]["screen_name"] == "jane"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/customers/nobody/rename", {"screen_name": "someone"}, 404),
        ("/customers/jane/rename", {"screen_name": "not a name"}, 400),
        ("/customers/jane/rename", {}, 400),
        ("/customers/jane/rename", {"screen_name": "ACME"}, 409),  # taken
        ("/customers/acme/rename", {"screen_name": "acme_new"}, 409),  # a connected account
    ],
)
def test_a_rename_needs_a_known_customer_and_a_free_screen_name(x, acme, path, body, status):
    x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})

    assert x.sandbox_call("POST", path, json=body).status_code == status


def test_a_shape_restricts_the_deliveries_to_one_api(x, webhook, acme):
    answer = x.sandbox_call(
        "POST", "/customers/jane/dm", json={"to": "acme", "text": "hi", "shape": "activity"}
    )

    assert [d["event"] for d in answer.json()["deliveries"]] == ["dm.received"]


def test_a_customer_mention_is_delivered_signed_in_both_shapes(x, webhook, acme):
    first = x.sandbox_call("POST", "/customers/jane/mention", json={"to": "acme", "text": "Help!"})
    post = first.json()["post"]
    webhook.deliveries.clear()

    answer = x.sandbox_call(
        "POST",
        "/customers/jane/mention",
        json={"to": "acme", "text": "Still waiting @Acme", "in_reply_to": post["id"]},
    )

    assert post["text"] == "@acme Help!"
    reply = answer.json()["post"]
    assert reply["text"] == "Still waiting @Acme" and reply["conversation_id"] == post["id"]
    aaa, xaa = webhook.bodies()
    tweet = aaa["tweet_create_events"][0]
    assert aaa["for_user_id"] == acme["user_id"]
    assert tweet["id_str"] == reply["id"] and tweet["text"] == "Still waiting @Acme"
    assert tweet["user"]["screen_name"] == "jane"
    assert tweet["in_reply_to_status_id_str"] == post["id"]
    assert tweet["entities"]["user_mentions"][0]["id_str"] == acme["user_id"]
    assert tweet["entities"]["user_mentions"][0]["indices"] == [14, 19]
    data = xaa["data"]
    assert data["event_type"] == "post.mention.create"
    assert data["payload"]["id"] == reply["id"]
    assert data["payload"]["author_id"] == Account.named("jane").id
    assert data["payload"]["referenced_tweets"] == [{"type": "replied_to", "id": post["id"]}]
    assert data["payload"]["entities"]["mentions"][0]["username"] == "acme"
    assert {user["username"] for user in data["includes"]["users"]} == {"jane", "acme"}


def test_what_a_webhook_answers_is_reported(x, webhook, acme):
    webhook.status = 503

    answer = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})

    assert {d["status"] for d in answer.json()["deliveries"]} == {503}


def test_a_delivery_can_be_sent_again_as_x_retries(x, webhook, acme):
    first = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})
    delivery = first.json()["deliveries"][0]

    again = x.sandbox_call("POST", f"/deliveries/{delivery['id']}/redeliver")

    assert again.json()["id"] != delivery["id"] and again.json()["body"] == delivery["body"]
    assert webhook.deliveries[-1] == webhook.deliveries[0]


@pytest.mark.parametrize(
    "body",
    [
        {"text": "hi"},
        {"to": "acme"},
        {"to": "not a name", "text": "hi"},
        {"to": "acme", "text": "hi", "shape": "v1"},
    ],
)
def test_a_customer_action_needs_a_valid_body(x, body):
    answer = x.sandbox_call("POST", "/customers/jane/dm", json=body)

    assert answer.status_code == 400 and answer.json()["error"]


# ---------------------------------------------------------------- what the service sends


def test_a_dm_the_service_sends_is_recorded_and_echoed_to_its_webhook(x, sandbox, webhook, acme):
    jane = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"}).json()
    webhook.deliveries.clear()

    answer = x.as_user(
        acme,
        "POST",
        f"/2/dm_conversations/with/{jane['dm']['from']['id']}/messages",
        json={"text": "Case CS0001 is open"},
    )

    assert answer.status_code == 201
    data = answer.json()["data"]
    assert data["dm_conversation_id"] == jane["dm"]["dm_conversation_id"]
    (sent,) = x.sandbox_call("GET", "/sent").json()
    assert sent["kind"] == "dm" and sent["text"] == "Case CS0001 is open"
    assert sent["from"]["screen_name"] == "acme" and sent["to"]["screen_name"] == "jane"
    assert sent["dm_event_id"] == data["dm_event_id"]
    assert sandbox.drain()
    aaa, xaa = webhook.bodies()
    echoed = aaa["direct_message_events"][0]["message_create"]
    assert aaa["for_user_id"] == acme["user_id"] and echoed["sender_id"] == acme["user_id"]
    assert echoed["source_app_id"] in aaa["apps"]
    assert xaa["data"]["event_type"] == "dm.sent"


def test_echoes_can_be_switched_off(x, sandbox, webhook, acme):
    answer = x.sandbox_call("PUT", "/settings", json={"echo": False})
    assert answer.json() == {"echo": False, "deliver_twice": False}
    jane = Account.named("jane").id
    x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})
    webhook.deliveries.clear()

    x.as_user(acme, "POST", f"/2/dm_conversations/with/{jane}/messages", json={"text": "hello"})

    assert sandbox.drain()
    assert webhook.deliveries == []


def test_deliver_twice_makes_every_delivery_twice_as_x_retries_do(x, sandbox, webhook, acme):
    answer = x.sandbox_call("PUT", "/settings", json={"deliver_twice": True})
    assert answer.json() == {"echo": True, "deliver_twice": True}

    jane = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})
    assert len(webhook.deliveries) == 4  # each API's delivery, twice
    assert webhook.deliveries[2:] == webhook.deliveries[:2]
    webhook.deliveries.clear()
    x.as_user(
        acme,
        "POST",
        f"/2/dm_conversations/with/{jane.json()['dm']['from']['id']}/messages",
        json={"text": "Case CS0001 is open"},
    )

    assert sandbox.drain()
    # Delivered in the background, in any order: each API's body, twice.
    bodies = sorted(body for _, body in webhook.deliveries)
    assert len(bodies) == 4 and bodies[0] == bodies[1] and bodies[2] == bodies[3]
    assert x.sandbox_call("GET", "").json()["settings"]["deliver_twice"]


@pytest.mark.parametrize("body", [{"echo": "no"}, {"deliver_twice": 1}])
def test_settings_are_true_or_false(x, body):
    assert x.sandbox_call("PUT", "/settings", json=body).status_code == 400
    assert x.sandbox_call("GET", "/settings").json() == {"echo": True, "deliver_twice": False}


def test_a_dm_staff_type_in_x_app_is_delivered_as_sent_by_the_account_with_no_app(
    x, sandbox, webhook, acme
):
    # Echoes off: the staff's DM is delivered all the same, as X delivers every DM the
    # account sends, whoever typed it.
    x.sandbox_call("PUT", "/settings", json={"echo": False})
    jane = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"}).json()
    webhook.deliveries.clear()

    answer = x.sandbox_call(
        "POST", "/accounts/acme/dm", json={"to": "jane", "text": "Sorry, looking into it"}
    )

    assert answer.status_code == 200
    dm = answer.json()["dm"]
    assert dm["from"] == {"id": acme["user_id"], "screen_name": "acme"}
    assert dm["to"]["id"] == jane["dm"]["from"]["id"]
    assert dm["dm_conversation_id"] == jane["dm"]["dm_conversation_id"]
    aaa, xaa = webhook.bodies()
    assert aaa["for_user_id"] == acme["user_id"]
    event = aaa["direct_message_events"][0]
    assert event["id"] == dm["dm_event_id"]
    assert event["message_create"]["sender_id"] == acme["user_id"]
    assert event["message_create"]["message_data"]["text"] == "Sorry, looking into it"
    assert "source_app_id" not in event["message_create"] and "apps" not in aaa
    assert xaa["data"]["event_type"] == "dm.sent"
    # Both shapes read as the account's own DM, sent by no app: staff's, not the service's.
    for body in (aaa, xaa):
        event = only_event(body)
        assert (event.kind, event.sent_by_app_id) == ("direct_message_sent", None)
        assert (event.recipient_id, event.text) == (dm["to"]["id"], "Sorry, looking into it")
    # What the service sent: nothing.
    assert x.sandbox_call("GET", "/sent").json() == []


def test_a_staff_dm_needs_a_valid_body(x):
    answer = x.sandbox_call("POST", "/accounts/acme/dm", json={"to": "not a name", "text": "hi"})

    assert answer.status_code == 400 and answer.json()["error"]


def test_a_reply_is_recorded_and_duplicate_content_refused(x, acme):
    post = x.sandbox_call(
        "POST", "/customers/jane/mention", json={"to": "acme", "text": "?"}
    ).json()
    body = {"text": "@jane Thanks, on it", "reply": {"in_reply_to_tweet_id": post["post"]["id"]}}

    created = x.as_user(acme, "POST", "/2/tweets", json=body)
    duplicate = x.as_user(acme, "POST", "/2/tweets", json=body)

    assert created.status_code == 201
    assert created.json()["data"]["text"] == "@jane Thanks, on it"
    (sent,) = x.sandbox_call("GET", "/sent").json()
    assert sent["kind"] == "reply" and sent["in_reply_to_post_id"] == post["post"]["id"]
    assert sent["post_id"] == created.json()["data"]["id"] and sent["to"]["screen_name"] == "jane"
    assert duplicate.status_code == 403
    assert duplicate.json()["type"] == "about:blank"
    assert "duplicate content" in duplicate.json()["detail"]


def test_a_dm_to_an_unknown_user_is_refused(x):
    account = x.connect("acme")

    answer = x.as_user(account, "POST", "/2/dm_conversations/with/42/messages", json={"text": "hi"})

    assert answer.status_code == 400


# ---------------------------------------------------------------- media


def attached(data: bytes, **fields) -> dict:
    return {**fields, "data_base64": base64.b64encode(data).decode()}


def only_event(delivery: dict):
    (event,) = normalize(delivery)
    return event


def test_a_dm_photo_normalizes_to_media_only_the_dm_accounts_can_fetch(x, webhook, acme):
    photo = attached(
        b"\xff\xd8 jane's photo", type="photo", content_type="image/jpeg", file_name="receipt.jpg"
    )

    answer = x.sandbox_call(
        "POST", "/customers/jane/dm", json={"to": "acme", "text": "Broken", "media": [photo]}
    )

    assert answer.status_code == 200
    dm = answer.json()["dm"]
    (summary,) = dm["media"]
    url = f"{x.url}/1.1/ton/data/dm/{dm['dm_event_id']}/{summary['id']}/receipt.jpg"
    assert summary == {
        "id": summary["id"],
        "media_key": f"3_{summary['id']}",
        "type": "photo",
        "content_type": "image/jpeg",
        "url": url,
        "preview_url": url,
    }
    aaa, xaa = webhook.bodies()
    for delivery in (aaa, xaa):
        event = only_event(delivery)
        assert event.kind == "direct_message_received" and event.text == "Broken"
        assert event.media == [Media(url=url, media_type="photo")]
    message_data = aaa["direct_message_events"][0]["message_create"]["message_data"]
    link = message_data["attachment"]["media"]["url"]
    assert message_data["text"] == f"Broken {link}" and link.startswith("https://t.co/")
    assert message_data["entities"]["urls"][0]["indices"] == [7, 7 + len(link)]
    assert message_data["attachment"]["media"]["indices"] == [7, 7 + len(link)]
    path = url.removeprefix(x.url)
    fetched = x.as_user(acme, "GET", path)
    assert (fetched.status_code, fetched.content) == (200, b"\xff\xd8 jane's photo")
    assert fetched.headers["Content-Type"] == "image/jpeg"
    assert requests.get(url, timeout=5).status_code == 401
    assert x.as_user(x.connect("bob"), "GET", path).status_code == 401  # not in the DM
    assert x.as_user({**acme, "oauth_token_secret": "forged"}, "GET", path).status_code == 401


def test_a_dm_of_a_video_alone_is_its_mp4_with_a_still(x, webhook, acme):
    answer = x.sandbox_call(
        "POST", "/customers/jane/dm", json={"to": "acme", "media": [{"type": "video"}]}
    )

    (summary,) = answer.json()["dm"]["media"]
    aaa, _ = webhook.bodies()
    event = only_event(aaa)
    assert event.text == ""
    assert event.media == [Media(url=summary["url"], media_type="video", content_type="video/mp4")]
    assert summary["url"].endswith("/video.mp4")
    message_data = aaa["direct_message_events"][0]["message_create"]["message_data"]
    media = message_data["attachment"]["media"]
    assert message_data["text"] == " " + media["url"]  # as X sends a DM of media alone
    assert media["media_url_https"] == summary["preview_url"]
    assert media["video_info"]["variants"] == [
        {"bitrate": 832000, "content_type": "video/mp4", "url": summary["url"]}
    ]
    video = x.as_user(acme, "GET", summary["url"].removeprefix(x.url))
    still = x.as_user(acme, "GET", summary["preview_url"].removeprefix(x.url))
    assert (video.content, video.headers["Content-Type"]) == (GENERATED_MP4, "video/mp4")
    assert (still.content, still.headers["Content-Type"]) == (GENERATED_PNG, "image/png")
    assert GENERATED_PNG.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_mention_media_normalize_alike_in_both_shapes_and_are_public(x, webhook, acme):
    media = [
        attached(b"first photo", type="photo", content_type="image/jpeg"),
        {"type": "photo"},
        attached(b"a gif as mp4", type="animated_gif"),
    ]

    answer = x.sandbox_call(
        "POST", "/customers/jane/mention", json={"to": "acme", "text": "look", "media": media}
    )

    post = answer.json()["post"]
    photo, png, gif = post["media"]
    assert [item["url"].removeprefix(x.url) for item in post["media"]] == [
        f"/media/3_{photo['id']}.jpg",
        f"/media/3_{png['id']}.png",
        f"/media/16_{gif['id']}.mp4",
    ]
    expected = [
        Media(url=photo["url"], media_type="photo"),
        Media(url=png["url"], media_type="photo"),
        Media(url=gif["url"], media_type="animated_gif", content_type="video/mp4"),
    ]
    aaa, xaa = webhook.bodies()
    assert only_event(aaa).text == "@acme look"
    assert only_event(aaa).media == expected == only_event(xaa).media
    tweet = aaa["tweet_create_events"][0]
    link = tweet["entities"]["media"][0]["url"]
    assert tweet["text"] == f"@acme look {link}"
    assert len(tweet["entities"]["media"]) == 1 and len(tweet["extended_entities"]["media"]) == 3
    assert tweet["extended_entities"]["media"][2]["video_info"]["variants"][0]["bitrate"] == 0
    data = xaa["data"]
    assert data["payload"]["text"] == f"@acme look {link}"
    assert data["payload"]["attachments"]["media_keys"] == [
        item["media_key"] for item in post["media"]
    ]
    assert data["payload"]["entities"]["urls"][0]["media_key"] == photo["media_key"]
    assert data["includes"]["media"][2] == {
        "media_key": gif["media_key"],
        "type": "animated_gif",
        "preview_image_url": gif["preview_url"],
        "variants": [{"bit_rate": 0, "content_type": "video/mp4", "url": gif["url"]}],
    }
    for item, content in zip(
        post["media"], [b"first photo", GENERATED_PNG, b"a gif as mp4"], strict=True
    ):
        fetched = requests.get(item["url"], timeout=5)  # no signature: post media are public
        assert (fetched.status_code, fetched.content) == (200, content)
        assert fetched.headers["Content-Type"] == item["content_type"]
    assert requests.get(gif["preview_url"], timeout=5).content == GENERATED_PNG


@pytest.mark.parametrize(
    ("action", "media"),
    [
        ("dm", {"type": "photo"}),
        ("dm", [{"type": "photo"}, {"type": "photo"}]),
        ("mention", [{"type": "photo"}] * 5),
        ("dm", [{"type": "sticker"}]),
        ("dm", ["photo"]),
        ("dm", [{"type": "video", "content_type": "video/quicktime"}]),
        ("dm", [{"type": "photo", "content_type": "video/mp4"}]),
        ("dm", [{"type": "photo", "file_name": "../../etc/passwd"}]),
        ("dm", [{"type": "photo", "file_name": ".hidden"}]),
        ("dm", [{"type": "photo", "data_base64": "not base64!"}]),
        ("dm", [{"type": "photo", "data_base64": ""}]),
        ("dm", [{"type": "photo", "data_base64": 42}]),
    ],
)
def test_bad_media_are_refused(x, action, media):
    body = {"to": "acme", "text": "hi", "media": media}

    answer = x.sandbox_call("POST", f"/customers/jane/{action}", json=body)

    assert answer.status_code == 400 and "media" in answer.json()["error"]


def test_text_may_be_left_out_only_with_media(x):
    answer = x.sandbox_call("POST", "/customers/jane/mention", json={"to": "acme"})

    assert answer.status_code == 400 and "unless media" in answer.json()["error"]


def test_unknown_media_are_not_found_and_faults_reach_media(x):
    post = x.sandbox_call(
        "POST", "/customers/jane/mention", json={"to": "acme", "media": [{"type": "photo"}]}
    ).json()["post"]
    x.sandbox_call("POST", "/faults", json={"endpoint": "media", "status": 503})

    failed = requests.get(post["media"][0]["url"], timeout=5)

    assert failed.status_code == 503
    assert requests.get(post["media"][0]["url"], timeout=5).status_code == 200
    assert requests.get(f"{x.url}/media/3_1.png", timeout=5).status_code == 404
    assert requests.get(f"{x.url}/1.1/ton/data/dm/1/2/a.png", timeout=5).status_code == 404


# ---------------------------------------------------------------- faults and revokes


def test_faults_throttle_or_fail_the_next_calls(x):
    account = x.connect("acme")
    jane = x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})
    path = f"/2/dm_conversations/with/{jane.json()['dm']['from']['id']}/messages"
    set_ = x.sandbox_call(
        "POST", "/faults", json={"endpoint": "dm", "status": 429, "times": 2, "reset_in": 30}
    )
    x.sandbox_call("POST", "/faults", json={"endpoint": "tweet", "status": 503})
    assert set_.status_code == 201

    throttled = [x.as_user(account, "POST", path, json={"text": f"try {n}"}) for n in range(3)]
    failed = x.as_user(account, "POST", "/2/tweets", json={"text": "a post"})

    assert [answer.status_code for answer in throttled] == [429, 429, 201]
    reset = int(throttled[0].headers["x-rate-limit-reset"])
    assert abs(reset - (time.time() + 30)) < 5
    assert throttled[0].headers["x-rate-limit-remaining"] == "0"
    assert failed.status_code == 503
    assert x.sandbox_call("GET", "/faults").json() == {"faults": []}


def test_faults_are_listed_and_cleared(x):
    x.sandbox_call("POST", "/faults", json={"status": 500, "times": 3})

    assert x.sandbox_call("GET", "/faults").json() == {
        "faults": [{"endpoint": "*", "status": 500, "times": 3, "reset_in": 900}]
    }
    assert x.sandbox_call("DELETE", "/faults").json() == {"faults": []}
    assert x.request_token().status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"status": 200},
        {"status": "429"},
        {"endpoint": "everything", "status": 429},
        {"status": 429, "times": 0},
    ],
)
def test_a_fault_needs_a_valid_body(x, body):
    assert x.sandbox_call("POST", "/faults", json=body).status_code == 400


def test_a_revoke_ends_the_tokens_and_subscriptions_and_is_delivered(x, webhook, acme):
    answer = x.sandbox_call("POST", "/accounts/acme/revoke")

    assert answer.status_code == 200
    aaa, xaa = webhook.bodies()
    assert aaa["user_event"]["revoke"]["source"] == {"user_id": acme["user_id"]}
    assert xaa["data"]["event_type"] == "oauth.revoke"
    assert xaa["data"]["payload"]["user_id"] == acme["user_id"]
    assert x.as_user(acme, "POST", "/2/tweets", json={"text": "still here?"}).status_code == 401
    assert x.sandbox_call("GET", "").json()["subscriptions"] == []
    assert x.sandbox_call("POST", "/accounts/acme/revoke").status_code == 404


def test_the_overview_counts_the_calls_x_api_received_by_route(x, acme):
    x.sandbox_call("POST", "/customers/jane/dm", json={"to": "acme", "text": "hi"})
    jane = Account.named("jane").id
    sent = x.as_user(acme, "POST", f"/2/dm_conversations/with/{jane}/messages", json={"text": "ok"})
    refused = requests.get(f"{x.url}/2/webhooks", timeout=5)

    requests_received = x.sandbox_call("GET", "").json()["requests"]

    assert sent.status_code == 201 and refused.status_code == 401
    # acme's connection, the webhook's registration and the subscriptions, the DM, and the
    # refused call; neither X's authorize page nor the sandbox's own side
    assert requests_received == {
        "total": 10,
        "by_route": {
            "request_token": 1,
            "access_token": 1,
            "app_token": 1,
            "register_webhook": 1,
            "subscribe_account_activity": 1,
            "subscribe_activity": 3,
            "send_dm": 1,
            "list_webhooks": 1,
        },
    }


# ---------------------------------------------------------------- the local stack's settings


def test_the_local_stack_uses_the_sandbox_unless_told_otherwise():
    assert Settings.from_environment({}).sandbox
    assert Settings.from_environment({"SANDBOX": "1"}).sandbox
    sandboxed = Settings.from_environment({"X_CONSUMER_KEY": "k", "X_CONSUMER_SECRET": "s"})
    assert (sandboxed.x_consumer_key, sandboxed.x_consumer_secret) == ("k", "s")
    assert "'s'" not in repr(sandboxed)


def test_the_real_x_needs_the_app_credentials():
    credentials = {
        "X_CONSUMER_KEY": "k",
        "X_CONSUMER_SECRET": "s",
        "X_CLIENT_ID": "id",
        "X_CLIENT_SECRET": "client-s3cret",
    }
    real = Settings.from_environment({"SANDBOX": "0", **credentials})
    assert not real.sandbox and real.x_api_base_url == "https://api.x.com"
    assert (real.x_client_id, real.x_client_secret) == ("id", "client-s3cret")
    assert "client-s3cret" not in repr(real)
    other = Settings.from_environment(
        {"SANDBOX": "0", **credentials, "X_API_BASE_URL": "https://x.example.com"}
    )
    assert other.x_api_base_url == "https://x.example.com"
    with pytest.raises(ValueError, match="X_CONSUMER_KEY and X_CONSUMER_SECRET"):
        Settings.from_environment({"SANDBOX": "0", "X_CONSUMER_KEY": "k"})
    # OAuth 2.0 connections need the app's client too.
    for missing in ("X_CLIENT_ID", "X_CLIENT_SECRET"):
        partial = {name: value for name, value in credentials.items() if name != missing}
        with pytest.raises(ValueError, match="X_CLIENT_ID and X_CLIENT_SECRET"):
            Settings.from_environment({"SANDBOX": "0", **partial})
    with pytest.raises(ValueError, match="SANDBOX"):
        Settings.from_environment({"SANDBOX": "yes"})


def test_the_banner_says_where_the_sandbox_is_and_how_to_act_as_a_customer(sandbox):
    stack = LocalStack(Settings())
    stack.base_url = "http://localhost:3000"
    stack.x_sandbox = sandbox

    banner = stack.banner()

    assert f"X sandbox      {sandbox.base_url}" in banner
    assert f"curl -X POST {sandbox.base_url}/sandbox/customers/jane/chat --data" in banner
    assert f"curl -X POST {sandbox.base_url}/sandbox/customers/jane/dm --data" in banner
    assert f"curl {sandbox.base_url}/sandbox/sent" in banner
    real = LocalStack(Settings(sandbox=False, x_consumer_key="k", x_consumer_secret="s"))
    assert "X              https://api.x.com" in real.banner()
