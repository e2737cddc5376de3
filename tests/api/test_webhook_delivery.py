"""POST /twitter-activity (aliases /activity/ and /api/activity/): X's signed deliveries,
verified with the X app's consumer secret and queued for the inbound processor.

Whether a delivery was queued is judged by what the processor made of it once the queues
are drained (the stack's pollers consume the inbound queue at once, so the queue itself is
always empty when looked at): a DM from a customer to a connected account becomes that
customer's conversation, GET /conversations/ as the tenant. Each refusal is followed by
the same body, well signed, to show that it would have made one."""

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from sandboxes.x.payloads import (
    Account,
    ActivitySubscription,
    aaa_direct_message,
    aaa_revoke,
    xaa_direct_message_payload,
    xaa_event,
    xaa_revoke,
)
from tests.api.client import assert_envelope
from tests.api.desks import (
    SIGNATURE_HEADER,
    WEBHOOK,
    account_activity_dm,
    close_desk,
    connect_x,
    dm_from,
    drained,
    open_desk,
    post_delivery,
    signature,
)

ALIASES = [
    "/twitter-activity",
    "/twitter-activity/",
    "/activity",
    "/activity/",
    "/api/activity",
    "/api/activity/",
]


@pytest.fixture
def desk(api, tenant):
    desk = open_desk(api, tenant)
    yield desk
    close_desk(desk)


@pytest.fixture
def customer(desk) -> str:
    """A customer the sandbox X knows, so that the case number the service answers a
    hand-made delivery with reaches them."""
    name = f"jane_{uuid.uuid4().hex[:8]}"
    desk.introduce(name)
    return name


def customers_of(desk) -> set[str]:
    return {item["customer_screen_name"] for item in desk.conversations()}


