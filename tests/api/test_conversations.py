"""GET /conversations/ and GET /conversations/{id}/messages/: the customer threads a
tenant's X account had, with their cases, and each thread's messages either way.

The data is made as in production: a tenant with the sandbox ServiceNow and a connected
sandbox X account, whose customers write to it on the sandbox X (or whose DMs X delivers
with a time the test chooses, where order is what is tested)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from sandboxes.x.payloads import Account
from tests.api.client import all_pages, assert_envelope
from tests.api.desks import account_activity_dm, close_desk, drained, open_desk, post_delivery
from twittnow.api import MAX_PAGE_SIZE

CONVERSATION_FIELDS = {
    "id",
    "user",
    "x_account_id",
    "customer_id",
    "customer_screen_name",
    "customer_name",
    "channel",
    "latest_channel",
    "status",
    "case_number",
    "case_sys_id",
    "failed_messages",
    "created_at",
    "last_message_at",
}
MESSAGE_FIELDS = {
    "id",
    "direction",
    "author",
    "channel",
    "text",
    "media_urls",
    "status",
    "status_detail",
    "case_number",
    "x_message_ids",
    "sent_at",
    "updated_at",
}
PAGE_FIELDS = {"count", "next", "previous", "results"}
UNKNOWN_ID = "0" * 32  # shaped like a conversation id (a uuid5's hex)


@pytest.fixture
def desk(api, tenant):
    desk = open_desk(api, tenant)
    yield desk
    close_desk(desk)


@pytest.fixture
def other_desk(api, other_tenant):
    desk = open_desk(api, other_tenant)
    yield desk
    close_desk(desk)


def new_customer(desk) -> str:
    """A customer the sandbox X knows (so that the service's answers reach them)."""
    name = f"cust_{uuid.uuid4().hex[:8]}"
    desk.introduce(name)
    return name


@pytest.fixture
def customer(desk) -> str:
    return new_customer(desk)


def talked(desk, customer: str, *texts: str) -> dict:
    """`customer` DMs each text to the desk's account on the sandbox X; answers their
    conversation once the service has handled them."""
    for text in texts:
        desk.customer_dm(customer, text)
    drained(desk.api.stack)
    return desk.conversation_with(customer)


def dm_at(desk, customer: str, text: str, at: datetime) -> None:
    """A DM X delivers as sent at `at` (Account Activity API), handled."""
    reply = post_delivery(desk.api, account_activity_dm(desk, customer, text, at))
    assert reply.body == {"queued": 1}, reply.body
    drained(desk.api.stack)


def listed(api, token: str, query: str = "") -> list[dict]:
    return all_pages(api, f"/conversations/?page_size={MAX_PAGE_SIZE}{query}", token)


def messages_of(api, token: str, conversation_id: str) -> list[dict]:
    return all_pages(api, f"/conversations/{conversation_id}/messages/", token)


def names(conversations: list[dict]) -> list[str]:
    return [conversation["customer_screen_name"] for conversation in conversations]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---------------------------------------------------------------- what is listed


def test_a_customers_dm_is_listed_with_its_case(api, desk, customer):
    talked(desk, customer, "Hi, my order #1234 has not arrived.")
    [case] = desk.cases_of(customer)

    reply = api.get("/conversations/", token=desk.token)
    assert reply.status == 200, reply.body
    assert set(reply.body) == PAGE_FIELDS
    assert (reply.body["count"], reply.body["next"], reply.body["previous"]) == (1, None, None)
    [conversation] = reply.body["results"]
    assert set(conversation) == CONVERSATION_FIELDS
    assert conversation["user"] == desk.tenant_id
    assert conversation["x_account_id"] == desk.x_account.id
    assert conversation["customer_id"] == Account.named(customer).id
    assert (conversation["customer_screen_name"], conversation["customer_name"]) == (
        customer,
        customer,
    )
    assert (conversation["channel"], conversation["status"]) == ("dm", "open")
    assert conversation["latest_channel"] == "dm"  # a legacy DM: replies go as DMs
    assert (conversation["case_number"], conversation["case_sys_id"]) == (
        case["number"],
        case["sys_id"],
    )
    assert parse_time(conversation["created_at"]) <= datetime.now(UTC)
    assert parse_time(conversation["last_message_at"]) <= parse_time(conversation["created_at"])
    assert conversation["failed_messages"] == 0


def test_messages_are_listed_oldest_first_with_what_became_of_them(api, desk, customer):
    talked(desk, customer, "Where is my parcel?")
    conversation = talked(desk, customer, "It was due Monday.", "Order number 1234.")
    [case] = desk.cases_of(customer)

    reply = api.get(f"/conversations/{conversation['id']}/messages/", token=desk.token)
    assert reply.status == 200, reply.body
    assert set(reply.body) == PAGE_FIELDS and reply.body["count"] == 4
    messages = reply.body["results"]
    assert all(set(message) == MESSAGE_FIELDS for message in messages)
    assert [(m["direction"], m["author"], m["status"]) for m in messages] == [
        ("inbound", "customer", "case_created"),
        ("outbound", "bot", "delivered"),  # the case number, told to the customer
        ("inbound", "customer", "commented"),
        ("inbound", "customer", "commented"),
    ]
    assert [m["text"] for m in messages if m["author"] == "customer"] == [
        "Where is my parcel?",
        "It was due Monday.",
        "Order number 1234.",
    ]
    assert {m["channel"] for m in messages} == {"dm"}
    assert case["number"] in messages[1]["text"]
    assert {m["case_number"] for m in messages} == {case["number"]}
    assert messages[1]["x_message_ids"], "the acknowledgement names the DM X made of it"
    # Oldest first: by when they were sent, which their ids sort as.
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    sent = [parse_time(m["sent_at"]) for m in messages]
    assert sent == sorted(sent)
    assert desk.conversation_with(customer)["last_message_at"] == messages[-1]["sent_at"]


def test_a_reply_is_listed_after_the_messages_sent_before_it(api, desk, customer):
    """The customer writes twice before the service answers the first DM (X delivered
    both at once): the thread as on X is first, second, the case number."""
    sent_at = datetime.now(UTC).replace(microsecond=250_000) - timedelta(minutes=1)
    first = account_activity_dm(desk, customer, "First", sent_at)
    second = account_activity_dm(desk, customer, "Second", sent_at + timedelta(seconds=1))
    first["direct_message_events"] += second["direct_message_events"]
    assert post_delivery(api, first).body == {"queued": 2}
    drained(api.stack)

    messages = desk.messages_with(customer)
    assert [m["author"] for m in messages] == ["customer", "customer", "bot"], messages
    times = [parse_time(m["sent_at"]) for m in messages]
    assert times == sorted(times)


def test_a_conversation_collecting_custom_fields_has_no_case_yet(api, desk, customer):
    field = api.post(
        "/custom-fields/",
        token=desk.token,
        json={"field_name": "city", "message": "Which city do you live in?"},
    )
    assert field.status == 201, field.body
    conversation = talked(desk, customer, "My parcel is lost.")

    assert conversation["status"] == "collecting"
    assert (conversation["case_number"], conversation["case_sys_id"]) == (None, None)
    messages = messages_of(api, desk.token, conversation["id"])
    assert [(m["author"], m["status"], m["case_number"], m["channel"]) for m in messages] == [
        ("customer", "waiting_for_answers", None, "dm"),
        ("bot", "delivered", None, "dm"),
    ]
    assert messages[1]["text"] == "Which city do you live in?"


def test_a_customer_has_a_conversation_per_channel(api, desk, customer):
    desk.customer_dm(customer, "A DM")
    desk.customer_mention(customer, "and a public post")
    drained(api.stack)

    mine = desk.conversations_with(customer)
    assert sorted(conversation["channel"] for conversation in mine) == ["dm", "mention"]
    assert len({conversation["id"] for conversation in mine}) == 2
    [mention] = [conversation for conversation in mine if conversation["channel"] == "mention"]
    [dm] = [conversation for conversation in mine if conversation["channel"] == "dm"]
    assert (mention["latest_channel"], dm["latest_channel"]) == ("post", "dm")
    [message, reply] = messages_of(api, desk.token, mention["id"])
    assert f"@{desk.account}" in message["text"] and "and a public post" in message["text"]
    assert (reply["direction"], reply["author"]) == ("outbound", "bot")
    assert (message["channel"], reply["channel"]) == ("post", "post")


def talked_undelivered(desk, customer: str, text: str) -> dict:
    """`customer` DMs `text`; X refuses the service's answer (the case's acknowledgement)
    for good: a failed message in the conversation."""
    fault = {"endpoint": "dm", "status": 400, "times": 1}
    assert requests.post(f"{desk.x_url}/sandbox/faults", json=fault, timeout=10).ok
    return talked(desk, customer, text)


@pytest.fixture
def failed_and_fine(desk) -> tuple[str, str]:
    """Two customers of the desk: X refused the answer to the first, not the second's."""
    failed, fine = new_customer(desk), new_customer(desk)
    talked_undelivered(desk, failed, "Is anyone there?")
    talked(desk, fine, "All good, thanks")
    return failed, fine


def test_failed_true_lists_the_conversations_with_a_failed_message(api, desk, failed_and_fine):
    failed, fine = failed_and_fine

    [conversation] = listed(api, desk.token, "&failed=true")
    assert conversation["customer_screen_name"] == failed
    assert conversation["failed_messages"] == 1
    statuses = [m["status"] for m in messages_of(api, desk.token, conversation["id"])]
    assert statuses.count("failed") == 1, statuses
    everyone = listed(api, desk.token)
    assert sorted(names(everyone)) == sorted([failed, fine])
    assert listed(api, desk.token, "&failed=false") == everyone
    assert {c["customer_screen_name"]: c["failed_messages"] for c in everyone}[fine] == 0


def test_failed_filters_what_each_caller_may_see(api, desk, failed_and_fine, other_tenant):
    failed, _ = failed_and_fine
    [mine] = listed(api, desk.token, "&failed=true")

    assert listed(api, other_tenant.token, "&failed=true") == []
    refused = api.get(
        f"/conversations/?user={desk.tenant_id}&failed=true", token=other_tenant.token
    )
    assert_envelope(refused, 403, "PERMISSION_DENIED")
    assert failed not in refused.text
    anonymous = api.get("/conversations/?failed=true")
    assert_envelope(anonymous, 401, "NOT_AUTHENTICATED")
    assert failed not in anonymous.text

    assert listed(api, api.admin_token, f"&user={desk.tenant_id}&failed=true") == [mine]
    everyones = listed(api, api.admin_token, "&failed=true")
    assert mine in everyones
    assert all(conversation["failed_messages"] > 0 for conversation in everyones)


def stored_secrets() -> list[str]:
    """Every tenant secret in the stack's Secrets Manager: ServiceNow passwords and the X
    accounts' access tokens and token secrets."""
    manager = boto3.client("secretsmanager")
    values = []
    for secret in manager.list_secrets()["SecretList"]:
        if "/servicenow/" in secret["Name"] or "/x/" in secret["Name"]:
            text = manager.get_secret_value(SecretId=secret["ARN"])["SecretString"]
            values += json.loads(text).values() if text.startswith("{") else [text]
    return values


def test_nothing_secret_is_listed(api, desk, customer):
    conversation = talked(desk, customer, "Hello")
    stack = api.stack
    secrets = [
        stack.servicenow_sandbox.admin_password,
        stack.x_sandbox.consumer_secret,
        desk.token,
        api.admin_token,
        *stored_secrets(),
    ]
    assert len(secrets) > 6  # this desk's at least: its password, X token and token secret
    for reply in (
        api.get("/conversations/", token=desk.token),
        api.get(f"/conversations/{conversation['id']}/messages/", token=desk.token),
        api.get("/conversations/?page_size=200", token=api.admin_token),
    ):
        assert reply.status == 200
        assert not [secret for secret in secrets if secret in reply.text]


# ---------------------------------------------------------------- order and pages


@pytest.fixture
def three_customers(desk) -> list[str]:
    """Three customers whose DMs X delivers out of order: the oldest last. Answers them
    latest first, as they are listed."""
    base = datetime.now(UTC).replace(microsecond=250_000) - timedelta(minutes=10)
    oldest, middle, latest = (new_customer(desk) for _ in range(3))
    dm_at(desk, middle, "Second", base + timedelta(seconds=1))
    dm_at(desk, latest, "Third", base + timedelta(seconds=2))
    dm_at(desk, oldest, "First", base)
    return [latest, middle, oldest]


def test_the_latest_conversation_is_listed_first(api, desk, three_customers):
    assert names(listed(api, desk.token)) == three_customers

    # A new message moves its conversation to the top.
    latest, middle, oldest = three_customers
    dm_at(desk, oldest, "Any news?", datetime.now(UTC).replace(microsecond=500_000))
    assert names(listed(api, desk.token)) == [oldest, latest, middle]
    # An admin sees the same order, for the tenant and among every tenant's.
    assert names(listed(api, api.admin_token, f"&user={desk.tenant_id}")) == [
        oldest,
        latest,
        middle,
    ]
    everyone = names(listed(api, api.admin_token))
    assert [name for name in everyone if name in three_customers] == [oldest, latest, middle]


def test_a_message_sent_on_a_whole_second_is_ordered_by_its_time(api, desk):
    whole_second = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    earlier, later = new_customer(desk), new_customer(desk)
    dm_at(desk, earlier, "Sent at .000", whole_second)  # X's ids are in ms: 1 in 1000
    dm_at(desk, later, "Sent at .500", whole_second + timedelta(milliseconds=500))

    # Every tenant's list, sorted in Python, has them right; the tenant's does not.
    everyone = names(listed(api, api.admin_token))
    assert [name for name in everyone if name in (earlier, later)] == [later, earlier]
    assert names(listed(api, desk.token)) == [later, earlier]


def test_conversations_are_paginated(api, desk, three_customers):
    first = api.get("/conversations/?page_size=2", token=desk.token)
    assert first.status == 200, first.body
    assert first.body["count"] == 3 and first.body["previous"] is None
    assert names(first.body["results"]) == three_customers[:2]
    assert first.body["next"].startswith(f"{api.stack.public_base_url}/conversations")
    assert parse_qs(urlsplit(first.body["next"]).query) == {"page": ["2"], "page_size": ["2"]}

    second = api.get(first.body["next"], token=desk.token)
    assert names(second.body["results"]) == three_customers[2:]
    assert second.body["count"] == 3 and second.body["next"] is None
    assert api.get(second.body["previous"], token=desk.token).body == first.body

    assert names(all_pages(api, "/conversations/?page_size=1", desk.token)) == three_customers
    not_there = api.get("/conversations/?page=3&page_size=2", token=desk.token)
    assert_envelope(not_there, 404, "NOT_FOUND")
    assert "page" in not_there.body["error"]


def test_an_admins_page_links_keep_the_tenant(api, desk, three_customers):
    first = api.get(f"/conversations/?user={desk.tenant_id}&page_size=2", token=api.admin_token)
    assert first.status == 200, first.body
    assert parse_qs(urlsplit(first.body["next"]).query)["user"] == [desk.tenant_id]
    second = api.get(first.body["next"], token=api.admin_token)
    assert names(first.body["results"] + second.body["results"]) == three_customers


def test_messages_are_paginated(api, desk, customer):
    conversation = talked(desk, customer, "One", "Two")
    every = messages_of(api, desk.token, conversation["id"])
    assert len(every) == 3  # One, its acknowledgement, Two

    path = f"/conversations/{conversation['id']}/messages/"
    first = api.get(f"{path}?page_size=2", token=desk.token).body
    assert (first["count"], first["previous"], first["results"]) == (3, None, every[:2])
    second = api.get(first["next"], token=desk.token).body
    assert (second["next"], second["results"]) == (None, every[2:])
    assert urlsplit(first["next"]).path.rstrip("/") == path.rstrip("/")
    assert_envelope(api.get(f"{path}?page=3&page_size=2", token=desk.token), 404, "NOT_FOUND")


def test_a_tenant_with_no_conversations_has_an_empty_page(api, tenant):
    reply = api.get("/conversations/", token=tenant.token)
    assert reply.status == 200, reply.body
    assert reply.body == {"count": 0, "next": None, "previous": None, "results": []}


# ---------------------------------------------------------------- bad input


BAD_PAGES = [
    ("page=0", "page", "greater than or equal to 1"),
    ("page=-1", "page", "greater than or equal to 1"),
    ("page=abc", "page", "integer"),
    ("page=1.5", "page", "integer"),
    ("page=", "page", "integer"),
    ("page=1&page=2", "page", "integer"),
    ("page_size=0", "page_size", "greater than or equal to 1"),
    (f"page_size={MAX_PAGE_SIZE + 1}", "page_size", f"less than or equal to {MAX_PAGE_SIZE}"),
    ("page_size=99999999999999999999", "page_size", f"less than or equal to {MAX_PAGE_SIZE}"),
    ("page_size=abc", "page_size", "integer"),
    ("page_size=-5", "page_size", "greater than or equal to 1"),
]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        *BAD_PAGES,
        ("user=" + "x" * 65, "user", "at most 64 characters"),
        ("failed=maybe", "failed", "valid boolean"),
        ("failed=", "failed", "valid boolean"),
        ("failed=2", "failed", "valid boolean"),
        ("failed=true&failed=false", "failed", "valid boolean"),
    ],
)
def test_a_bad_query_parameter_of_the_list_is_a_400(api, tenant, query, field, says):
    reply = api.get(f"/conversations/?{query}", token=tenant.token)
    assert_envelope(reply, 400, "VALIDATION_ERROR", field)
    assert says in " ".join(reply.body["details"][field]), reply.body


