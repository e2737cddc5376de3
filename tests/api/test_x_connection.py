"""Connecting a tenant's X account (seeds/000: get-auth-url, twitter-details, twitter-revoke)
against the X sandbox: OAuth 2.0 with PKCE (and the OAuth 1.0a redirect of an
authorization started before), the confirmation by the tenant that started it, the
webhook subscription, and every refusal, including the attacks on the flow."""

import hashlib
import json
import os
import re
import time
import uuid
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from tests.api.client import all_pages, assert_envelope
from tests.api.desks import start_oauth1
from twittnow.x_app import crc_response

MAX_VERIFIER_FAILURES = 5  # connections.MAX_VERIFIER_FAILURES


@pytest.fixture(scope="session")
def x_sandbox_url(local_stack) -> str:
    return local_stack.x_sandbox.base_url


@pytest.fixture(scope="session")
def registered_webhook(local_stack, x_sandbox_url) -> str:
    """The webhook the local stack registered with the sandbox X at start (in a deployed
    stack, the operator's `python -m ops webhooks register`)."""
    webhooks = requests.get(f"{x_sandbox_url}/sandbox", timeout=10).json()["webhooks"]
    ours = [
        webhook
        for webhook in webhooks
        if webhook["url"] == f"{local_stack.public_base_url}/twitter-activity"
    ]
    assert ours and ours[0]["valid"], webhooks
    return ours[0]["id"]


@pytest.fixture
def screen_name() -> str:
    return f"acme_{uuid.uuid4().hex[:8]}"


