"""The sandbox X's X Chat over HTTP, as the service will use it: the company account's
public keys (and X's rate limit on registering them), a customer's encrypted message that
the account decrypts and verifies with the Chat XDK, a forged signature refused, the
account's replies read and verified as the customer, conversation keys and their rotation,
the events history, encrypted media, scopes; and deliveries going missing: dropped, a
webhook down for a window, and X's replay of a window."""

import base64
import hashlib
import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from chat_xdk import Chat

from sandboxes.x import XSandbox
from sandboxes.x.payloads import Account
from twittnow.x_app import crc_response, delivery_signature

KEY, SECRET = "chat-test-key", "chat-test-secret"
REDIRECT_URI = "http://localhost:3000/twitter-callback"
SCOPE = "tweet.read users.read dm.read dm.write media.write offline.access"
ACME, JANE, JOHN = Account.named("acme"), Account.named("jane"), Account.named("john")
CONVERSATION = "-".join(sorted((ACME.id, JANE.id), key=int))
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)


class Webhook:
    """A webhook on loopback: passes the CRC check, answers deliveries 200 and keeps them
    (body and signature header)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler) -> None:
                token = dict(parse_qsl(urlsplit(handler.path).query))["crc_token"]
                handler._answer(json.dumps(crc_response(SECRET, token)).encode())

            def do_POST(handler) -> None:
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                self.received.append((body, handler.headers["x-twitter-webhooks-signature"]))
                handler._answer(b"")

            def _answer(handler, body: bytes) -> None:
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/twitter-activity"

    def bodies(self, event_type: str) -> list[dict]:
        bodies = [json.loads(body)["data"] for body, _ in self.received]
        return [body for body in bodies if body["event_type"] == event_type]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Company:
    """@acme, connected with OAuth 2.0 and subscribed to chat.received and chat.sent: the
    test plays the service, with its own Chat XDK keys."""

    def __init__(self, sandbox: XSandbox, webhook: Webhook):
        self.sandbox = sandbox
        self.url = sandbox.base_url
        self.token = connect(sandbox, "acme", SCOPE)
        self.chat = Chat()
        registration = self.chat.generate_keypairs()
        self.registration = registration
        self.app = requests.post(
            f"{self.url}/oauth2/token",
            auth=(KEY, SECRET),
            data={"grant_type": "client_credentials"},
            timeout=5,
        ).json()["access_token"]
        registered = self.as_app("POST", "/2/webhooks", json={"url": webhook.url})
        self.webhook_id = registered.json()["data"]["id"]
        for event_type in ("chat.received", "chat.sent"):
            subscription = {
                "event_type": event_type,
                "filter": {"user_id": ACME.id},
                "webhook_id": self.webhook_id,
            }
            answer = self.call("POST", "/2/activity/subscriptions", json=subscription)
            assert answer.status_code == 200, answer.text
        self.conversation_keys: dict[str, bytes] = {}
        self.version = ""  # the registered keys' version, once registered

    def register(self) -> str:
        """Registers the keys, as the service does at connection: the version X gave."""
        answer = self.call(
            "POST", f"/2/users/{ACME.id}/public_keys", json=payload(self.registration)
        )
        assert answer.status_code == 200, answer.text
        self.version = answer.json()["data"]["public_key_version"]
        self.chat.set_identity(ACME.id, self.version)
        return self.version

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=15, **kwargs)

    def as_app(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.call(method, path, token=self.app, **kwargs)

    def signing_keys(self, *user_ids: str) -> list[dict[str, str]]:
        """The users' signing keys, from X, each checked with verify_key_binding."""
        entries = []
        for user_id in user_ids:
            records = self.call("GET", f"/2/users/{user_id}/public_keys").json()["data"]
            for record in records:
                assert self.chat.verify_key_binding(
                    record["public_key"],
                    record["signing_public_key"],
                    record["identity_public_key_signature"],
                )
                entries.append(
                    {
                        "user_id": user_id,
                        "public_key_version": record["public_key_version"],
                        "public_key": record["signing_public_key"],
                        "identity_public_key": record["public_key"],
                        "identity_public_key_signature": record["identity_public_key_signature"],
                    }
                )
        return entries

    def opens(self, delivery: dict) -> dict:
        """A chat.received or chat.sent payload, decrypted and verified as the service
        does (xchat/real-time-events.mdx)."""
        payload = delivery["payload"]
        signing = self.signing_keys(ACME.id, JANE.id)
        if payload.get("conversation_key_change_event"):
            opened = self.chat.decrypt_events([payload["conversation_key_change_event"]], signing)
            assert opened["errors"] == {}
            self.conversation_keys.update(opened["conversation_keys"]["keys"])
        return self.chat.decrypt_event(payload["encoded_event"], self.conversation_keys, signing)

    def sends(self, text: str, key_version: str | None = None, chat: Chat | None = None):
        """An encrypted reply to Jane, under the latest key (or `key_version`), signed by
        `chat` (the account's own keys unless given)."""
        version = key_version or max(self.conversation_keys, key=int)
        sent = (chat or self.chat).encrypt_message(
            CONVERSATION.replace("-", ":"),
            text,
            conversation_key=self.conversation_keys[version],
            conversation_key_version=version,
        )
        body = {
            "message_id": sent.message_id,
            "encoded_message_create_event": sent.encrypted_content,
            "encoded_message_event_signature": sent.encoded_event_signature,
        }
        return sent, self.call("POST", f"/2/chat/conversations/{JANE.id}/messages", json=body)

    def events(self, **query) -> requests.Response:
        return self.call("GET", f"/2/chat/conversations/{CONVERSATION}/events", params=query)