def test_a_bad_query_parameter_of_messages_is_a_400(api, desk, customer):
    conversation = talked(desk, customer, "Hello")
    before = messages_of(api, desk.token, conversation["id"])
    for query, field, says in BAD_PAGES:
        reply = api.get(f"/conversations/{conversation['id']}/messages/?{query}", token=desk.token)
        assert_envelope(reply, 400, "VALIDATION_ERROR", field)
        assert says in " ".join(reply.body["details"][field]), (query, reply.body)
    assert messages_of(api, desk.token, conversation["id"]) == before


def test_the_largest_page_size_is_accepted(api, tenant):
    assert api.get(f"/conversations/?page_size={MAX_PAGE_SIZE}", token=tenant.token).status == 200


def test_a_deeply_nested_body_is_a_4xx_not_a_5xx(api, tenant):
    reply = api.get("/conversations/", token=tenant.token, data="[" * 5000 + "]" * 5000)
    assert 400 <= reply.status < 500, reply.text


# ---------------------------------------------------------------- who may read what


def test_anonymous_and_unknown_tokens_are_401(api, desk, customer):
    conversation = talked(desk, customer, "Hello")
    paths = [
        "/conversations/",
        f"/conversations/{conversation['id']}/messages/",
        f"/conversations/?user={desk.tenant_id}",
    ]
    for path in paths:
        for token in (None, "not-a-token", uuid.uuid4().hex * 2):
            reply = api.get(path, token=token)
            assert_envelope(reply, 401, "NOT_AUTHENTICATED")
            assert customer not in reply.text