def authorize_on_x(api, token: str, answer: str, auth_url: str | None = None) -> str:
    """GET /get-auth-url (unless `auth_url` is given), then the answer on X's page;
    returns X's redirect."""
    if auth_url is None:
        reply = api.get("/get-auth-url", token=token)
        assert reply.status == 200, reply.body
        auth_url = reply.body["auth_url"]
    authorize = requests.get(f"{auth_url}&{answer}", allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text
    return authorize.headers["Location"]


def approve(api, token: str, screen_name: str) -> dict:
    """The tenant starts, `screen_name` approves on X, and X's redirect lands on the
    callback: answers the pending connection it shows (with its confirmation code)."""
    reply = api.get(authorize_on_x(api, token, f"approve={screen_name}") + "&format=json")
    assert reply.status == 200, reply.body
    return reply.body


def confirm(api, token: str | None, confirmation: str):
    return api.post("/twitter-callback/confirm/", token=token, json={"confirmation": confirmation})


def connect(api, token: str, screen_name: str) -> dict:
    reply = confirm(api, token, approve(api, token, screen_name)["confirmation"])
    assert reply.status == 200, reply.body
    return reply.body


def oauth_token_of(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["oauth_token"][0]


def state_of(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["state"][0]


def state_key(state: str) -> dict:
    """The OAuth requests table's key of an OAuth 2.0 authorization: the state's digest."""
    return {"oauth_token": {"S": "oauth2:" + hashlib.sha256(state.encode()).hexdigest()}}


def x_details_of(api, admin_token: str, user_id: str) -> list[dict]:
    listed = all_pages(api, "/twitter-details/?page_size=200", admin_token)
    return [details for details in listed if details["user"] == user_id]


def sandbox_subscriptions(x_sandbox_url: str, screen_name: str) -> list[dict]:
    state = requests.get(f"{x_sandbox_url}/sandbox", timeout=10).json()
    return [
        subscription
        for subscription in state["subscriptions"]
        if subscription.get("screen_name") == screen_name
    ]


def test_the_seed_walkthrough(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    started = api.get("/get-auth-url", token=tenant.token)
    assert started.status == 200
    url = urlsplit(started.body["auth_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == api.stack.x_sandbox.oauth2_authorize_url
    query = {name: value for name, [value] in parse_qs(url.query).items()}
    assert set(query) == {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert query["client_id"] == api.stack.x_sandbox.client_id
    assert query["redirect_uri"] == f"{api.stack.public_base_url}/twitter-callback"
    assert query["scope"] == (
        "tweet.read tweet.write users.read dm.read dm.write media.write offline.access"
    )

    connected = connect(api, tenant.token, screen_name)
    assert connected["screen_name"] == screen_name and connected["auth"] == "oauth2"
    assert connected["user"] == tenant.id and connected["status"] == "connected"
    assert sandbox_subscriptions(x_sandbox_url, screen_name)

    assert x_details_of(api, admin_token, tenant.id) == [connected]
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).body == connected

    assert api.delete("/twitter-revoke/", token=tenant.token).status == 204
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).status == 404
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)
    assert api.delete("/twitter-revoke/", token=tenant.token).status == 204  # idempotent


def test_the_callback_names_the_company_and_connects_nothing_until_confirmed(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    pending = approve(api, tenant.token, screen_name)

    assert pending["status"] == "pending_confirmation"
    assert pending["screen_name"] == screen_name and pending["company_name"] == "tenant Ltd"
    assert pending["message"] == (
        f"@{screen_name} will be connected to tenant Ltd in Twittnow. "
        "If you did not start this, close this page: nothing is connected."
    )
    assert len(pending["confirmation"]) >= 43  # 256 random bits, URL-safe base64
    assert pending["confirm_url"].endswith("/twitter-callback/confirm/")
    assert pending["confirmation"] in pending["confirm_command"]
    assert x_details_of(api, admin_token, tenant.id) == []
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)

    connected = confirm(api, tenant.token, pending["confirmation"])
    assert connected.status == 200, connected.body
    assert x_details_of(api, admin_token, tenant.id) == [connected.body]
    assert sandbox_subscriptions(x_sandbox_url, screen_name)


def test_the_callback_answers_a_page_for_the_person(api, tenant, screen_name, registered_webhook):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    page = api.get(callback)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store"
    assert f"@{screen_name} will be connected to tenant Ltd in Twittnow." in page.text
    assert "If you did not start this, close this page: nothing is connected." in page.text
    code = re.search(r"<code style='font-size:1.2em'>([\w-]+)</code>", page.text).group(1)
    assert f"curl -X POST {api.stack.public_base_url}/twitter-callback/confirm/" in page.text
    # The console confirms with the code from the link's fragment, which no server gets.
    console = f"{api.stack.public_base_url}/console/#/connect-x?confirmation={code}"
    assert f"<a href='{console}&amp;screen_name={screen_name}&amp;company=tenant+Ltd'>" in page.text
    assert confirm(api, tenant.token, code).status == 200


# ---------------------------------------------------------------- started from the console


def console_redirect(reply) -> dict[str, str]:
    """The callback's 303 to the console: answers what its fragment carries."""
    assert reply.status == 303, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{os.environ['PUBLIC_BASE_URL']}/console/"
    )
    assert location.query == ""  # in the fragment only: no server, log or referrer gets it
    route, _, fragment = location.fragment.partition("?")
    assert route == "/connect-x"
    return {name: value for name, [value] in parse_qs(fragment).items()}


def start_from_console(api, token: str) -> str:
    reply = api.get("/get-auth-url?return_to=console", token=token)
    assert reply.status == 200, reply.body
    assert set(reply.body) == {"auth_url", "expires_at"}
    return reply.body["auth_url"]


def test_started_from_the_console_the_callback_sends_the_browser_back_to_it(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    auth_url = start_from_console(api, tenant.token)
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["OAUTH_REQUESTS_TABLE"],
        Key=state_key(parse_qs(urlsplit(auth_url).query)["state"][0]),
        ConsistentRead=True,
    )["Item"]
    assert item["return_to_console"] == {"BOOL": True}

    reply = api.get(authorize_on_x(api, tenant.token, f"approve={screen_name}", auth_url))

    fragment = console_redirect(reply)
    assert set(fragment) == {"confirmation", "screen_name", "company"}
    assert (fragment["screen_name"], fragment["company"]) == (screen_name, "tenant Ltd")
    assert fragment["confirmation"] not in reply.text
    assert x_details_of(api, admin_token, tenant.id) == []  # nothing connected yet
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)
    connected = confirm(api, tenant.token, fragment["confirmation"])
    assert connected.status == 200, connected.body
    assert x_details_of(api, admin_token, tenant.id) == [connected.body]


def test_started_from_the_console_json_is_still_answered_as_asked(
    api, tenant, screen_name, registered_webhook
):
    auth_url = start_from_console(api, tenant.token)
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}", auth_url)
    pending = api.get(callback + "&format=json")
    assert pending.status == 200 and pending.body["screen_name"] == screen_name
    assert confirm(api, tenant.token, pending.body["confirmation"]).status == 200


def test_without_return_to_the_callback_still_answers_its_page(
    api, tenant, screen_name, registered_webhook
):
    page = api.get(authorize_on_x(api, tenant.token, f"approve={screen_name}"))
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Location" not in page.headers


def test_declined_from_the_console_sends_the_reason_back_and_spends_nothing(
    api, admin_token, tenant, screen_name, registered_webhook
):
    auth_url = start_from_console(api, tenant.token)
    declined = authorize_on_x(api, tenant.token, "deny=1", auth_url)

    assert console_redirect(api.get(declined)) == {"error": "PERMISSION_DENIED"}
    assert_envelope(api.get(declined + "&format=json"), 403, "PERMISSION_DENIED")
    assert x_details_of(api, admin_token, tenant.id) == []
    # A forged denial spends nothing: the real approval still comes back with its code.
    approved = authorize_on_x(api, tenant.token, f"approve={screen_name}", auth_url)
    assert "confirmation" in console_redirect(api.get(approved))


def test_a_refusal_after_the_authorization_is_spent_still_goes_back_to_the_console(
    api, admin_token, tenant, screen_name, registered_webhook
):
    """The one-account rule refuses after the exchange spent the authorization."""
    connect(api, tenant.token, screen_name)
    auth_url = start_from_console(api, tenant.token)
    callback = authorize_on_x(api, tenant.token, f"approve=b{screen_name}", auth_url)

    assert console_redirect(api.get(callback)) == {"error": "CONFLICT"}
    # Spent: the same redirect again finds nothing, so nothing says it came from the console.
    page = api.get(callback)
    assert page.status == 400 and page.headers["Content-Type"].startswith("text/html")
    assert [d["screen_name"] for d in x_details_of(api, admin_token, tenant.id)] == [screen_name]


def test_return_to_permissions(api, admin_token, tenant, other_tenant, screen_name):
    assert_envelope(api.get("/get-auth-url?return_to=console"), 401, "NOT_AUTHENTICATED")
    api_key = api.post("/api-key/", token=tenant.token).body["token"]
    assert_envelope(
        api.get("/get-auth-url?return_to=console", token=api_key), 403, "PERMISSION_DENIED"
    )
    assert api.get("/get-auth-url?return_to=console", token=admin_token).status == 200
    # The code the console gets confirms for the tenant that started only.
    auth_url = start_from_console(api, tenant.token)
    fragment = console_redirect(
        api.get(authorize_on_x(api, tenant.token, f"approve={screen_name}", auth_url))
    )
    assert_envelope(confirm(api, other_tenant.token, fragment["confirmation"]), 404, "NOT_FOUND")
    assert_envelope(confirm(api, admin_token, fragment["confirmation"]), 404, "NOT_FOUND")
    assert x_details_of(api, admin_token, other_tenant.id) == []
    assert confirm(api, tenant.token, fragment["confirmation"]).status == 200


@pytest.mark.parametrize(
    "query",
    [
        "return_to=",
        "return_to=Console",
        "return_to=https%3A%2F%2Fevil.example%2F",
        "return_to=/console/",
        "return_to=" + "c" * 300,
    ],
)
def test_a_bad_return_to_is_a_400_naming_it_and_stores_nothing(api, tenant, query):
    reply = api.get(f"/get-auth-url?{query}", token=tenant.token)
    assert_envelope(reply, 400, "VALIDATION_ERROR", "return_to")
    assert "evil.example" not in reply.text and "c" * 300 not in reply.text
    assert not [item for item in _oauth_request_items() if item["user_id"]["S"] == tenant.id]


def test_the_page_escapes_the_company_name(
    api, admin_token, unique_email, screen_name, registered_webhook
):
    username, password = unique_email("markup"), f"pw-{uuid.uuid4().hex}"
    created = api.post(
        "/auth/users/",
        token=admin_token,
        json={
            "username": username,
            "password": password,
            "company_name": "<script>alert(1)</script>",
        },
    )
    assert created.status == 201, created.body
    page = api.get(authorize_on_x(api, api.login(username, password), f"approve={screen_name}"))
    assert page.status == 200
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


# ---------------------------------------------------------------- phishing (issue item 4)


def test_a_tenant_that_sends_its_authorize_url_to_another_company_gets_nothing_without_the_code(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    """Tenant D starts, sends the URL to @victimco's owner, who approves on X: the code is
    on the victim's page only. D cannot connect the account without it."""
    victims_page = approve(api, tenant.token, screen_name)
    assert victims_page["company_name"] == "tenant Ltd"  # the victim sees who asks

    code = victims_page["confirmation"]
    for guess in ("", "x", uuid.uuid4().hex, code[:-1] + ("B" if code.endswith("A") else "A")):
        refused = confirm(api, tenant.token, guess)
        assert refused.status in (400, 404), refused.body
        assert_envelope(refused, refused.status, refused.body["code"])
    assert x_details_of(api, admin_token, tenant.id) == []
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)  # no delivery reaches D


def test_only_the_tenant_that_started_can_confirm(
    api, admin_token, tenant, other_tenant, screen_name, registered_webhook, x_sandbox_url
):
    code = approve(api, tenant.token, screen_name)["confirmation"]
    users_before = api.users_as_admin()

    assert_envelope(confirm(api, other_tenant.token, code), 404, "NOT_FOUND")
    assert_envelope(confirm(api, admin_token, code), 404, "NOT_FOUND")
    assert_envelope(confirm(api, None, code), 401, "NOT_AUTHENTICATED")
    api_key = api.post("/api-key/", token=tenant.token).body["token"]
    assert_envelope(confirm(api, api_key, code), 403, "PERMISSION_DENIED")

    assert x_details_of(api, admin_token, other_tenant.id) == []
    assert x_details_of(api, admin_token, tenant.id) == []
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)
    assert api.users_as_admin() == users_before
    # Nothing was used up: the tenant that started still confirms with it.
    assert confirm(api, tenant.token, code).status == 200
    assert x_details_of(api, admin_token, other_tenant.id) == []


