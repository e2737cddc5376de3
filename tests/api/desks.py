"""A tenant wired to the local stack's sandboxes, for tests that need real conversations:
ServiceNow details pointing at the sandbox ServiceNow and an X account connected through
the sandbox X. Customers then write to the account on the sandbox X (which delivers to
the stack's webhook), or the test posts X's signed deliveries itself.

Shared by the API tests (either transport: the Desk talks through the ApiClient it is
given) and the end-to-end tests."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from sandboxes.x.payloads import Account, DirectMessage, aaa_direct_message
from tests.api.client import ApiClient, Reply, Tenant, all_pages
from twittnow.clients.x import AppCredentials, XClient
from twittnow.x_app import delivery_signature

WEBHOOK = "/twitter-activity"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"


@dataclass
class Desk:
    """A tenant whose X account and ServiceNow instance are the sandboxes'."""

    api: ApiClient
    token: str
    tenant_id: str
    account: str  # the company's screen name on the sandbox X
    x_url: str
    servicenow_url: str
    details_id: str

    @property
    def x_account(self) -> Account:
        """The company's account as X's deliveries name it (ids depend on the name only)."""
        return Account.named(self.account)

    # ------------------------------------------------------------ acting on X

    def customer_dm(self, customer: str, text: str, **extra) -> dict:
        return self.x(
            "POST", f"/sandbox/customers/{customer}/dm", to=self.account, text=text, **extra
        )

    def customer_mention(self, customer: str, text: str, **extra) -> dict:
        return self.x(
            "POST", f"/sandbox/customers/{customer}/mention", to=self.account, text=text, **extra
        )

    def introduce(self, customer: str) -> None:
        """Makes `customer` known to the sandbox X without writing to the company, so that
        the DM the service answers a hand-made delivery with can reach them."""
        self.x("POST", f"/sandbox/customers/{customer}/dm", to="someone_else", text="hi")

    def sent_to(self, customer: str) -> list[dict]:
        """What the service sent the customer on X, oldest first."""
        sent = self.x("GET", "/sandbox/sent")
        return [item for item in sent if (item.get("to") or {}).get("screen_name") == customer]

    def x(self, method: str, path: str, **body):
        answer = requests.request(method, self.x_url + path, json=body or None, timeout=30)
        assert answer.ok, answer.text
        return answer.json()

    _x = x  # the name tests/e2e/test_inbound.py knows it by

    # ------------------------------------------------------------ ServiceNow

    def cases_of(self, customer: str) -> list[dict]:
        overview = requests.get(f"{self.servicenow_url}/sandbox", timeout=30).json()
        return [
            case for case in overview["cases"] if case["short_description"].endswith(f"@{customer}")
        ]

    def servicenow_fault(self, **fault) -> None:
        answer = requests.post(f"{self.servicenow_url}/sandbox/faults", json=fault, timeout=30)
        assert answer.status_code == 201, answer.text

    # ------------------------------------------------------------ our API

    def conversations(self) -> list[dict]:
        """The tenant's conversations as it lists them, latest first."""
        reply = self.api.get("/conversations/?page_size=200", token=self.token)
        assert reply.status == 200, reply.body
        return reply.body["results"]

    def conversations_with(self, customer: str) -> list[dict]:
        return [item for item in self.conversations() if item["customer_screen_name"] == customer]

    def conversation_with(self, customer: str) -> dict:
        found = self.conversations_with(customer)
        assert len(found) == 1, found
        return found[0]

    def x_details(self) -> dict:
        """The tenant's X details, as the admin lists them (on any page)."""
        listed = all_pages(self.api, "/twitter-details/?page_size=200", self.api.admin_token)
        [details] = [item for item in listed if item["user"] == self.tenant_id]
        return details

    def messages_with(self, customer: str) -> list[dict]:
        conversation = self.conversation_with(customer)
        reply = self.api.get(f"/conversations/{conversation['id']}/messages/", token=self.token)
        assert reply.status == 200, reply.body
        return reply.body["results"]


def open_desk(
    api: ApiClient,
    tenant: Tenant | None = None,
    account: str | None = None,
    *,
    oauth1: bool = False,
) -> Desk:
    """Gives `tenant` (a new one if None) the sandbox ServiceNow and the sandbox X account
    `account` (a new name if None), through the API as a tenant does it: with OAuth 2.0,
    or with `oauth1` as an account connected before OAuth 2.0 (see connect_x)."""
    stack = api.stack
    if tenant is None:
        username, password = f"desk-{uuid.uuid4().hex[:12]}@example.com", uuid.uuid4().hex
        created = api.post(
            "/auth/users/",
            token=api.admin_token,
            json={"username": username, "password": password, "company_name": "Acme"},
        )
        assert created.status == 201, created.body
        tenant = Tenant(created.body["id"], username, password, api.login(username, password))
    servicenow = stack.servicenow_sandbox
    details = api.post(
        "/servicenow-details/",
        token=tenant.token,
        json={
            "instance_url": servicenow.base_url,
            "admin_user": servicenow.admin_user,
            "admin_password": servicenow.admin_password,
        },
    )
    assert details.status == 201, details.body
    account = account or f"acme_{uuid.uuid4().hex[:8]}"
    connect_x(api, tenant.token, account, oauth1_tenant_id=tenant.id if oauth1 else None)
    return Desk(
        api,
        tenant.token,
        tenant.id,
        account,
        stack.x_sandbox.base_url,
        servicenow.base_url,
        details.body["id"],
    )