def test_a_logged_out_token_is_401(api, tenant, desk, customer):
    conversation = talked(desk, customer, "Hello")
    token = api.login(tenant.username, tenant.password)
    assert api.post("/auth/logout/", token=token).status in (200, 204)
    reply = api.get(f"/conversations/{conversation['id']}/messages/", token=token)
    assert_envelope(reply, 401, "NOT_AUTHENTICATED")


def test_the_developer_api_key_cannot_read_conversations(api, desk, customer):
    """The key is for the tenant's ServiceNow instance (POST /events/) only."""
    conversation = talked(desk, customer, "Hello")
    key = api.post("/api-key/", token=desk.token)
    assert key.status == 201, key.body
    for path in ("/conversations/", f"/conversations/{conversation['id']}/messages/"):
        reply = api.get(path, token=key.body["token"])
        assert_envelope(reply, 403, "PERMISSION_DENIED")
        assert customer not in reply.text


def test_a_tenant_sees_only_its_own(api, desk, customer, other_tenant):
    conversation = talked(desk, customer, "Only for Acme")

    assert listed(api, other_tenant.token) == []
    refused = api.get(f"/conversations/?user={desk.tenant_id}", token=other_tenant.token)
    assert_envelope(refused, 403, "PERMISSION_DENIED")
    assert customer not in refused.text

    # Another tenant's conversation is as unknown as an id that does not exist.
    theirs = api.get(f"/conversations/{conversation['id']}/messages/", token=other_tenant.token)
    unknown = api.get(f"/conversations/{UNKNOWN_ID}/messages/", token=other_tenant.token)
    assert_envelope(theirs, 404, "NOT_FOUND")
    assert_envelope(unknown, 404, "NOT_FOUND")
    assert theirs.body["error"].replace(conversation["id"], UNKNOWN_ID) == unknown.body["error"]
    assert "Only for Acme" not in theirs.text and customer not in theirs.text