def test_an_expired_code_is_refused(api, admin_token, tenant, screen_name, registered_webhook):
    code = approve(api, tenant.token, screen_name)["confirmation"]
    boto3.client("dynamodb").update_item(
        TableName=os.environ["CREDENTIALS_TABLE"],
        Key={
            "user_id": {"S": f"x-pending#{hashlib.sha256(code.encode()).hexdigest()}"},
            "kind": {"S": "x_pending"},
        },
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert_envelope(confirm(api, tenant.token, code), 404, "NOT_FOUND")
    assert x_details_of(api, admin_token, tenant.id) == []


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"confirmation": ""},
        {"confirmation": 7},
        {"confirmation": "x" * 201},
        {"confirmation": "abc", "user": "someone"},
        [],
    ],
)
def test_confirming_with_bad_input_is_a_400_and_changes_nothing(
    api, admin_token, tenant, screen_name, registered_webhook, body
):
    code = approve(api, tenant.token, screen_name)["confirmation"]
    reply = api.post("/twitter-callback/confirm/", token=tenant.token, json=body)
    assert_envelope(reply, 400, "VALIDATION_ERROR")
    assert x_details_of(api, admin_token, tenant.id) == []
    assert confirm(api, tenant.token, code).status == 200


def test_a_pending_connection_keeps_no_usable_token(api, tenant, screen_name, registered_webhook):
    secrets_before = _x_secrets()
    code = approve(api, tenant.token, screen_name)["confirmation"]

    assert _x_secrets() == secrets_before  # nothing in Secrets Manager before confirmation
    [pending] = [
        item
        for item in _credentials_items()
        if item["kind"]["S"] == "x_pending" and item["tenant_id"]["S"] == tenant.id
    ]
    assert set(pending) == {
        "user_id",
        "kind",
        "tenant_id",
        "x_user_id",
        "screen_name",
        "sealed_tokens",
        "expires_at",
    }
    assert code not in str(pending)

    assert confirm(api, tenant.token, code).status == 200
    [connection] = [
        item
        for item in _credentials_items()
        if item["kind"]["S"] == "x" and item["user_id"]["S"] == tenant.id
    ]
    tokens = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=connection["secret_arn"]["S"])[
            "SecretString"
        ]
    )
    assert set(tokens) == {"kind", "access_token", "refresh_token", "expires_at", "scope"}
    assert tokens["kind"] == "oauth2" and tokens["expires_at"].endswith("Z")
    assert tokens["access_token"] not in str(pending)
    assert tokens["refresh_token"] not in str(pending)
    assert not [
        item
        for item in _credentials_items()
        if item["kind"]["S"] == "x_pending" and item["tenant_id"]["S"] == tenant.id
    ]


