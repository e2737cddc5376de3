"""POST /events/ (alias /api/events/): a ServiceNow case event (an agent's comment, a
resolution, a closure) becomes a reply to the customer on X.

The update set's business rule calls it with the tenant's developer API key; the original
API took form fields (`message`, `target`: the customer's consumer sys_id). Every test
starts from a real conversation: a customer DMs the tenant's account on the sandbox X, and
the stack opens a case in the sandbox ServiceNow. A refused request must change nothing:
no agent message in the conversation, and nothing sent on X.

The domain's branches (which conversation a number or target names, resolutions with and
without a message, event ids derived from the content, per tenant) are unit tests on the
fakes: tests/unit/test_case_events_logic.py and tests/unit/test_replies.py."""

import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import requests

from tests.api.client import ApiClient, assert_envelope
from tests.api.desks import Desk, close_desk, drained, open_desk

FORM = "application/x-www-form-urlencoded"
ACCEPTED = {"id", "conversation", "status"}


@dataclass
class Talk:
    """A customer's conversation with a desk, and the case it opened."""

    desk: Desk
    customer: str
    conversation: str
    case_sys_id: str
    case_number: str
    consumer: str  # the customer's consumer sys_id in ServiceNow, as `target` names it


@pytest.fixture
def desk(api):
    opened = open_desk(api)
    yield opened
    close_desk(opened)


def start_talk(desk: Desk, text: str = "My order never came.") -> Talk:
    customer = f"jane_{uuid.uuid4().hex[:8]}"
    desk.customer_dm(customer, text)
    drained(desk.api.stack)
    [case] = desk.cases_of(customer)
    conversation = desk.conversation_with(customer)
    assert conversation["case_sys_id"] == case["sys_id"], conversation
    return Talk(
        desk, customer, conversation["id"], case["sys_id"], case["number"], case["consumer"]
    )


@pytest.fixture
def talk(desk) -> Talk:
    return start_talk(desk)


@pytest.fixture
def api_key(api, desk) -> str:
    """The tenant's developer API key: what its ServiceNow instance sends."""
    reply = api.post("/api-key/", token=desk.token)
    assert reply.status in (200, 201), reply.body
    return reply.body["token"]


def post_event(api: ApiClient, token: str | None, body, path: str = "/events/"):
    return api.post(path, token=token, json=body)


def post_form(
    api: ApiClient,
    token: str | None,
    fields: dict,
    path: str = "/events/",
    content_type: str = FORM,
):
    return api.post(
        path, token=token, data=urlencode(fields), headers={"Content-Type": content_type}
    )


def agent_messages(talk: Talk) -> list[dict]:
    return [m for m in talk.desk.messages_with(talk.customer) if m["author"] == "agent"]


def sent_texts(talk: Talk) -> list[str]:
    return [item["text"] for item in talk.desk.sent_to(talk.customer)]


@dataclass
class Snapshot:
    """What a refused request must leave as it was."""

    messages: list[dict]
    sent: list[dict]
    status: str


def snapshot(talk: Talk) -> Snapshot:
    drained(talk.desk.api.stack)  # nothing of the conversation's own start still in flight
    return Snapshot(
        talk.desk.messages_with(talk.customer),
        talk.desk.sent_to(talk.customer),
        talk.desk.conversation_with(talk.customer)["status"],
    )


def assert_unchanged(talk: Talk, before: Snapshot) -> None:
    # Drained first: a reply wrongly queued would have been sent by now.
    assert snapshot(talk) == before


def assert_accepted(reply, talk: Talk) -> dict:
    assert reply.status == 202, reply.body
    assert set(reply.body) == ACCEPTED, reply.body
    assert reply.body["conversation"] == talk.conversation
    assert reply.body["status"] == "queued"
    assert reply.body["id"]
    return reply.body


def assert_delivered_once(talk: Talk, text: str) -> None:
    drained(talk.desk.api.stack)
    assert sent_texts(talk).count(text) == 1, sent_texts(talk)
    replies = [m for m in agent_messages(talk) if m["text"] == text]
    assert [(m["direction"], m["status"]) for m in replies] == [("outbound", "delivered")]
    assert replies[0]["case_number"] == talk.case_number


# ---------------------------------------------------------------- accepted events


