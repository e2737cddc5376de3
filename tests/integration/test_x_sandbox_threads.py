"""The sandbox X's threads: a customer's reply in the company's thread is delivered as
post.reply.create (XAA) and tweet_create_events (AAA), and as post.mention.create too only
when the customer typed @company; and the summoned-reply rule, which refuses the company's
reply to a post whose author did not summon it."""

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from sandboxes.x import XSandbox
from sandboxes.x.payloads import Account
from twittnow.x_app import crc_response

KEY, SECRET = "threads-test-key", "threads-test-secret"
REDIRECT_URI = "http://localhost:3000/twitter-callback"
SCOPE = "tweet.read tweet.write users.read dm.read dm.write offline.access"
ACME, JANE = Account.named("acme"), Account.named("jane")
NOT_SUMMONED = {
    "title": "Forbidden",
    "detail": (
        "Reply to this conversation is not allowed because you have not been mentioned or "
        "otherwise engaged by the author of the post you are replying to."
    ),
    "type": "about:blank",
    "status": 403,
}


class Webhook:
    """A webhook on loopback: passes the CRC check, answers deliveries 200."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = dict(parse_qsl(urlsplit(self.path).query))["crc_token"]
                self._answer(json.dumps(crc_response(SECRET, token)).encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
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

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Thread:
    """@acme connected with OAuth 2.0 and subscribed, through both APIs, to its mentions
    and to the replies to its posts; the customers act through the sandbox's controls."""

    def __init__(self, sandbox: XSandbox, webhook: Webhook):
        self.sandbox = sandbox
        self.url = sandbox.base_url
        self.acme = self._connect("acme")
        app = requests.post(
            f"{self.url}/oauth2/token",
            auth=(KEY, SECRET),
            data={"grant_type": "client_credentials"},
            timeout=5,
        ).json()["access_token"]
        registered = requests.post(
            f"{self.url}/2/webhooks",
            json={"url": webhook.url},
            headers={"Authorization": f"Bearer {app}"},
            timeout=15,
        )
        webhook_id = registered.json()["data"]["id"]
        aaa = f"/2/account_activity/webhooks/{webhook_id}/subscriptions/all"
        assert self.as_acme("POST", aaa).status_code == 200
        for event_type in ("post.mention.create", "post.reply.create"):
            subscription = {
                "event_type": event_type,
                "filter": {"user_id": ACME.id},
                "webhook_id": webhook_id,
            }
            answer = self.as_acme("POST", "/2/activity/subscriptions", json=subscription)
            assert answer.status_code == 200, answer.text

    def _connect(self, screen_name: str) -> str:
        """The OAuth 2.0 flow, approved as `screen_name`: its access token."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        query = {
            "response_type": "code",
            "client_id": self.sandbox.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "approve": screen_name,
        }
        location = requests.get(
            self.sandbox.oauth2_authorize_url, params=query, allow_redirects=False, timeout=5
        ).headers["Location"]
        form = {
            "grant_type": "authorization_code",
            "code": dict(parse_qsl(urlsplit(location).query))["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        credentials = (self.sandbox.client_id, self.sandbox.client_secret)
        tokens = requests.post(f"{self.url}/2/oauth2/token", data=form, auth=credentials, timeout=5)
        return tokens.json()["access_token"]

    def as_acme(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.acme}"}
        return requests.request(method, self.url + path, headers=headers, timeout=15, **kwargs)

    def acme_replies(self, post_id: str, text: str) -> requests.Response:
        body = {"text": text, "reply": {"in_reply_to_tweet_id": post_id}}
        return self.as_acme("POST", "/2/tweets", json=body)

    def customer(self, screen_name: str, action: str, **body) -> dict:
        answer = requests.post(
            f"{self.url}/sandbox/customers/{screen_name}/{action}", json=body, timeout=15
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def started(self) -> str:
        """Jane mentions @acme and @acme answers in her thread: the answer's id."""
        mention = self.customer("jane", "mention", to="acme", text="my order never came")
        answer = self.acme_replies(mention["post"]["id"], "@jane Sorry! Let us look.")
        assert answer.status_code == 201, answer.text
        assert self.sandbox.drain()
        return answer.json()["data"]["id"]


@pytest.fixture
def thread():
    webhook = Webhook()
    with XSandbox(KEY, SECRET) as sandbox:
        yield Thread(sandbox, webhook)
    webhook.close()


def events(answer: dict) -> list[tuple[str, str | None]]:
    """The deliveries the customer's post made (each answered 200): event, for whom."""
    assert all(delivery["status"] == 200 for delivery in answer["deliveries"])
    return sorted((delivery["event"], delivery["for_user_id"]) for delivery in answer["deliveries"])


def body_of(answer: dict, event: str) -> dict:
    (delivery,) = [delivery for delivery in answer["deliveries"] if delivery["event"] == event]
    return delivery["body"]


# ---------------------------------------------------------------- deliveries


def test_a_reply_typed_without_mention_is_post_reply_create_not_post_mention_create(thread):
    ours = thread.started()

    answer = thread.customer("jane", "reply", in_reply_to=ours, text="still nothing")

    post = answer["post"]
    assert post["text"] == "@acme still nothing"  # X names whom she replies to
    assert post["in_reply_to_post_id"] == ours
    assert events(answer) == [("post.reply.create", ACME.id), ("tweet_create_events", ACME.id)]
    reply = body_of(answer, "post.reply.create")["data"]
    assert reply["filter"] == {"user_id": ACME.id}
    payload = reply["payload"]
    assert (payload["id"], payload["author_id"], payload["text"]) == (
        post["id"],
        JANE.id,
        "@acme still nothing",
    )
    assert payload["display_text_range"] == [6, 19]  # what she typed: not the @acme before it
    assert payload["in_reply_to_user_id"] == ACME.id
    assert payload["in_reply_to_tweet_id"] == ours
    assert payload["referenced_tweets"] == [{"type": "replied_to", "id": ours}]
    assert payload["conversation_id"] == post["conversation_id"]
    assert payload["entities"]["mentions"] == [
        {"start": 0, "end": 5, "username": "acme", "id": ACME.id}
    ]
    assert [tweet["id"] for tweet in reply["includes"]["tweets"]] == [post["id"], ours]
    tweet = body_of(answer, "tweet_create_events")["tweet_create_events"][0]
    assert tweet["in_reply_to_status_id_str"] == ours
    assert tweet["in_reply_to_user_id_str"] == ACME.id
    assert tweet["text"] == "@acme still nothing" and tweet["display_text_range"] == [6, 19]