# ---------------------------------------------------------------- forged redirects (issue item 8)
# A forged denial or wrong code spends nothing: tests/unit/test_connections.py.


def test_codes_cannot_be_guessed_at(api, tenant, screen_name, registered_webhook):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    forged = f"/twitter-callback?state={state_of(callback)}&format=json&code="
    for attempt in range(MAX_VERIFIER_FAILURES):
        refused = api.get(f"{forged}guess{attempt}")
        assert_envelope(refused, 400, "VALIDATION_ERROR")
        assert f"guess{attempt}" not in refused.text

    # The authorization is spent: even the real redirect is refused now.
    assert_envelope(api.get(callback + "&format=json"), 400, "VALIDATION_ERROR", "state")
    assert "Item" not in boto3.client("dynamodb").get_item(
        TableName=os.environ["OAUTH_REQUESTS_TABLE"], Key=state_key(state_of(callback))
    )


def test_declining_on_x_connects_nothing(api, admin_token, tenant, registered_webhook):
    callback = authorize_on_x(api, tenant.token, "deny=1")
    assert "error=access_denied" in callback
    assert_envelope(api.get(callback + "&format=json"), 403, "PERMISSION_DENIED")
    page = api.get(callback)
    assert page.status == 403 and "declined" in page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert x_details_of(api, admin_token, tenant.id) == []