def test_an_agents_comment_by_case_sys_id_with_the_api_key_reaches_the_customer(api, talk, api_key):
    text = "Sorry! A replacement ships today."
    reply = post_event(api, api_key, {"case": talk.case_sys_id, "message": text})

    assert_accepted(reply, talk)
    # Queued at once, before the sender ran: the tenant sees it waiting.
    [queued] = agent_messages(talk)
    assert (queued["text"], queued["direction"]) == (text, "outbound")
    assert_delivered_once(talk, text)
    [dm] = [item for item in talk.desk.sent_to(talk.customer) if item["text"] == text]
    assert dm["kind"] == "dm"
    # A comment leaves the case open: the customer's next message still goes on it.
    assert talk.desk.conversation_with(talk.customer)["status"] == "open"


def test_a_login_token_and_the_case_number_work_too(api, talk):
    text = "We are looking into it."
    reply = post_event(api, talk.desk.token, {"case": talk.case_number, "message": text})

    assert_accepted(reply, talk)
    assert_delivered_once(talk, text)


@pytest.mark.parametrize("content_type", [FORM, f"{FORM}; charset=UTF-8"])
def test_form_fields_as_the_original_api_sent_them(api, talk, api_key, content_type):
    # Spaces, '+', '&' and non-ASCII survive the form encoding.
    text = "Refund of 5€ + shipping & tax: done, café owner ☕"
    reply = post_form(
        api, api_key, {"message": text, "target": talk.consumer}, content_type=content_type
    )

    assert_accepted(reply, talk)
    assert_delivered_once(talk, text)


@pytest.mark.parametrize("path", ["/api/events/", "/api/events", "/events"])
def test_the_aliases_and_a_missing_trailing_slash(api, talk, api_key, path):
    text = f"Sent through {path}"
    reply = post_event(api, api_key, {"case": talk.case_sys_id, "message": text}, path=path)

    assert_accepted(reply, talk)
    assert_delivered_once(talk, text)


def test_the_same_event_id_twice_is_one_reply_delivered_once(api, talk, api_key):
    text = "Checking now."
    event = {"case": talk.case_sys_id, "message": text, "event_id": f"{talk.case_sys_id}:9"}

    first, second = (post_event(api, api_key, event) for _ in range(2))
    assert_accepted(first, talk)
    assert second.status == 202, second.body
    # The retry is answered as the first was (the sender may have delivered it meanwhile).
    assert (second.body["id"], second.body["conversation"]) == (
        first.body["id"],
        first.body["conversation"],
    )
    assert second.body["status"] in ("queued", "delivered")
    assert first.body["id"] == event["event_id"]
    assert_delivered_once(talk, text)

    # A retry after delivery answers what became of the first, and sends nothing.
    late = post_event(api, api_key, event)
    assert late.status == 202, late.body
    assert (late.body["id"], late.body["status"]) == (event["event_id"], "delivered")
    assert_delivered_once(talk, text)
    assert len(agent_messages(talk)) == 1


def test_the_same_event_sent_at_once_several_times_is_delivered_once(api, talk, api_key):
    # ServiceNow's retries can overlap the first attempt: one reply whatever the race.
    text = "Racing retries."
    event = {"case": talk.case_sys_id, "message": text, "event_id": f"{talk.case_sys_id}:7"}
    replies = []
    threads = [
        threading.Thread(target=lambda: replies.append(post_event(api, api_key, event)))
        for _ in range(4)
    ]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]

    assert [reply.status for reply in replies] == [202] * 4, [r.body for r in replies]
    assert {(reply.body["id"], reply.body["conversation"]) for reply in replies} == {
        (event["event_id"], talk.conversation)
    }
    assert_delivered_once(talk, text)
    assert len(agent_messages(talk)) == 1


def test_fields_servicenow_may_add_are_ignored(api, talk, api_key):
    text = "Thanks for waiting."
    body = {
        "case": talk.case_sys_id,
        "message": text,
        "sys_updated_on": "2026-01-01 10:00:00",
        "state": 6,
        "work_notes": "internal only",
        "extra": {"nested": [1, 2]},
    }
    assert_accepted(post_event(api, api_key, body), talk)
    assert_delivered_once(talk, text)