def wait_for(condition, timeout: float = 30):
    """Polls `condition` until it answers something truthy; answers that."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def assert_refused_and_not_queued(api, desk, customer, body: str, reply) -> None:
    """`reply` refused `body` (a DM from `customer`) as unsigned; nothing came of it, and
    the same body signed would have been queued: the check is not vacuous."""
    assert_envelope(reply, 401, "NOT_AUTHENTICATED")
    assert "x-twitter-webhooks-signature" in reply.body["error"]
    drained(api.stack)
    assert customer not in customers_of(desk)

    assert post_delivery(api, body).body == {"queued": 1}
    drained(api.stack)
    assert customer in customers_of(desk)


# ---------------------------------------------------------------- accepted


def test_a_customers_dm_is_queued_and_becomes_their_conversation(api, desk, customer, other_tenant):
    reply = post_delivery(api, account_activity_dm(desk, customer, "My parcel is lost."))
    assert reply.status == 200, reply.body
    assert reply.body == {"queued": 1}
    assert reply.headers["Content-Type"].startswith("application/json")
    drained(api.stack)

    [customer_message, acknowledgement] = desk.messages_with(customer)
    assert (customer_message["author"], customer_message["text"]) == (
        "customer",
        "My parcel is lost.",
    )
    assert customer_message["status"] == "case_created"
    assert acknowledgement["author"] == "bot"
    # It is the account's tenant's conversation, and no one else's.
    assert api.get("/conversations/", token=other_tenant.token).body["count"] == 0


def test_an_account_activity_batch_of_two_dms_queues_both(api, desk, customer):
    other = f"john_{uuid.uuid4().hex[:8]}"
    desk.introduce(other)
    first = account_activity_dm(desk, customer, "Where is my order?")
    second = account_activity_dm(desk, other, "My card was charged twice.")
    # AAA batches several events in one delivery, with every user they name.
    batch = {
        "for_user_id": desk.x_account.id,
        "direct_message_events": first["direct_message_events"] + second["direct_message_events"],
        "users": {**first["users"], **second["users"]},
    }
    assert post_delivery(api, batch).body == {"queued": 2}
    drained(api.stack)

    assert desk.messages_with(customer)[0]["text"] == "Where is my order?"
    assert desk.messages_with(other)[0]["text"] == "My card was charged twice."


def test_an_x_activity_api_dm_is_queued(api, desk, customer):
    message = dm_from(customer, desk.x_account, "Hello from the X Activity API")
    subscription = ActivitySubscription("sub-1", "dm.received", desk.x_account.id, None, None)
    delivery = xaa_event(str(uuid.uuid4()), subscription, xaa_direct_message_payload(message))
    assert post_delivery(api, delivery).body == {"queued": 1}
    drained(api.stack)
    assert desk.messages_with(customer)[0]["text"] == "Hello from the X Activity API"


def test_an_x_chat_delivery_is_queued_encrypted_and_one_tampered_with_shows_failed(
    api, desk, customer
):
    """The webhook queues X Chat's ciphertext as it came; the processor verifies it. A
    delivery whose encrypted event was changed (signed by X all the same) is a failed
    message with why, beside the message it was a copy of, and changes no case."""
    written = desk.x(
        "POST", f"/sandbox/customers/{customer}/chat", to=desk.account, text="My parcel is lost."
    )
    [received] = [d for d in written["deliveries"] if d["event"] == "chat.received"]
    drained(api.stack)
    [case] = desk.cases_of(customer)
    delivery = received["body"]
    payload = delivery["data"]["payload"]
    encoded = bytearray(base64.b64decode(payload["encoded_event"]))
    encoded[-40] ^= 0x01
    payload["encoded_event"] = base64.b64encode(bytes(encoded)).decode()
    delivery["data"]["event_uuid"] = str(uuid.uuid4())

    assert post_delivery(api, delivery).body == {"queued": 1}
    drained(api.stack)

    failed = [m for m in desk.messages_with(customer) if m["status"] == "failed"]
    assert [(m["author"], m["channel"], m["text"]) for m in failed] == [("customer", "x_chat", "")]
    assert "could not be read" in failed[0]["status_detail"]
    assert desk.cases_of(customer) == [case]
    assert [m["author"] for m in desk.messages_with(customer)].count("customer") == 2


def test_the_signature_covers_the_raw_utf8_body(api, desk, customer):
    """X sends UTF-8 as is, not as \\u escapes: the signature is over those bytes."""
    text = "Grüße aus Köln 👋 — 日本語"
    body = json.dumps(account_activity_dm(desk, customer, text), ensure_ascii=False)
    assert post_delivery(api, body).body == {"queued": 1}
    drained(api.stack)
    assert desk.messages_with(customer)[0]["text"] == text


@pytest.mark.parametrize("header", ["X-Twitter-Webhooks-Signature", "X-TWITTER-WEBHOOKS-SIGNATURE"])
def test_the_signature_header_is_read_whatever_its_case(api, desk, customer, header):
    """HTTP header names are case-insensitive, and API Gateway passes them as sent."""
    body = json.dumps(account_activity_dm(desk, customer, "Capitalized header"))
    signed = signature(api.stack.x_sandbox.consumer_secret, body)
    assert api.post(WEBHOOK, data=body, headers={header: signed}).body == {"queued": 1}


def test_every_alias_verifies_and_queues(api, desk):
    customers = {path: f"alias_{uuid.uuid4().hex[:8]}" for path in ALIASES}
    for path, name in customers.items():
        desk.introduce(name)
        body = json.dumps(account_activity_dm(desk, name, f"Sent to {path}"))
        assert_envelope(api.post(path, data=body), 401, "NOT_AUTHENTICATED")
        reply = post_delivery(api, body, path)
        assert reply.status == 200, (path, reply.body)
        assert reply.body == {"queued": 1}, path
    drained(api.stack)
    for path, name in customers.items():
        assert desk.messages_with(name)[0]["text"] == f"Sent to {path}"


def test_a_revoke_for_a_connected_account_is_queued_and_marks_it_broken(api, desk):
    delivery = aaa_revoke(desk.x_account, datetime.now(UTC))
    assert post_delivery(api, delivery).body == {"queued": 1}
    drained(api.stack)
    details = desk.x_details()
    assert details["status"] == "broken", details


# ---------------------------------------------------------------- the CRC is no signing oracle


def forged_deliveries(desk, customer) -> dict[str, str]:
    """What an attacker would like signed: a DM "from" a customer, through each X API,
    and a revoke of the tenant's connection."""
    dm = dm_from(customer, desk.x_account, "Forged: refund me")
    subscription = ActivitySubscription("sub-1", "dm.received", desk.x_account.id, None, None)
    return {
        "account activity dm": json.dumps(aaa_direct_message(desk.x_account, dm)),
        "x activity dm": json.dumps(
            xaa_event(str(uuid.uuid4()), subscription, xaa_direct_message_payload(dm))
        ),
        "revoke": json.dumps(aaa_revoke(desk.x_account, datetime.now(UTC))),
    }