def test_a_reused_or_unknown_state_is_refused_and_stores_nothing_more(
    api, admin_token, tenant, screen_name, registered_webhook
):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    pending = api.get(callback + "&format=json").body
    assert parse_qs(urlsplit(callback).query)["code"][0] not in json.dumps(pending)
    assert confirm(api, tenant.token, pending["confirmation"]).status == 200
    assert_envelope(api.get(callback + "&format=json"), 400, "VALIDATION_ERROR", "state")
    assert_envelope(
        api.get("/twitter-callback?code=nope&state=nope&format=json"),
        400,
        "VALIDATION_ERROR",
        "state",
    )
    assert_envelope(api.get("/twitter-callback?format=json"), 400, "VALIDATION_ERROR")
    assert_envelope(
        api.get("/twitter-callback?error=invalid_scope&state=nope&format=json"),
        400,
        "VALIDATION_ERROR",
        "error",
    )
    assert len(x_details_of(api, admin_token, tenant.id)) == 1


@pytest.mark.parametrize(
    "query",
    [
        "code=" + "c" * 1001 + "&state=s",
        "state=" + "s" * 501 + "&code=c",
        "error=" + "e" * 201,
        "code=c&state=s&format=xml",
    ],
)
def test_a_malformed_callback_is_a_400_in_json_and_stores_nothing(api, admin_token, tenant, query):
    reply = api.get(f"/twitter-callback?{query}&format=json")
    assert_envelope(reply, 400, "VALIDATION_ERROR")
    assert "c" * 1001 not in reply.text and "s" * 501 not in reply.text  # not echoed
    assert_envelope(api.get(f"/twitter-callback?{query}"), 400, "VALIDATION_ERROR")
    assert x_details_of(api, admin_token, tenant.id) == []