def test_a_message_of_exactly_ten_thousand_characters_is_accepted(api, talk, api_key):
    text = "x" * 9_999 + "."  # the longest DM X takes
    assert_accepted(post_event(api, api_key, {"case": talk.case_sys_id, "message": text}), talk)
    assert_delivered_once(talk, text)


CONTROLS = "\x00\x07\x1b\x7f\x85\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("as_form", [False, True])
def test_controls_and_bidi_overrides_are_taken_out_of_the_reply_on_x(api, talk, api_key, as_form):
    # U+202E would show the rest reversed; NUL and ESC would reach the customer's app.
    written = (
        "Your refund\x00 is \x1b[1mready\x1b[0m\u202e: see invoice\u2066 fdp.exe\u2069\x7f"
        "\r\nThanks,\tAnna \u05e9\u05dc\u05d5\u05dd\u200f"
    )
    sent = "Your refund is [1mready[0m: see invoice fdp.exe\nThanks,\tAnna \u05e9\u05dc\u05d5\u05dd\u200f"
    body = {"case": talk.case_sys_id, "message": written}
    reply = post_form(api, api_key, body) if as_form else post_event(api, api_key, body)

    assert_accepted(reply, talk)
    drained(api.stack)
    texts = sent_texts(talk)
    assert texts.count(sent) == 1, texts
    assert not any(char in text for text in texts for char in CONTROLS), texts
    [stored] = agent_messages(talk)
    assert stored["status"] == "delivered"


# ---------------------------------------------------------------- who may send events


def test_anonymous_and_bad_credentials_are_refused_with_401(api, talk, api_key):
    before = snapshot(talk)
    event = {"case": talk.case_sys_id, "message": "Should never arrive."}
    attempts = {
        "no header": api.post("/events/", json=event),
        "unknown key": post_event(api, "0" * 64, event),
        "malformed header": api.post(
            "/events/", json=event, headers={"Authorization": f"Basic {api_key}"}
        ),
    }
    for name, reply in attempts.items():
        assert reply.status == 401, (name, reply.body)
        assert_envelope(reply, 401, "NOT_AUTHENTICATED")
        assert "Should never arrive." not in reply.text, name
    assert_unchanged(talk, before)


def test_a_regenerated_api_key_replaces_the_old_one(api, talk, api_key):
    before = snapshot(talk)
    renewed = api.post("/api-key/", token=talk.desk.token)
    assert renewed.status in (200, 201), renewed.body

    old = post_event(api, api_key, {"case": talk.case_sys_id, "message": "Stale key."})
    assert_envelope(old, 401, "NOT_AUTHENTICATED")
    assert_unchanged(talk, before)
    fresh = post_event(
        api, renewed.body["token"], {"case": talk.case_sys_id, "message": "Fresh key."}
    )
    assert_accepted(fresh, talk)
    assert_delivered_once(talk, "Fresh key.")


def test_another_tenants_case_or_customer_is_not_found(api, talk):
    # The other tenant has its own X account and the same ServiceNow instance, so it gets
    # as far as looking the case up: and finds none of its own.
    other = open_desk(api)
    try:
        before = snapshot(talk)
        other_key = api.post("/api-key/", token=other.token).body["token"]
        for body in (
            {"case": talk.case_sys_id, "message": "Hijacked."},
            {"case": talk.case_number, "message": "Hijacked."},
            {"number": talk.case_number, "message": "Hijacked."},
            {"target": talk.consumer, "message": "Hijacked."},
            {"case": talk.case_sys_id, "type": "resolved"},
        ):
            for token in (other_key, other.token):
                reply = post_event(api, token, body)
                assert_envelope(reply, 404, "NOT_FOUND")
                assert talk.conversation not in reply.text
        assert_unchanged(talk, before)
        assert other.conversations() == []
    finally:
        close_desk(other)


def test_unknown_cases_and_customers_are_not_found(api, talk, api_key):
    before = snapshot(talk)
    for body in (
        {"case": "0" * 32, "message": "Hello?"},
        {"number": "CS9999999", "message": "Hello?"},
        {"target": "0" * 32, "message": "Hello?"},
    ):
        reply = post_event(api, api_key, body)
        assert_envelope(reply, 404, "NOT_FOUND")
        named = body.get("case") or body.get("number") or body["target"]
        assert named in reply.body["error"]  # says which one it could not find
    assert_unchanged(talk, before)