def connect(sandbox: XSandbox, screen_name: str, scope: str) -> str:
    """The OAuth 2.0 flow, approved as `screen_name`: its access token."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    query = {
        "response_type": "code",
        "client_id": sandbox.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "approve": screen_name,
    }
    location = requests.get(
        sandbox.oauth2_authorize_url, params=query, allow_redirects=False, timeout=5
    ).headers["Location"]
    form = {
        "grant_type": "authorization_code",
        "code": dict(parse_qsl(urlsplit(location).query))["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    credentials = (sandbox.client_id, sandbox.client_secret)
    answer = requests.post(
        f"{sandbox.base_url}/2/oauth2/token", data=form, auth=credentials, timeout=5
    )
    return answer.json()["access_token"]


def payload(registration) -> dict:
    """POST /2/users/{id}/public_keys's body for a Chat XDK registration."""
    public = registration.public_key
    return {
        "public_key": {
            "identity_public_key_signature": public.identity_public_key_signature,
            "public_key": public.public_key,
            "public_key_fingerprint": public.public_key_fingerprint,
            "registration_method": public.registration_method,
            "signing_public_key": public.signing_public_key,
            "signing_public_key_signature": public.signing_public_key_signature,
        },
        "version": registration.version,
        "generate_version": registration.generate_version,
    }


def control(sandbox: XSandbox, method: str, path: str, **body) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/sandbox{path}", json=body, timeout=15)