def test_a_code_x_refuses_is_a_page_for_the_person_and_stores_nothing(
    api, admin_token, tenant, screen_name, registered_webhook
):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    page = api.get(f"/twitter-callback?state={state_of(callback)}&code=wrong")
    assert page.status == 400 and page.headers["Content-Type"].startswith("text/html")
    assert "wrong, expired or already used" in page.text
    assert x_details_of(api, admin_token, tenant.id) == []
    assert api.get(callback + "&format=json").status == 200  # the real one still works


def test_an_expired_authorization_is_refused(
    api, admin_token, tenant, screen_name, registered_webhook
):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    boto3.client("dynamodb").update_item(
        TableName=os.environ["OAUTH_REQUESTS_TABLE"],
        Key=state_key(state_of(callback)),
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    assert_envelope(api.get(callback + "&format=json"), 400, "VALIDATION_ERROR", "state")
    assert x_details_of(api, admin_token, tenant.id) == []


def test_the_state_and_the_verifier_stay_in_the_service(api, tenant, registered_webhook):
    started = api.get("/get-auth-url", token=tenant.token).body
    query = parse_qs(urlsplit(started["auth_url"]).query)
    [state], [challenge] = query["state"], query["code_challenge"]
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["OAUTH_REQUESTS_TABLE"], Key=state_key(state), ConsistentRead=True
    )["Item"]
    assert state not in json.dumps(item) and item["user_id"]["S"] == tenant.id
    verifier = item["code_verifier"]["S"]
    assert verifier not in json.dumps(started) and 43 <= len(verifier) <= 128
    assert challenge not in json.dumps(item)


# ---------------------------------------------------------------- OAuth 1.0a, started before