def test_the_admins_own_token_acts_for_the_admin_not_for_the_tenant(api, admin_token, talk):
    # Events always act for the caller's own tenant. The admin has no X account of its own,
    # so it is refused before any case is looked up.
    before = snapshot(talk)
    reply = post_event(api, admin_token, {"case": talk.case_sys_id, "message": "From admin."})

    assert_envelope(reply, 409, "CONFLICT")
    assert_unchanged(talk, before)


def test_a_tenant_without_an_x_account_gets_409(api, tenant, talk):
    before = snapshot(talk)
    key = api.post("/api-key/", token=tenant.token).body["token"]

    for token in (key, tenant.token):
        reply = post_event(api, token, {"case": talk.case_sys_id, "message": "Hello?"})
        assert_envelope(reply, 409, "CONFLICT")
        assert "/get-auth-url" in reply.body["error"]  # tells the tenant what to do
    assert_unchanged(talk, before)


def test_after_disconnecting_x_events_are_refused_with_409(api, talk, api_key):
    before = snapshot(talk)
    revoked = api.delete("/twitter-revoke/", token=talk.desk.token)
    assert revoked.status in (200, 204), revoked.body

    reply = post_event(api, api_key, {"case": talk.case_sys_id, "message": "Too late."})
    assert_envelope(reply, 409, "CONFLICT")
    assert_unchanged(talk, before)


# ---------------------------------------------------------------- bad input


def bad_json_bodies(talk: Talk) -> list[tuple[str, object, str]]:
    """(what is wrong, JSON body, the field the 400 must name)."""
    case = talk.case_sys_id
    return [
        ("empty object", {}, "case"),
        ("no case, number or target", {"message": "Hello"}, "case"),
        ("blank case", {"case": "", "message": "Hello"}, "case"),
        ("no message for a comment", {"case": case}, "message"),
        ("empty message for a comment", {"case": case, "message": ""}, "message"),
        ("blank message for a comment", {"case": case, "message": "  \n "}, "message"),
        (
            "only controls for a comment",
            {"case": case, "message": "\x00\x1b \u202e\u2066"},
            "message",
        ),
        (
            "only invisible spaces for a comment",
            {"case": case, "message": "\u200b\ufeff\u2060"},
            "message",
        ),
        (
            "empty message, explicit comment",
            {"case": case, "message": "", "type": "comment"},
            "message",
        ),
        ("message too long", {"case": case, "message": "x" * 10_001}, "message"),
        ("message not a string", {"case": case, "message": ["Hello"]}, "message"),
        ("unknown type", {"case": case, "message": "Hello", "type": "reopened"}, "type"),
        ("type in capitals", {"case": case, "message": "Hello", "type": "Resolved"}, "type"),
        ("null type", {"case": case, "message": "Hello", "type": None}, "type"),
        (
            "event_id with a space",
            {"case": case, "message": "Hello", "event_id": "a b"},
            "event_id",
        ),
        (
            "event_id not ASCII",
            {"case": case, "message": "Hello", "event_id": "évènement"},
            "event_id",
        ),
        (
            "event_id with a control character",
            {"case": case, "message": "Hello", "event_id": "a\tb"},
            "event_id",
        ),
        (
            "event_id too long",
            {"case": case, "message": "Hello", "event_id": "e" * 101},
            "event_id",
        ),
        ("empty event_id", {"case": case, "message": "Hello", "event_id": ""}, "event_id"),
        ("event_id a number", {"case": case, "message": "Hello", "event_id": 42}, "event_id"),
        ("case too long", {"case": "c" * 65, "message": "Hello"}, "case"),
        ("number too long", {"number": "N" * 41, "message": "Hello"}, "number"),
        ("target too long", {"target": "t" * 65, "message": "Hello"}, "target"),
    ]