def test_a_reply_with_an_explicit_mention_is_both_post_reply_create_and_post_mention_create(
    thread,
):
    ours = thread.started()

    answer = thread.customer("jane", "reply", in_reply_to=ours, text="@acme hello??")

    assert answer["post"]["text"] == "@acme @acme hello??"
    assert events(answer) == [
        ("post.mention.create", ACME.id),
        ("post.reply.create", ACME.id),
        ("tweet_create_events", ACME.id),
    ]
    mention = body_of(answer, "post.mention.create")["data"]["payload"]
    assert [item["start"] for item in mention["entities"]["mentions"]] == [0, 6]


def test_a_mention_in_reply_to_the_companys_post_is_both_events(thread):
    ours = thread.started()

    answer = thread.customer("jane", "mention", to="acme", text="any news?", in_reply_to=ours)

    assert events(answer) == [
        ("post.mention.create", ACME.id),
        ("post.reply.create", ACME.id),
        ("tweet_create_events", ACME.id),
    ]


def test_a_first_mention_is_not_a_reply(thread):
    answer = thread.customer("jane", "mention", to="acme", text="hello")

    assert events(answer) == [("post.mention.create", ACME.id), ("tweet_create_events", ACME.id)]


def test_a_reply_to_a_reply_is_post_reply_create_for_its_direct_parent_only(thread):
    """Jane answers her own follow-up: a reply to her post, not to @acme's."""
    ours = thread.started()
    follow_up = thread.customer("jane", "reply", in_reply_to=ours, text="hello?")

    answer = thread.customer("jane", "reply", in_reply_to=follow_up["post"]["id"], text="anyone?")

    assert answer["post"]["text"] == "anyone?"  # her own post: X names nobody before it
    assert events(answer) == []


def test_only_the_shape_asked_for_is_delivered(thread):
    ours = thread.started()

    answer = thread.customer("jane", "reply", in_reply_to=ours, text="hm", shape="activity")

    assert events(answer) == [("post.reply.create", ACME.id)]


def test_a_reply_carries_media_after_what_was_typed(thread):
    ours = thread.started()

    answer = thread.customer(
        "jane", "reply", in_reply_to=ours, media=[{"type": "photo"}], shape="activity"
    )

    payload = body_of(answer, "post.reply.create")["data"]["payload"]
    assert answer["post"]["text"] == "@acme"
    assert payload["text"].startswith("@acme https://t.co/")
    assert payload["display_text_range"] == [5, 5]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"in_reply_to": "1", "text": "hi"}, 404), ({"text": "hi"}, 404), ({}, 404)],
)
def test_a_reply_needs_a_post_of_the_sandbox_to_reply_to(thread, body, status):
    answer = requests.post(f"{thread.url}/sandbox/customers/jane/reply", json=body, timeout=5)

    assert answer.status_code == status and answer.json()["error"]


def test_a_reply_needs_text_or_media(thread):
    ours = thread.started()

    answer = requests.post(
        f"{thread.url}/sandbox/customers/jane/reply", json={"in_reply_to": ours}, timeout=5
    )

    assert answer.status_code == 400


# ---------------------------------------------------------------- the summoned-reply rule


def test_the_company_may_reply_to_a_post_that_mentions_it(thread):
    mention = thread.customer("jane", "mention", to="acme", text="help")

    assert thread.acme_replies(mention["post"]["id"], "@jane Here to help").status_code == 201


def test_the_company_may_not_reply_to_a_reply_that_does_not_mention_it(thread):
    ours = thread.started()
    follow_up = thread.customer("jane", "reply", in_reply_to=ours, text="still nothing")

    refused = thread.acme_replies(follow_up["post"]["id"], "@jane Checking now")

    assert (refused.status_code, refused.json()) == (403, NOT_SUMMONED)
    sent = requests.get(f"{thread.url}/sandbox/sent", timeout=5).json()
    assert [item["text"] for item in sent] == ["@jane Sorry! Let us look."]


def test_a_reply_that_mentions_the_company_summons_it_again(thread):
    ours = thread.started()
    follow_up = thread.customer("jane", "reply", in_reply_to=ours, text="@acme still nothing")

    assert thread.acme_replies(follow_up["post"]["id"], "@jane Checking now").status_code == 201


def test_the_company_may_not_reply_to_a_post_that_mentions_someone_else(thread):
    other = thread.customer("jane", "mention", to="globex", text="you are better")

    refused = thread.acme_replies(other["post"]["id"], "@jane Try us!")

    assert (refused.status_code, refused.json()) == (403, NOT_SUMMONED)


def test_the_company_may_continue_its_own_thread(thread):
    ours = thread.started()

    assert thread.acme_replies(ours, "@jane (2/2) We will write back today.").status_code == 201


def test_a_reply_to_a_post_x_does_not_have_is_refused(thread):
    refused = thread.acme_replies("1234567890", "@jane hello")

    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "You attempted to reply to a Tweet that is deleted or not visible to you."
    )