def connect_x(
    api: ApiClient, token: str, account: str, *, oauth1_tenant_id: str | None = None
) -> dict:
    """Connects the sandbox X account `account` as the tenant does: GET /get-auth-url (OAuth
    2.0), the approval on X's page, X's redirect to our callback, and the tenant's
    confirmation with the code the callback showed. Answers the X details.

    With `oauth1_tenant_id` (the tenant's id), as an account whose authorization was
    started with OAuth 1.0a before GET /get-auth-url began OAuth 2.0 ones: the request
    token is stored as that endpoint stored it then (start_oauth1), approved on the
    sandbox X's OAuth 1.0a page, and its redirect lands on the same callback; the
    connection's calls are then signed with OAuth 1.0a."""
    if oauth1_tenant_id is not None:
        auth_url = start_oauth1(api, oauth1_tenant_id)
    else:
        started = api.get("/get-auth-url", token=token)
        assert started.status == 200, started.body
        auth_url = started.body["auth_url"]
    approved = requests.get(f"{auth_url}&approve={account}", allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    pending = api.get(approved.headers["Location"] + "&format=json")
    assert pending.status == 200, pending.body
    confirmed = api.post(
        "/twitter-callback/confirm/",
        token=token,
        json={"confirmation": pending.body["confirmation"]},
    )
    assert confirmed.status == 200, confirmed.body
    expected = "oauth2" if oauth1_tenant_id is None else "oauth1"
    assert confirmed.body["auth"] == expected, confirmed.body
    return confirmed.body


def start_oauth1(api: ApiClient, tenant_id: str) -> str:
    """An OAuth 1.0a authorization of the tenant, stored as GET /get-auth-url stored them
    before OAuth 2.0: answers the sandbox X's authorize URL."""
    stack = api.stack
    sandbox = stack.x_sandbox
    x = XClient(sandbox.base_url, AppCredentials(sandbox.consumer_key, sandbox.consumer_secret))
    request_token = x.request_token(f"{stack.public_base_url}/twitter-callback")
    expires_at = int((datetime.now(UTC) + timedelta(minutes=15)).timestamp())
    stack.aws.client("dynamodb").put_item(
        TableName=stack.environment.values["OAUTH_REQUESTS_TABLE"],
        Item={
            "oauth_token": {"S": request_token.oauth_token},
            "oauth_token_secret": {"S": request_token.oauth_token_secret},
            "user_id": {"S": tenant_id},
            "expires_at": {"N": str(expires_at)},
            "verifier_failures": {"N": "0"},
        },
    )
    return x.authorize_url(request_token.oauth_token)


def close_desk(desk: Desk) -> None:
    """Lifts the faults a test may have left on the sandboxes."""
    requests.delete(f"{desk.servicenow_url}/sandbox/faults", timeout=10)
    requests.delete(f"{desk.x_url}/sandbox/faults", timeout=10)


def drained(stack, timeout: float = 60) -> None:
    assert stack.drain(timeout), "the queues did not drain"


# ---------------------------------------------------------------- X's signed deliveries


def dm_from(customer: str, to: Account, text: str, at: datetime | None = None) -> DirectMessage:
    """A customer's DM to a company account, with a fresh DM id."""
    return DirectMessage(
        str(uuid.uuid4().int % 10**18),
        Account.named(customer),
        to,
        text,
        at or datetime.now(UTC),
        None,
    )


def account_activity_dm(desk: Desk, customer: str, text: str, at: datetime | None = None) -> dict:
    """What X's Account Activity API delivers for a customer's DM to the desk's account."""
    return aaa_direct_message(desk.x_account, dm_from(customer, desk.x_account, text, at))


def signature(secret: str, body: str) -> str:
    return delivery_signature(secret, body.encode())


def post_delivery(
    api: ApiClient, delivery: object, path: str = WEBHOOK, *, secret: str | None = None
) -> Reply:
    """POSTs `delivery` (JSON, or a str sent as is) to the webhook, signed as X signs it:
    with the stack's X app consumer secret unless `secret` is given."""
    body = delivery if isinstance(delivery, str) else json.dumps(delivery)
    secret = api.stack.x_sandbox.consumer_secret if secret is None else secret
    return api.post(path, data=body, headers={SIGNATURE_HEADER: signature(secret, body)})