def crc_path(path: str, token: str) -> str:
    return f"{path}?{urlencode({'crc_token': token})}"


@pytest.mark.parametrize("path", ALIASES)
def test_the_crc_challenge_signs_no_forged_delivery(api, desk, customer, path):
    """The CRC answer is the HMAC a delivery's signature is, so a CRC that answered any
    crc_token would sign an attacker's delivery. It answers only X-shaped tokens."""
    for kind, body in forged_deliveries(desk, customer).items():
        reply = api.get(crc_path(path, body))
        assert_envelope(reply, 400, "VALIDATION_ERROR", "crc_token")
        assert "response_token" not in reply.body, kind
        assert "sha256=" not in json.dumps(reply.body), kind
    # Nor anything else that is not shaped like X's tokens.
    for token in ['{"a":1}', "a b", 'tok"en', "x" * 129, "a=b", "ab/cd", "ab+cd", "é"]:
        assert_envelope(api.get(crc_path(path, token)), 400, "VALIDATION_ERROR", "crc_token")
    drained(api.stack)
    assert customer not in customers_of(desk)
    assert desk.x_details()["status"] == "connected"
    # X's own tokens (base64 of a UUID) are still answered.
    token = base64.urlsafe_b64encode(str(uuid.uuid4()).encode()).decode()
    assert api.get(crc_path(path, token)).status == 200


# ---------------------------------------------------------------- not signed by X


def test_an_unsigned_delivery_is_refused(api, desk, customer):
    body = json.dumps(account_activity_dm(desk, customer, "Unsigned"))
    assert_refused_and_not_queued(api, desk, customer, body, api.post(WEBHOOK, data=body))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "sha256=",
        "sha256=not-base64!",
        "sha256=" + "A" * 44,
        "sha1=c29tZXRoaW5n",
    ],
)
def test_a_garbage_signature_is_refused(api, desk, customer, header):
    body = json.dumps(account_activity_dm(desk, customer, "Garbage signature"))
    reply = api.post(WEBHOOK, data=body, headers={SIGNATURE_HEADER: header})
    assert_refused_and_not_queued(api, desk, customer, body, reply)


def test_a_delivery_signed_with_another_apps_secret_is_refused(api, desk, customer):
    body = json.dumps(account_activity_dm(desk, customer, "Another app"))
    reply = post_delivery(api, body, secret="another-apps-consumer-secret")
    assert_refused_and_not_queued(api, desk, customer, body, reply)


def test_a_body_changed_after_signing_is_refused(api, desk, customer):
    delivery = account_activity_dm(desk, customer, "Refund me 10 EUR")
    signed = signature(api.stack.x_sandbox.consumer_secret, json.dumps(delivery))
    delivery["direct_message_events"][0]["message_create"]["message_data"]["text"] = (
        "Refund me 1000 EUR"
    )
    body = json.dumps(delivery)
    reply = api.post(WEBHOOK, data=body, headers={SIGNATURE_HEADER: signed})
    assert_refused_and_not_queued(api, desk, customer, body, reply)


def test_the_signature_of_one_delivery_does_not_pass_another(api, desk, customer):
    """A header replayed with another body: a signature is good for its own body only."""
    first = json.dumps(account_activity_dm(desk, customer, "First"))
    first_signature = signature(api.stack.x_sandbox.consumer_secret, first)
    accepted = api.post(WEBHOOK, data=first, headers={SIGNATURE_HEADER: first_signature})
    assert accepted.body == {"queued": 1}

    other = f"mal_{uuid.uuid4().hex[:8]}"
    desk.introduce(other)
    body = json.dumps(account_activity_dm(desk, other, "Replayed signature"))
    reply = api.post(WEBHOOK, data=body, headers={SIGNATURE_HEADER: first_signature})
    assert_refused_and_not_queued(api, desk, other, body, reply)