def test_an_oauth1_authorization_started_before_still_connects(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    callback = authorize_on_x(
        api, tenant.token, f"approve={screen_name}", start_oauth1(api, tenant.id)
    )
    assert "oauth_verifier=" in callback
    pending = api.get(callback + "&format=json")
    assert pending.status == 200, pending.body

    connected = confirm(api, tenant.token, pending.body["confirmation"])

    assert connected.status == 200, connected.body
    assert connected.body["auth"] == "oauth1"
    assert x_details_of(api, admin_token, tenant.id) == [connected.body]
    assert sandbox_subscriptions(x_sandbox_url, screen_name)


def test_oauth1_verifiers_cannot_be_guessed_at(api, tenant, screen_name, registered_webhook):
    callback = authorize_on_x(
        api, tenant.token, f"approve={screen_name}", start_oauth1(api, tenant.id)
    )
    forged = f"/twitter-callback?oauth_token={oauth_token_of(callback)}&format=json&oauth_verifier="
    for attempt in range(MAX_VERIFIER_FAILURES):
        assert_envelope(api.get(f"{forged}guess{attempt}"), 400, "VALIDATION_ERROR")

    assert_envelope(api.get(callback + "&format=json"), 400, "VALIDATION_ERROR", "oauth_token")


def test_declining_an_oauth1_authorization_connects_nothing(
    api, admin_token, tenant, registered_webhook
):
    callback = authorize_on_x(api, tenant.token, "deny=1", start_oauth1(api, tenant.id))
    assert "denied=" in callback
    assert_envelope(api.get(callback + "&format=json"), 403, "PERMISSION_DENIED")
    assert x_details_of(api, admin_token, tenant.id) == []


# ---------------------------------------------------------------- one account, one tenant
# The rules at the callback and again at confirmation, an account released to another
# tenant, a used code: tests/unit/test_connections.py (the table's conditions behind them:
# tests/unit/test_fake_contracts.py).


def test_reconnecting_ones_own_account_keeps_the_record_and_another_account_is_refused(
    api, admin_token, tenant, screen_name, registered_webhook
):
    first = connect(api, tenant.token, screen_name)
    again = connect(api, tenant.token, screen_name)
    assert again["id"] == first["id"] and again["updated_at"] >= first["updated_at"]

    callback = authorize_on_x(api, tenant.token, f"approve=b{screen_name}")
    assert_envelope(api.get(callback + "&format=json"), 409, "CONFLICT")
    assert [details["screen_name"] for details in x_details_of(api, admin_token, tenant.id)] == [
        screen_name
    ]


def test_permissions(api, tenant, other_tenant, screen_name, registered_webhook):
    connected = connect(api, tenant.token, screen_name)
    assert_envelope(api.get("/get-auth-url"), 401, "NOT_AUTHENTICATED")
    assert_envelope(api.get("/get-auth-url", token="not-a-token"), 401, "NOT_AUTHENTICATED")
    api_key = api.post("/api-key/", token=other_tenant.token).body["token"]
    assert_envelope(api.get("/get-auth-url", token=api_key), 403, "PERMISSION_DENIED")
    assert api.get("/get-auth-url", token=api.admin_token).status == 200
    assert_envelope(api.delete("/twitter-revoke/"), 401, "NOT_AUTHENTICATED")
    own = api.get("/twitter-details/", token=tenant.token)
    assert own.status == 200
    assert [details["id"] for details in own.body["results"]] == [connected["id"]]
    assert api.get("/twitter-details/", token=other_tenant.token).body["results"] == []
    assert_envelope(api.get("/twitter-details/", token=api_key), 403, "PERMISSION_DENIED")
    assert_envelope(
        api.get(f"/twitter-details/{connected['id']}/", token=other_tenant.token), 404, "NOT_FOUND"
    )
    assert_envelope(api.get(f"/twitter-details/{connected['id']}/"), 401, "NOT_AUTHENTICATED")
    assert api.delete("/twitter-revoke/", token=other_tenant.token).status == 204  # its own: none
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).status == 200


def test_no_token_or_secret_is_returned_or_kept_in_dynamodb(
    api, admin_token, tenant, screen_name, registered_webhook
):
    connected = connect(api, tenant.token, screen_name)
    assert set(connected) == {
        "id",
        "user",
        "x_user_id",
        "screen_name",
        "status",
        "status_detail",
        "webhook_api",
        "auth",
        "connected_at",
        "updated_at",
    }
    for item in _credentials_items():
        assert not {
            "access_token",
            "access_token_secret",
            "refresh_token",
            "oauth_token_secret",
        } & set(item)


# ---------------------------------------------------------------- X down


def test_starting_calls_no_x_so_x_being_down_does_not_stop_it(api, tenant, x_sandbox_url):
    with x_fault(x_sandbox_url, "*"):
        reply = api.get("/get-auth-url", token=tenant.token)
    assert reply.status == 200, reply.body