def test_bad_json_bodies_are_refused_with_400_naming_the_field(api, talk, api_key):
    before = snapshot(talk)
    for what, body, field in bad_json_bodies(talk):
        reply = post_event(api, api_key, body)
        assert reply.status == 400, (what, reply.body)
        assert_envelope(reply, 400, "VALIDATION_ERROR", field)
    assert_unchanged(talk, before)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json", id="not-json"),
        pytest.param('{"case": "x", "message": "Hello"', id="truncated"),
        pytest.param('[{"case": "x", "message": "Hello"}]', id="array"),
        pytest.param('"Hello"', id="string"),
        pytest.param("null", id="null"),
        pytest.param("42", id="number"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_with_400(api, talk, api_key, raw):
    before = snapshot(talk)
    raw = raw.replace('"x"', f'"{talk.case_sys_id}"')  # a real case: only the shape is wrong
    reply = api.post("/events/", token=api_key, data=raw)

    assert_envelope(reply, 400, "VALIDATION_ERROR", "body")
    assert_unchanged(talk, before)


def servicenow_requests(desk: Desk) -> int:
    """How many API calls the sandbox ServiceNow has received."""
    overview = requests.get(f"{desk.servicenow_url}/sandbox", timeout=30).json()
    return overview["requests"]["total"]


def injected_references(talk: Talk) -> list[str]:
    """Case and customer references that, put in a ServiceNow encoded query or URL path,
    would ask the instance something else."""
    return [
        f"{talk.case_number}^ORnumber=CS0010002",  # another condition
        f"{talk.case_number}^NQactive=true",  # another query
        "^ORDERBYnumber",
        "javascript:gs.getUserID()",  # run by the instance
        "../../now/table/sys_user",
        f"{talk.case_number}/activities",
        f"{talk.case_number} OR 1",
        f"{talk.case_number}\x00",
        "CS001%5E0001",
    ]


@pytest.mark.parametrize("field", ["case", "number", "target"])
@pytest.mark.parametrize("as_form", [False, True])
def test_a_reference_that_would_change_a_servicenow_query_is_a_400_without_a_call(
    api, talk, api_key, field, as_form
):
    before = snapshot(talk)
    calls_before = servicenow_requests(talk.desk)
    for reference in injected_references(talk):
        body = {field: reference, "message": "Hello"}
        reply = post_form(api, api_key, body) if as_form else post_event(api, api_key, body)
        assert reply.status == 400, (reference, reply.body)
        assert_envelope(reply, 400, "VALIDATION_ERROR", field)
        assert "letters, digits" in reply.body["details"][field][0]
    assert servicenow_requests(talk.desk) == calls_before
    assert_unchanged(talk, before)


def test_bad_form_fields_are_refused_with_400(api, talk, api_key):
    before = snapshot(talk)
    for what, fields, field in [
        ("no target", {"message": "Hello"}, "case"),
        ("empty message", {"message": "", "target": talk.consumer}, "message"),
        ("no message", {"target": talk.consumer}, "message"),
        ("unknown type", {"message": "Hello", "target": talk.consumer, "type": "x"}, "type"),
        ("message too long", {"message": "x" * 10_001, "target": talk.consumer}, "message"),
    ]:
        reply = post_form(api, api_key, fields)
        assert reply.status == 400, (what, reply.body)
        assert_envelope(reply, 400, "VALIDATION_ERROR", field)
    assert_unchanged(talk, before)


def test_anonymous_bad_input_is_401_not_400(api):
    # Who is calling is checked first: an anonymous caller learns nothing about the body.
    reply = api.post("/events/", data="not json")
    assert_envelope(reply, 401, "NOT_AUTHENTICATED")


def test_error_messages_say_what_to_do(api, talk, api_key):
    """Whoever configures the business rule reads these: they must be sentences, not the
    validator's internals."""
    missing = post_event(api, api_key, {"message": "Hello"})
    assert "target" in missing.body["error"] and "number" in missing.body["error"]
    bad_type = post_event(
        api, api_key, {"case": talk.case_sys_id, "message": "Hi", "type": "reopened"}
    )
    for kind in ("comment", "resolved", "closed"):
        assert kind in bad_type.body["error"], bad_type.body
    not_json = api.post("/events/", token=api_key, data="not json")
    assert "JSON" in not_json.body["error"]


def test_a_bad_event_id_is_explained_in_words(api, talk, api_key):
    reply = post_event(
        api, api_key, {"case": talk.case_sys_id, "message": "Hi", "event_id": "change 42"}
    )
    assert_envelope(reply, 400, "VALIDATION_ERROR", "event_id")
    message = " ".join(reply.body["details"]["event_id"])
    assert "pattern" not in message and "^[" not in message, message
    assert "ASCII" in message or "space" in message, message