# ---------------------------------------------------------------- signed, but not a delivery


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="text"),
        pytest.param("", id="empty"),
        pytest.param('{"for_user_id": "1"', id="truncated"),
        pytest.param("null", id="null"),
        pytest.param('"a string"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("[]", id="empty-array"),
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_a_400(api, body):
    reply = post_delivery(api, body)
    assert_envelope(reply, 400, "VALIDATION_ERROR", "body")
    assert "JSON" in reply.body["error"]


def test_a_signed_json_array_of_deliveries_is_a_400_and_queues_nothing(api, desk, customer):
    delivery = account_activity_dm(desk, customer, "Wrapped in an array")
    reply = post_delivery(api, [delivery])
    assert_envelope(reply, 400, "VALIDATION_ERROR", "body")
    assert "JSON object" in reply.body["error"]
    drained(api.stack)
    assert customer not in customers_of(desk)
    # The very delivery it wrapped is queued on its own.
    assert post_delivery(api, delivery).body == {"queued": 1}


def test_a_signed_deeply_nested_body_is_a_4xx(api, desk):
    nested = "[" * 5000 + "]" * 5000
    body = f'{{"for_user_id": "{desk.x_account.id}", "nested": {nested}}}'
    reply = post_delivery(api, body)
    assert 400 <= reply.status < 500, reply.text
    assert set(reply.body) == {"error", "code", "details", "request_id"}


# ---------------------------------------------------------------- signed, nothing to queue


def test_a_delivery_for_an_account_no_tenant_holds_is_answered_200_and_dropped(api):
    customer = f"jane_{uuid.uuid4().hex[:8]}"
    stranger = Account.named(f"nobody_{uuid.uuid4().hex[:8]}")
    # 200 all the same: X would otherwise retry it for days.
    delivery = aaa_direct_message(stranger, dm_from(customer, stranger, "Hello?"))
    assert post_delivery(api, delivery).body == {"queued": 0}
    subscription = ActivitySubscription("sub-2", "dm.received", stranger.id, None, None)
    activity = xaa_event(
        str(uuid.uuid4()),
        subscription,
        xaa_direct_message_payload(dm_from(customer, stranger, "Hi")),
    )
    assert post_delivery(api, activity).body == {"queued": 0}
    assert post_delivery(api, aaa_revoke(stranger, datetime.now(UTC))).body == {"queued": 0}
    revoke = xaa_revoke(str(uuid.uuid4()), stranger, datetime.now(UTC))
    assert post_delivery(api, revoke).body == {"queued": 0}


def test_a_delivery_after_the_tenant_disconnected_does_not_reach_its_conversation(
    api, desk, customer
):
    """X goes on delivering for a while after an account is disconnected. Such a delivery
    is answered 200, and may be queued (the webhook remembers for a minute that the account
    was held), but it never reaches the customer's conversation, not even once the account
    is connected again. The first message, accepted while the account was held and held
    back meanwhile by ServiceNow's throttling, does."""
    desk.servicenow_fault(endpoint="*", status=429, times=1, retry_after=8)
    desk.customer_dm(customer, "First message")
    # Once its conversation exists, the first message is in the processor's hands, and
    # its group waits for ServiceNow's Retry-After.
    wait_for(lambda: desk.conversations_with(customer))
    assert api.delete("/twitter-revoke/", token=desk.token).status == 204

    late = account_activity_dm(desk, customer, "Delivered after the disconnect")
    assert post_delivery(api, late).status == 200
    connect_x(api, desk.token, desk.account)
    drained(api.stack, timeout=90)

    texts = [
        message["text"]
        for message in desk.messages_with(customer)
        if message["author"] == "customer"
    ]
    assert texts == ["First message"]


@pytest.mark.parametrize(
    "kind",
    [
        "aaa_typing",
        "aaa_read",
        "aaa_favorite",
        "xaa_typing",
        "xaa_read",
        "replay_job_status",
    ],
)
def test_typing_read_and_other_events_queue_nothing(api, desk, customer, kind):
    held, sender = desk.x_account, Account.named(customer)
    typing = {
        "created_timestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
        "sender_id": sender.id,
        "target": {"recipient_id": held.id},
    }
    users = {account.id: account.v1() for account in (held, sender)}
    delivery = {
        "aaa_typing": {
            "for_user_id": held.id,
            "direct_message_indicate_typing_events": [typing],
            "users": users,
        },
        "aaa_read": {
            "for_user_id": held.id,
            "users": users,
            "direct_message_mark_read_events": [{**typing, "last_read_event_id": "1"}],
        },
        "aaa_favorite": {
            "for_user_id": held.id,
            "favorite_events": [
                {
                    "id": "a1",
                    "created_at": "Mon May 19 14:01:46 +0000 2025",
                    "user": sender.v1(),
                    "favorited_status": {"id_str": "1"},
                }
            ],
        },
        "xaa_typing": xaa_event(
            str(uuid.uuid4()),
            ActivitySubscription("sub-3", "dm.indicate_typing", held.id, None, None),
            typing,
        ),
        "xaa_read": xaa_event(
            str(uuid.uuid4()), ActivitySubscription("sub-4", "dm.read", held.id, None, None), typing
        ),
        "replay_job_status": {
            "replay_job_status": {"job_state": "Complete", "job_state_description": "done"}
        },
    }[kind]
    assert post_delivery(api, delivery).body == {"queued": 0}
    drained(api.stack)
    assert customer not in customers_of(desk)


def malformed(held: str, customer: str) -> dict[str, object]:
    """Signed deliveries for the held account `held` that are not shaped like X's (each
    has something X never sends): nothing to queue, and nothing a retry could fix."""
    message = dm_from(customer, Account(held, "held"), "hi")
    good = aaa_direct_message(Account(held, "held"), message)

    def dm(**changes) -> dict:
        """`good` with its event's fields changed: message_create__target=None sets
        event["message_create"]["target"]."""
        delivery = json.loads(json.dumps(good))
        for path, value in changes.items():
            *parents, last = path.split("__")
            node = delivery["direct_message_events"][0]
            for parent in parents:
                node = node[parent]
            node[last] = value
        return delivery

    return {
        "bare_message_create": {
            "for_user_id": held,
            "direct_message_events": [{"type": "message_create"}],
        },
        "events_not_a_list": {"for_user_id": held, "direct_message_events": "message_create"},
        "event_not_an_object": {"for_user_id": held, "direct_message_events": [42]},
        "no_users": {**dm(), "users": None},
        "sender_not_in_users": {**dm(), "users": {}},
        "text_a_number": dm(message_create__message_data__text=42),
        "no_target": dm(message_create__target=None),
        "timestamp_not_a_number": dm(created_timestamp="yesterday"),
        "timestamp_too_large": dm(created_timestamp="9" * 30),
        "timestamp_superscript": dm(created_timestamp="\u00b2"),
        "post_without_author": {"for_user_id": held, "tweet_create_events": [{"id_str": "1"}]},
        "for_user_id_a_number": {**good, "for_user_id": int(held)},
        "empty_object": {},
        "xaa_payload_a_list": {
            "data": {
                "event_uuid": "1",
                "event_type": "dm.received",
                "filter": {"user_id": held},
                "payload": [],
            }
        },
        "xaa_data_a_string": {"data": "dm.received"},
        "xaa_revoke_bad_time": {
            "data": {
                "event_uuid": "1",
                "event_type": "oauth.revoke",
                "filter": {},
                "payload": {"user_id": held, "date_time": "yesterday"},
            }
        },
        "aaa_revoke_without_time": {"user_event": {"revoke": {"source": {"user_id": held}}}},
    }


@pytest.mark.parametrize("shape", sorted(malformed("1", "x")))
def test_a_malformed_signed_delivery_is_answered_200_and_dropped(api, desk, customer, shape):
    """Signed by X, so a retry cannot fix it: dropped (and logged), never a 500 that X would
    retry for days."""
    reply = post_delivery(api, malformed(desk.x_account.id, customer)[shape])
    assert reply.status == 200, reply.text
    assert reply.body == {"queued": 0}
    drained(api.stack)
    assert customers_of(desk) == set()


@pytest.mark.parametrize("who", ["the tenant", "another tenant", "an admin"])
def test_a_login_token_is_no_signature(api, desk, customer, other_tenant, who):
    """The webhook answers to X only: no user, not even the account's tenant or an admin,
    can put events on its queue."""
    token = {
        "the tenant": desk.token,
        "another tenant": other_tenant.token,
        "an admin": api.admin_token,
    }[who]
    body = json.dumps(account_activity_dm(desk, customer, "Sent with a login token"))
    reply = api.post(WEBHOOK, data=body, token=token)
    assert_refused_and_not_queued(api, desk, customer, body, reply)


def test_the_sandbox_xs_own_deliveries_are_accepted(api, desk, customer):
    """What the sandbox X itself signs and delivers is accepted (so the tests' signing is
    X's): the connected account is subscribed through the X Activity API."""
    sent = desk.customer_dm(customer, "Through the sandbox X")
    assert [(item["shape"], item["status"]) for item in sent["deliveries"]] == [
        ("activity", 200)
    ], sent
    drained(api.stack)
    assert desk.messages_with(customer)[0]["text"] == "Through the sandbox X"