def customer_writes(sandbox: XSandbox, text: str, **body) -> dict:
    answer = control(sandbox, "POST", "/customers/jane/chat", to="acme", text=text, **body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def jane_received(sandbox: XSandbox) -> dict:
    answer = control(sandbox, "GET", "/customers/jane/chat")
    assert answer.status_code == 200, answer.text
    return answer.json()


def minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


@pytest.fixture
def webhook():
    receiver = Webhook()
    yield receiver
    receiver.close()


@pytest.fixture
def sandbox():
    with XSandbox(KEY, SECRET) as running:
        yield running


@pytest.fixture
def acme(sandbox, webhook):
    company = Company(sandbox, webhook)
    company.register()
    return company


# ---------------------------------------------------------------- public keys


def test_registered_keys_are_listed_by_any_user_and_a_retry_answers_the_same_version(
    sandbox, webhook
):
    company = Company(sandbox, webhook)
    version = company.register()
    again = company.call(
        "POST", f"/2/users/{ACME.id}/public_keys", json=payload(company.registration)
    )

    assert again.json() == {"data": {"public_key_version": version}}
    public = company.registration.public_key
    records = company.call(
        "GET",
        f"/2/users/{ACME.id}/public_keys",
        token=connect(sandbox, "john", SCOPE),
        params={"public_key.fields": "public_key_version,public_key,signing_public_key"},
    )
    assert records.json() == {
        "data": [
            {
                "public_key_version": version,
                "public_key": public.public_key,
                "signing_public_key": public.signing_public_key,
            }
        ]
    }


def test_registering_keys_is_rate_limited_to_a_few_a_day(sandbox, webhook):
    company = Company(sandbox, webhook)
    versions = []
    for _ in range(3):
        registration = Chat().generate_keypairs()
        answer = company.call("POST", f"/2/users/{ACME.id}/public_keys", json=payload(registration))
        assert answer.status_code == 200, answer.text
        versions.append(answer.json()["data"]["public_key_version"])

    refused = company.call(
        "POST", f"/2/users/{ACME.id}/public_keys", json=payload(Chat().generate_keypairs())
    )

    assert refused.status_code == 429
    assert refused.headers["x-rate-limit-remaining"] == "0"
    assert int(refused.headers["x-rate-limit-reset"]) > datetime.now(UTC).timestamp()
    listed = company.call("GET", f"/2/users/{ACME.id}/public_keys").json()["data"]
    assert [record["public_key_version"] for record in listed] == versions[::-1]  # newest first


def test_keys_are_refused_for_another_user_unbound_or_without_the_scopes(sandbox, webhook):
    company = Company(sandbox, webhook)
    registration = payload(company.registration)
    unbound = json.loads(json.dumps(registration))
    unbound["public_key"]["signing_public_key"] = (
        Chat().generate_keypairs().public_key.signing_public_key
    )
    reader = connect(sandbox, "acme", "tweet.read users.read dm.read")

    for path, body, token, status in [
        (f"/2/users/{JANE.id}/public_keys", registration, None, 403),
        (f"/2/users/{ACME.id}/public_keys", unbound, None, 400),
        (f"/2/users/{ACME.id}/public_keys", registration, reader, 403),
        (f"/2/users/{ACME.id}/public_keys", registration, "not-a-token", 401),
    ]:
        assert company.call("POST", path, token=token, json=body).status_code == status

    assert company.call("GET", f"/2/users/{ACME.id}/public_keys").json() == {"data": []}


def test_a_user_is_read_by_id_and_an_unknown_one_is_a_not_found_error(acme):
    missing = acme.call("GET", f"/2/users/{JANE.id}").json()
    assert "data" not in missing
    assert missing["errors"][0]["resource_id"] == JANE.id
    assert missing["errors"][0]["type"] == "https://api.x.com/2/problems/resource-not-found"

    customer_writes(acme.sandbox, "hi")

    assert acme.call("GET", f"/2/users/{JANE.id}").json() == {
        "data": {"id": JANE.id, "name": "jane", "username": "jane"}
    }
    assert acme.as_app("GET", f"/2/users/{JANE.id}").json()["data"]["username"] == "jane"


# ---------------------------------------------------------------- a customer writes


def test_a_customers_message_is_delivered_encrypted_and_the_account_decrypts_and_verifies_it(
    acme, webhook
):
    written = customer_writes(acme.sandbox, "Where is my order?")

    chat = written["chat"]
    assert chat["new_key"] and chat["conversation_id"] == CONVERSATION
    (delivery,) = webhook.bodies("chat.received")
    assert delivery["filter"] == {"user_id": ACME.id}
    body, signature = webhook.received[0]
    assert signature == delivery_signature(SECRET, body)
    payload_ = delivery["payload"]
    assert payload_["conversation_id"] == CONVERSATION and payload_["sender_id"] == JANE.id
    assert payload_["conversation_key_version"] == chat["key_version"]
    assert "Where is my order" not in body.decode()
    event = acme.opens(delivery)
    assert (event["type"], event["content"]["text"], event["verified"]) == (
        "Message",
        "Where is my order?",
        True,
    )
    assert (event["id"], event["sender_id"]) == (chat["message_id"], JANE.id)

    second = customer_writes(acme.sandbox, "Order 42.")
    later = webhook.bodies("chat.received")[1]
    assert not second["chat"]["new_key"]
    assert "conversation_key_change_event" not in later["payload"]  # the key is not new
    assert acme.opens(later)["content"]["text"] == "Order 42."


def test_a_customer_cannot_write_to_an_account_without_keys(sandbox, webhook):
    Company(sandbox, webhook)

    answer = control(sandbox, "POST", "/customers/jane/chat", to="acme", text="hello?")

    assert answer.status_code == 409
    assert "no X Chat keys" in answer.json()["error"]


def test_the_sandbox_does_not_act_as_an_account_that_registered_its_own_keys(acme):
    answer = control(acme.sandbox, "POST", "/customers/acme/chat", to="jane", text="hi")

    assert answer.status_code == 409
    assert "registered its own X Chat keys" in answer.json()["error"]


# ---------------------------------------------------------------- the account replies


def test_the_accounts_reply_reaches_the_customer_verified_and_echoes_as_chat_sent(acme, webhook):
    customer_writes(acme.sandbox, "Hello?")
    acme.opens(webhook.bodies("chat.received")[0])

    sent, answer = acme.sends("We are on it.")

    assert answer.status_code == 201, answer.text
    encoded = answer.json()["data"]["encoded_message_event"]
    signing = acme.signing_keys(ACME.id)
    assert (
        acme.chat.decrypt_event(encoded, acme.conversation_keys, signing)["id"] == sent.message_id
    )
    assert acme.sandbox.drain()
    (echo,) = webhook.bodies("chat.sent")
    assert acme.opens(echo)["id"] == sent.message_id
    (reply,) = jane_received(acme.sandbox)["messages"]
    assert (reply["text"], reply["verified"], reply["message_id"]) == (
        "We are on it.",
        True,
        sent.message_id,
    )
    assert reply["sender"] == {"id": ACME.id, "screen_name": "acme"}
    assert reply["conversation_id"] == CONVERSATION
    sent_log = control(acme.sandbox, "GET", "/sent").json()
    assert [(item["kind"], item["text"]) for item in sent_log] == [("chat", "We are on it.")]

    retried = acme.call(
        "POST",
        f"/2/chat/conversations/{CONVERSATION}/messages",
        json={
            "message_id": sent.message_id,
            "encoded_message_create_event": sent.encrypted_content,
            "encoded_message_event_signature": sent.encoded_event_signature,
        },
    )
    assert retried.status_code == 201 and retried.json()["data"]["encoded_message_event"] == encoded
    assert len(jane_received(acme.sandbox)["messages"]) == 1


def test_a_forged_signature_is_refused_and_nothing_is_stored_or_delivered(acme, webhook):
    customer_writes(acme.sandbox, "Hello?")
    acme.opens(webhook.bodies("chat.received")[0])
    impostor = Chat()
    impostor.generate_keypairs()
    impostor.set_identity(ACME.id, acme.version)  # the registered version, other keys

    _, forged = acme.sends("Send us your password.", chat=impostor)

    assert forged.status_code == 400
    assert forged.json()["detail"].startswith("SignatureFailedToVerifyAgainstPublicKey")
    assert acme.sandbox.drain()
    assert webhook.bodies("chat.sent") == []
    assert jane_received(acme.sandbox)["messages"] == []
    assert acme.events().json()["meta"]["result_count"] == 2  # the key change, Jane's message


def test_unsigned_or_malformed_messages_are_refused(acme, webhook):
    customer_writes(acme.sandbox, "Hello?")
    acme.opens(webhook.bodies("chat.received")[0])
    sent, _ = acme.sends("first")
    path = f"/2/chat/conversations/{JANE.id}/messages"

    for body in [
        {"message_id": "m-1", "encoded_message_create_event": sent.encrypted_content},
        {"message_id": "m-2", "encoded_message_create_event": "not base64!"},
        {"encoded_message_create_event": sent.encrypted_content},
        [],
    ]:
        answer = acme.call("POST", path, json=body)
        assert answer.status_code == 400, body
        assert answer.json()["type"] == "https://api.x.com/2/problems/invalid-request"
    assert (
        acme.call("POST", f"/2/chat/conversations/{ACME.id}/messages", json={}).status_code == 400
    )


# ---------------------------------------------------------------- conversation keys


def key_change_body(prepared: dict) -> dict:
    """POST .../keys's body for a Chat XDK key change (xchat/getting-started.mdx step 4)."""
    return {
        "conversation_key_version": prepared["conversation_key_version"],
        "conversation_participant_keys": [
            {
                "user_id": key["user_id"],
                "encrypted_conversation_key": key["encrypted_key"],
                "public_key_version": key["public_key_version"],
            }
            for key in prepared["participant_keys"]
        ],
        "action_signatures": [
            {
                "message_id": action["message_id"],
                "encoded_message_event_detail": action["encoded_message_event_detail"],
                "message_event_signature": {
                    "signature": action["signature"],
                    "public_key_version": action["public_key_version"],
                    "signature_version": action["signature_version"],
                },
            }
            for action in prepared["action_signatures"]
        ],
    }


def key_inputs(acme: Company) -> list[dict[str, str]]:
    return [
        {
            "user_id": record["user_id"],
            "public_key": record["identity_public_key"],
            "key_version": record["public_key_version"],
        }
        for record in acme.signing_keys(ACME.id, JANE.id)
    ]


def test_the_account_rotates_the_key_and_the_customer_reads_replies_under_it(acme, webhook):
    customer_writes(acme.sandbox, "Hello?")
    acme.opens(webhook.bodies("chat.received")[0])
    prepared = acme.chat.prepare_conversation_key_change(
        key_inputs(acme), conversation_id=CONVERSATION.replace("-", ":")
    )
    old = max(acme.conversation_keys, key=int)

    added = acme.call(
        "POST", f"/2/chat/conversations/{JANE.id}/keys", json=key_change_body(prepared)
    )

    assert added.status_code == 200, added.text
    assert added.json()["data"]["conversation_id"] == CONVERSATION
    assert added.json()["data"]["sequence_id"]
    _, stale = acme.sends("under the old key", key_version=old)
    assert stale.status_code == 400 and stale.json()["detail"].startswith("NonLatestKeyVersion")
    acme.conversation_keys[prepared["conversation_key_version"]] = prepared["conversation_key"]
    _, answer = acme.sends("under the new key")
    assert answer.status_code == 201, answer.text
    (reply,) = jane_received(acme.sandbox)["messages"]
    assert (reply["text"], reply["verified"], reply["key_version"]) == (
        "under the new key",
        True,
        prepared["conversation_key_version"],
    )


def test_a_key_change_not_as_registered_signed_or_described_is_refused_and_not_kept(acme, webhook):
    customer_writes(acme.sandbox, "Hello?")
    impostor = Chat()
    impostor.generate_keypairs()
    impostor.set_identity(ACME.id, acme.version)  # acme's registered version, other keys
    forged = key_change_body(impostor.prepare_conversation_key_change(key_inputs(acme)))
    body = key_change_body(acme.chat.prepare_conversation_key_change(key_inputs(acme)))
    swapped = json.loads(json.dumps(body))
    keys = swapped["conversation_participant_keys"]
    keys[0]["encrypted_conversation_key"], keys[1]["encrypted_conversation_key"] = (
        keys[1]["encrypted_conversation_key"],
        keys[0]["encrypted_conversation_key"],
    )
    unregistered = json.loads(json.dumps(body))
    unregistered["conversation_participant_keys"][0]["public_key_version"] = "1"
    path = f"/2/chat/conversations/{JANE.id}/keys"

    for refused, detail in [
        (forged, "The action signature does not verify"),
        (swapped, "encoded_message_event_detail does not describe this key change."),
        (unregistered, "public_key_version 1 is not a version"),
        ({**body, "action_signatures": []}, "action_signatures are required."),
        ({**body, "conversation_key_version": "v2"}, "conversation_key_version must be digits."),
    ]:
        answer = acme.call("POST", path, json=refused)
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"].startswith(detail)
    assert acme.call("POST", f"/2/chat/conversations/{JOHN.id}/keys", json=body).status_code == 400
    assert acme.call("POST", path, json=body).status_code == 200
    assert acme.call("POST", path, json=body).status_code == 400  # not newer than the latest
    overview = control(acme.sandbox, "GET", "").json()["chat"]
    (conversation,) = overview["conversations"]  # none with John
    assert len(conversation["key_versions"]) == 2


def test_the_customer_rotates_the_key_and_the_next_delivery_carries_it(acme, webhook):
    first = customer_writes(acme.sandbox, "Hello?")["chat"]
    acme.opens(webhook.bodies("chat.received")[0])

    rotated = control(acme.sandbox, "POST", "/customers/jane/chat/rotate-key", to="acme")

    assert rotated.status_code == 200, rotated.text
    new_version = rotated.json()["key_version"]
    assert int(new_version) > int(first["key_version"])
    customer_writes(acme.sandbox, "Still there?")
    delivery = webhook.bodies("chat.received")[1]
    assert delivery["payload"]["conversation_key_version"] == new_version
    assert acme.opens(delivery)["content"]["text"] == "Still there?"


# ---------------------------------------------------------------- history and media


def test_the_history_pages_newest_first_and_decrypts_with_its_key_events(acme):
    for text in ("one", "two", "three"):
        customer_writes(acme.sandbox, text)

    first = acme.events(
        max_results=2, **{"chat_message_event.fields": "id,encoded_event,sender_id"}
    )

    assert first.status_code == 200, first.text
    meta = first.json()["meta"]
    assert (meta["result_count"], meta["has_more"]) == (2, True)
    second = acme.events(max_results=2, pagination_token=meta["next_token"]).json()
    assert (second["meta"]["result_count"], second["meta"]["has_more"]) == (2, False)
    assert "next_token" not in second["meta"]
    events = first.json()["data"] + second["data"]
    assert all(event["sender_id"] == JANE.id for event in first.json()["data"])
    assert set(second["data"][0]) == {"id", "encoded_event"}
    opened = acme.chat.decrypt_events(
        meta["conversation_key_events"] + [event["encoded_event"] for event in events],
        acme.signing_keys(ACME.id, JANE.id),
    )
    assert opened["errors"] == {}
    texts = [
        item["event"]["content"]["text"]
        for item in opened["messages"]
        if item["event"]["type"] == "Message"
    ]
    assert texts == ["three", "two", "one"]
    assert acme.events(max_results=101).status_code == 400
    assert acme.events(pagination_token="nope").status_code == 400


def test_an_attachment_is_served_encrypted_and_decrypts_with_the_conversation_key(acme, webhook):
    media = [
        {"type": "photo", "file_name": "receipt.png", "data_base64": base64.b64encode(PNG).decode()}
    ]
    written = customer_writes(acme.sandbox, "my receipt", media=media)["chat"]

    event = acme.opens(webhook.bodies("chat.received")[0])

    (attachment,) = event["attachments"]
    assert attachment["media_hash_key"] == written["media"][0]["media_hash_key"]
    assert (attachment["filename"], attachment["filesize_bytes"]) == ("receipt.png", len(PNG))
    assert attachment["media_type"] == "image"
    download = acme.call("GET", f"/2/chat/media/{CONVERSATION}/{attachment['media_hash_key']}")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.content != PNG
    key = acme.conversation_keys[event["key_version"]]
    assert acme.chat.decrypt_stream(download.content, key) == PNG
    assert acme.call("GET", f"/2/chat/media/{CONVERSATION}/unknown1").status_code == 404


def test_chat_calls_need_their_scopes_and_a_participant(acme, webhook):
    customer_writes(acme.sandbox, "Hello?")
    media = f"/2/chat/media/{CONVERSATION}/abc"
    writer = connect(acme.sandbox, "acme", "tweet.read users.read dm.write")
    outsider = connect(acme.sandbox, "john", SCOPE)

    assert (
        acme.call("GET", f"/2/chat/conversations/{CONVERSATION}/events", token=writer).status_code
        == 403
    )
    assert acme.call("GET", media, token=writer).status_code == 403
    assert acme.call("GET", f"/2/users/{ACME.id}/public_keys", token=writer).status_code == 403
    assert (
        acme.call(
            "POST", f"/2/chat/conversations/{JANE.id}/keys", token="not-a-token", json={}
        ).status_code
        == 401
    )
    assert (
        requests.get(
            f"{acme.url}/2/chat/conversations/{CONVERSATION}/events", timeout=5
        ).status_code
        == 401
    )
    assert (
        acme.call("GET", f"/2/chat/conversations/{CONVERSATION}/events", token=outsider).status_code
        == 403
    )
    assert acme.call("GET", media, token=outsider).status_code == 403
    assert acme.as_app("GET", f"/2/chat/conversations/{CONVERSATION}/events").status_code == 403


def test_the_overview_shows_chat_state_and_never_a_key(acme, webhook):
    written = customer_writes(acme.sandbox, "Hello?")["chat"]
    event = acme.opens(webhook.bodies("chat.received")[0])
    history = acme.events(**{"chat_message_event.fields": "encoded_event"}).json()

    overview = control(acme.sandbox, "GET", "").json()

    chat = overview["chat"]
    (conversation,) = chat["conversations"]
    assert conversation["conversation_id"] == CONVERSATION
    assert conversation["key_versions"] == [written["key_version"]] == [event["key_version"]]
    users = {entry["screen_name"]: entry for entry in chat["public_keys"]}
    assert users["acme"]["keys_held_by_sandbox"] is False and users["jane"]["keys_held_by_sandbox"]
    text = json.dumps(overview)
    key_change = history["meta"]["conversation_key_events"][0]
    assert key_change not in text
    assert base64.b64encode(acme.conversation_keys[event["key_version"]]).decode() not in text


# ---------------------------------------------------------------- missing deliveries


def test_a_dropped_delivery_is_in_the_history_but_never_posted_nor_replayed(acme, webhook):
    dropped = control(acme.sandbox, "POST", "/deliveries/drop", event_type="chat.received")
    assert dropped.json() == {"drops": {"chat.received": 1}}
    start = datetime.now(UTC)

    written = customer_writes(acme.sandbox, "lost?")

    (delivery,) = written["deliveries"]
    assert (delivery["dropped"], delivery["status"]) == (True, None)
    assert webhook.received == []
    history = acme.events().json()["data"]
    assert len(history) == 2  # the key change and the message
    replay = {
        "webhook_id": acme.webhook_id,
        "from_date": minute(start),
        "to_date": minute(datetime.now(UTC)),
    }
    assert acme.as_app("POST", "/2/webhooks/replay", json=replay).status_code == 200
    assert acme.sandbox.drain()
    assert webhook.received == []
    customer_writes(acme.sandbox, "and this?")
    assert len(webhook.bodies("chat.received")) == 1  # one dropped, no more


def test_a_webhook_down_for_a_window_goes_invalid_and_a_replay_redelivers_the_same_bodies(
    acme, webhook
):
    start = datetime.now(UTC)
    down = control(acme.sandbox, "POST", f"/webhooks/{acme.webhook_id}/down", seconds=600)
    assert down.status_code == 200, down.text

    missed = [customer_writes(acme.sandbox, text)["deliveries"][0] for text in ("one", "two")]

    assert [(item["status"], item["dropped"]) for item in missed] == [(None, False)] * 2
    assert webhook.received == []
    (listed,) = acme.as_app("GET", "/2/webhooks").json()["data"]
    assert listed["valid"] is False
    replay = {
        "webhook_id": acme.webhook_id,
        "from_date": minute(start),
        "to_date": minute(datetime.now(UTC)),
    }
    refused = acme.as_app("POST", "/2/webhooks/replay", json=replay)
    assert refused.status_code == 400 and refused.json()["reason"] == "CrcValidationFailed"

    control(acme.sandbox, "POST", f"/webhooks/{acme.webhook_id}/down", seconds=0)
    customer_writes(acme.sandbox, "while invalid")  # X delivers nothing to an invalid webhook
    assert acme.as_app("PUT", f"/2/webhooks/{acme.webhook_id}").json() == {"data": {"valid": True}}
    job = acme.as_app("POST", "/2/webhooks/replay", json=replay)

    assert job.status_code == 200, job.text
    assert set(job.json()["data"]) == {"job_id", "created_at"}
    assert acme.sandbox.drain()
    originals = {json.dumps(item["body"], sort_keys=True) for item in missed}
    replayed = {json.dumps(json.loads(body), sort_keys=True) for body, _ in webhook.received}
    assert replayed == originals
    assert all(
        signature == delivery_signature(SECRET, body) for body, signature in webhook.received
    )
    texts = [acme.opens(body)["content"]["text"] for body in webhook.bodies("chat.received")]
    assert sorted(texts) == ["one", "two"]
    (shown,) = control(acme.sandbox, "GET", "").json()["replay_jobs"]
    assert (shown["job_id"], shown["state"], shown["deliveries"]) == (
        job.json()["data"]["job_id"],
        "Complete",
        2,
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"from_date": "2026-12-07"}, "QueryParamInvalid"),
        ({"from_date": minute(datetime.now(UTC) - timedelta(hours=25))}, "QueryParamInvalid"),
        ({"from_date": minute(datetime.now(UTC) + timedelta(hours=1))}, "QueryParamInvalid"),
        ({"to_date": minute(datetime.now(UTC) - timedelta(hours=2))}, "QueryParamInvalid"),
        ({"webhook_id": "123"}, "WebhookIdInvalid"),
    ],
)
def test_a_replay_outside_the_last_day_or_for_another_webhook_is_refused(acme, change, reason):
    now = datetime.now(UTC)
    body = {
        "webhook_id": acme.webhook_id,
        "from_date": minute(now - timedelta(hours=1)),
        "to_date": minute(now),
    }

    answer = acme.as_app("POST", "/2/webhooks/replay", json={**body, **change})

    assert answer.status_code == 400
    assert answer.json()["reason"] == reason


def test_a_replay_takes_the_apps_bearer_token(acme):
    now = datetime.now(UTC)
    body = {"webhook_id": acme.webhook_id, "from_date": minute(now), "to_date": minute(now)}

    assert acme.call("POST", "/2/webhooks/replay", json=body).status_code == 403
