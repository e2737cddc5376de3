"""Connecting with OAuth 2.0, end to end on the local stack with both sandboxes: GET
/get-auth-url, the approval on the sandbox X's OAuth 2.0 page, X's redirect to the
callback (code exchanged with PKCE, the account read with the new bearer token), the
tenant's confirmation; then a customer's DM reaches ServiceNow and the agent's reply goes
back over the bearer token. An account connected with OAuth 1.0a before keeps working,
and reconnecting makes it OAuth 2.0."""

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.api.client import ApiClient
from tests.api.desks import Desk, close_desk, connect_x, drained, open_desk
from tests.e2e.test_outbound import Agent

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(local_stack) -> ApiClient:
    client = ApiClient(local_stack, over_http=True)
    client.admin_token = client.login(local_stack.admin_username, local_stack.admin_password)
    return client


def agent_of(local_stack, desk: Desk) -> Agent:
    key = desk.api.post("/api-key/", token=desk.token)
    assert key.status in (200, 201), key.body
    settings = {"events_url": f"{local_stack.base_url}/events/", "api_key": key.body["token"]}
    answer = requests.put(f"{desk.servicenow_url}/sandbox/settings", json=settings, timeout=10)
    assert answer.ok, answer.text
    return Agent(desk, key.body["token"])


def sandbox_account(desk: Desk) -> dict:
    overview = desk.x("GET", "/sandbox")
    [account] = [item for item in overview["accounts"] if item["screen_name"] == desk.account]
    return account


def the_loop_runs(local_stack, desk: Desk, agent: Agent) -> None:
    """A customer's DM opens a case, and the agent's comment reaches them as a DM."""
    customer = f"jane_{uuid.uuid4().hex[:8]}"
    desk.customer_dm(customer, "My order never came.")
    drained(local_stack)
    [case] = desk.cases_of(customer)
    agent.act("comment", case["number"], "Sorry! A replacement ships today.")
    drained(local_stack)
    sent = desk.sent_to(customer)
    assert [item["text"] for item in sent][-1] == "Sorry! A replacement ships today."
    assert desk.messages_with(customer)[-1]["status"] == "delivered"


def test_connecting_with_oauth2_and_the_whole_loop_over_the_bearer_token(local_stack, api):
    desk = open_desk(api)  # GET /get-auth-url, approve, callback, confirm: OAuth 2.0
    try:
        agent = agent_of(local_stack, desk)
        details = desk.x_details()
        assert details["auth"] == "oauth2" and details["status"] == "connected"

        the_loop_runs(local_stack, desk, agent)

        # The account never authorized the app with OAuth 1.0a: every call made as it
        # (the subscription, the acknowledgement, the reply) went with its bearer token.
        account = sandbox_account(desk)
        assert account["oauth1"] is False
        assert account["oauth2"]["grants"] == 1
        assert desk.x_details()["status"] == "connected"
    finally:
        requests.put(f"{desk.servicenow_url}/sandbox/settings", json={"events_url": ""}, timeout=10)
        close_desk(desk)


def test_the_authorize_url_is_the_sandbox_xs_oauth2_page_with_pkce(local_stack, api):
    tenant = open_desk(api)
    try:
        started = api.get("/get-auth-url", token=tenant.token)
        assert started.status == 200, started.body
        url = urlsplit(started.body["auth_url"])
        assert url.geturl().startswith(local_stack.x_sandbox.oauth2_authorize_url + "?")
        query = parse_qs(url.query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [f"{local_stack.public_base_url}/twitter-callback"]
    finally:
        close_desk(tenant)


def test_an_oauth1_connection_keeps_working_until_the_tenant_reconnects(local_stack, api):
    desk = open_desk(api, oauth1=True)
    try:
        agent = agent_of(local_stack, desk)
        before = desk.x_details()
        assert before["auth"] == "oauth1"

        the_loop_runs(local_stack, desk, agent)

        account = sandbox_account(desk)
        assert account["oauth1"] is True and account["oauth2"]["grants"] == 0

        again = connect_x(api, desk.token, desk.account)  # with OAuth 2.0 now

        assert again["id"] == before["id"] and again["auth"] == "oauth2"
        the_loop_runs(local_stack, desk, agent)
        assert sandbox_account(desk)["oauth2"]["grants"] == 1
    finally:
        requests.put(f"{desk.servicenow_url}/sandbox/settings", json={"events_url": ""}, timeout=10)
        close_desk(desk)