def test_x_down_at_the_callback_leaves_the_authorization_for_a_retry(
    api, tenant, screen_name, registered_webhook, x_sandbox_url
):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    with x_fault(x_sandbox_url, "oauth"):
        reply = api.get(callback + "&format=json")
    assert_envelope(reply, 503, "UPSTREAM_UNAVAILABLE")
    assert int(reply.headers["Retry-After"]) > 0
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["OAUTH_REQUESTS_TABLE"],
        Key=state_key(state_of(callback)),
        ConsistentRead=True,
    )["Item"]
    assert item["verifier_failures"]["N"] == "0"  # still usable
    # X's code was not spent by the failed exchange (the sandbox's fault answers first).
    assert api.get(callback).status == 200


def test_x_down_at_confirmation_leaves_the_code_for_a_retry(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    code = approve(api, tenant.token, screen_name)["confirmation"]
    with x_fault(x_sandbox_url, "webhooks"):
        reply = confirm(api, tenant.token, code)
    assert_envelope(reply, 503, "UPSTREAM_UNAVAILABLE")
    assert int(reply.headers["Retry-After"]) > 0
    assert x_details_of(api, admin_token, tenant.id) == []
    assert confirm(api, tenant.token, code).status == 200


@pytest.mark.parametrize("path", ["/twitter-activity", "/activity/", "/api/activity/"])
def test_the_webhook_answers_xs_crc_challenge(api, path):
    reply = api.get(f"{path}?crc_token=challenge-123")
    assert reply.status == 200
    assert reply.body == crc_response(os.environ["X_CONSUMER_SECRET"], "challenge-123")
    assert_envelope(api.get(path), 400, "VALIDATION_ERROR", "crc_token")


def test_deleting_a_tenant_disconnects_its_x_account(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    connected = connect(api, tenant.token, screen_name)
    assert api.delete(f"/auth/users/{tenant.id}/", token=admin_token).status == 204
    assert api.get(f"/twitter-details/{connected['id']}/", token=admin_token).status == 404
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)


def test_deleting_a_tenant_while_x_is_down_deletes_nothing(
    api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url
):
    connected = connect(api, tenant.token, screen_name)
    requests.post(
        f"{x_sandbox_url}/sandbox/faults",
        json={"endpoint": "*", "status": 503, "times": 5},
        timeout=10,
    )
    try:
        reply = api.delete(f"/auth/users/{tenant.id}/", token=admin_token)
    finally:
        requests.delete(f"{x_sandbox_url}/sandbox/faults", timeout=10)
    assert_envelope(reply, 503, "UPSTREAM_UNAVAILABLE")
    assert api.get(f"/auth/users/{tenant.id}/", token=tenant.token).status == 200
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).status == 200


# ---------------------------------------------------------------- helpers


@contextmanager
def x_fault(x_sandbox_url: str, endpoint: str):
    """The sandbox X answers 503 to the next call of `endpoint` while the block runs."""
    requests.post(
        f"{x_sandbox_url}/sandbox/faults",
        json={"endpoint": endpoint, "status": 503, "times": 1},
        timeout=10,
    )
    try:
        yield
    finally:
        requests.delete(f"{x_sandbox_url}/sandbox/faults", timeout=10)


def _credentials_items() -> list[dict]:
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=os.environ["CREDENTIALS_TABLE"])
    )
    return [item for page in pages for item in page["Items"]]


def _oauth_request_items() -> list[dict]:
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=os.environ["OAUTH_REQUESTS_TABLE"])
    )
    return [item for page in pages for item in page["Items"]]


def _x_secrets() -> set[str]:
    pages = boto3.client("secretsmanager").get_paginator("list_secrets").paginate()
    return {
        secret["Name"] for page in pages for secret in page["SecretList"] if "/x/" in secret["Name"]
    }