def test_a_tenant_may_name_itself(api, desk, customer):
    talked(desk, customer, "Hello")
    assert listed(api, desk.token, f"&user={desk.tenant_id}") == listed(api, desk.token)


def test_an_admin_reads_every_tenants_conversations(api, desk, other_desk):
    ours, theirs = new_customer(desk), new_customer(other_desk)
    mine = talked(desk, ours, "Hello from a customer of Acme")
    other = talked(other_desk, theirs, "Hello from a customer of the other")

    everyone = listed(api, api.admin_token)
    assert mine in everyone and other in everyone
    assert listed(api, api.admin_token, f"&user={desk.tenant_id}") == [mine]
    assert listed(api, api.admin_token, f"&user={other_desk.tenant_id}") == [other]
    for token, conversation in ((desk.token, mine), (other_desk.token, other)):
        assert messages_of(api, api.admin_token, conversation["id"]) == messages_of(
            api, token, conversation["id"]
        )


@pytest.mark.parametrize(
    "conversation_id",
    [
        pytest.param(UNKNOWN_ID, id="unknown"),
        pytest.param("..", id="dots"),
        pytest.param("x" * 1000, id="long"),
        pytest.param("%00", id="nul"),
    ],
)
def test_an_unknown_conversation_is_a_404_for_anyone(api, tenant, conversation_id):
    for token in (tenant.token, api.admin_token):
        reply = api.get(f"/conversations/{conversation_id}/messages/", token=token)
        assert_envelope(reply, 404, "NOT_FOUND")


def test_a_deleted_tenants_conversations_are_gone(api, desk, customer):
    conversation = talked(desk, customer, "Hello")
    assert api.delete(f"/auth/users/{desk.tenant_id}/", token=api.admin_token).status == 204

    assert conversation["id"] not in {item["id"] for item in listed(api, api.admin_token)}
    reply = api.get(f"/conversations/{conversation['id']}/messages/", token=api.admin_token)
    assert_envelope(reply, 404, "NOT_FOUND")
