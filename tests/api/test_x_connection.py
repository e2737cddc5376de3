"""Connecting a tenant's X account (seeds/000: get-auth-url, twitter-details, twitter-revoke)
against the X sandbox: 3-legged OAuth, the webhook subscription, and every refusal."""

import os
import uuid
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from tests.api.client import all_pages, assert_envelope
from twittnow.x_app import crc_response


@pytest.fixture(scope="session")
def x_sandbox_url(local_stack) -> str:
    return local_stack.x_sandbox.base_url


@pytest.fixture(scope="session")
def registered_webhook(local_stack, x_sandbox_url) -> str:
    """The webhook the local stack registered with the sandbox X at start (in a deployed
    stack, the operator's `python -m ops webhooks register`)."""
    webhooks = requests.get(f"{x_sandbox_url}/sandbox", timeout=10).json()["webhooks"]
    ours = [webhook for webhook in webhooks if webhook["url"] == f"{local_stack.public_base_url}/twitter-activity"]
    assert ours and ours[0]["valid"], webhooks
    return ours[0]["id"]


@pytest.fixture
def screen_name() -> str:
    return f"acme_{uuid.uuid4().hex[:8]}"


def authorize_on_x(api, token: str, answer: str) -> str:
    """GET /get-auth-url, then the tenant's answer on X's page; returns X's redirect."""
    reply = api.get("/get-auth-url", token=token)
    assert reply.status == 200, reply.body
    authorize = requests.get(f"{reply.body['auth_url']}&{answer}", allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text
    return authorize.headers["Location"]


def connect(api, token: str, screen_name: str) -> dict:
    callback = authorize_on_x(api, token, f"approve={screen_name}")
    reply = api.get(callback + "&format=json")
    assert reply.status == 200, reply.body
    return reply.body


def x_details_of(api, admin_token: str, user_id: str) -> list[dict]:
    listed = all_pages(api, "/twitter-details/?page_size=200", admin_token)
    return [details for details in listed if details["user"] == user_id]


def sandbox_subscriptions(x_sandbox_url: str, screen_name: str) -> list[dict]:
    state = requests.get(f"{x_sandbox_url}/sandbox", timeout=10).json()
    return [subscription for subscription in state["subscriptions"] if subscription.get("screen_name") == screen_name]


def test_the_seed_walkthrough(api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url):
    started = api.get("/get-auth-url", token=tenant.token)
    assert started.status == 200
    assert started.body["auth_url"].startswith(f"{x_sandbox_url}/oauth/authorize?oauth_token=")

    connected = connect(api, tenant.token, screen_name)
    assert connected["screen_name"] == screen_name
    assert connected["user"] == tenant.id and connected["status"] == "connected"
    assert sandbox_subscriptions(x_sandbox_url, screen_name)

    assert x_details_of(api, admin_token, tenant.id) == [connected]
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).body == connected

    assert api.delete("/twitter-revoke/", token=tenant.token).status == 204
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).status == 404
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)
    assert api.delete("/twitter-revoke/", token=tenant.token).status == 204  # idempotent


def test_the_callback_answers_a_page_for_the_person(api, tenant, screen_name, registered_webhook):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    page = api.get(callback)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert f"@{screen_name}" in page.text


def test_declining_on_x_connects_nothing(api, admin_token, tenant, registered_webhook):
    callback = authorize_on_x(api, tenant.token, "deny=1")
    assert "denied=" in callback
    assert_envelope(api.get(callback + "&format=json"), 403, "PERMISSION_DENIED")
    assert x_details_of(api, admin_token, tenant.id) == []


def test_a_reused_or_unknown_token_is_refused_and_stores_nothing_more(api, admin_token, tenant, screen_name, registered_webhook):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    assert api.get(callback + "&format=json").status == 200
    assert_envelope(api.get(callback + "&format=json"), 400, "VALIDATION_ERROR", "oauth_token")
    assert_envelope(api.get("/twitter-callback?oauth_token=nope&oauth_verifier=nope&format=json"), 400, "VALIDATION_ERROR")
    assert_envelope(api.get("/twitter-callback?format=json"), 400, "VALIDATION_ERROR")
    assert len(x_details_of(api, admin_token, tenant.id)) == 1


def test_an_expired_authorization_is_refused(api, admin_token, tenant, screen_name, registered_webhook):
    callback = authorize_on_x(api, tenant.token, f"approve={screen_name}")
    oauth_token = parse_qs(urlsplit(callback).query)["oauth_token"][0]
    boto3.client("dynamodb").update_item(
        TableName=os.environ["OAUTH_REQUESTS_TABLE"],
        Key={"oauth_token": {"S": oauth_token}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    assert_envelope(api.get(callback + "&format=json"), 400, "VALIDATION_ERROR", "oauth_token")
    assert x_details_of(api, admin_token, tenant.id) == []


def test_one_tenant_per_x_account(api, admin_token, tenant, other_tenant, screen_name, registered_webhook):
    connect(api, tenant.token, screen_name)
    callback = authorize_on_x(api, other_tenant.token, f"approve={screen_name}")
    refused = api.get(callback + "&format=json")
    assert_envelope(refused, 409, "CONFLICT")
    assert f"@{screen_name}" in refused.body["error"]
    assert x_details_of(api, admin_token, other_tenant.id) == []
    assert len(x_details_of(api, admin_token, tenant.id)) == 1


def test_an_account_revoked_by_its_tenant_can_be_connected_by_another(api, admin_token, tenant, other_tenant, screen_name, registered_webhook):
    connect(api, tenant.token, screen_name)
    assert api.delete("/twitter-revoke/", token=tenant.token).status == 204

    taken = connect(api, other_tenant.token, screen_name)

    assert [details["id"] for details in x_details_of(api, admin_token, other_tenant.id)] == [taken["id"]]
    assert x_details_of(api, admin_token, tenant.id) == []
    assert_envelope(api.get(authorize_on_x(api, tenant.token, f"approve={screen_name}") + "&format=json"), 409, "CONFLICT")


def test_reconnecting_ones_own_account_keeps_the_record_and_another_account_is_refused(api, admin_token, tenant, screen_name, registered_webhook):
    first = connect(api, tenant.token, screen_name)
    again = connect(api, tenant.token, screen_name)
    assert again["id"] == first["id"] and again["updated_at"] >= first["updated_at"]

    callback = authorize_on_x(api, tenant.token, f"approve=b{screen_name}")
    assert_envelope(api.get(callback + "&format=json"), 409, "CONFLICT")
    assert [details["screen_name"] for details in x_details_of(api, admin_token, tenant.id)] == [screen_name]


def test_permissions(api, tenant, other_tenant, screen_name, registered_webhook):
    connected = connect(api, tenant.token, screen_name)
    assert_envelope(api.get("/get-auth-url"), 401, "NOT_AUTHENTICATED")
    assert_envelope(api.delete("/twitter-revoke/"), 401, "NOT_AUTHENTICATED")
    assert_envelope(api.get("/twitter-details/", token=tenant.token), 403, "PERMISSION_DENIED")
    assert_envelope(api.get(f"/twitter-details/{connected['id']}/", token=other_tenant.token), 404, "NOT_FOUND")
    assert_envelope(api.get(f"/twitter-details/{connected['id']}/"), 401, "NOT_AUTHENTICATED")
    assert api.delete("/twitter-revoke/", token=other_tenant.token).status == 204  # its own: none
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).status == 200


def test_no_token_or_secret_is_returned_or_kept_in_dynamodb(api, admin_token, tenant, screen_name, registered_webhook):
    connected = connect(api, tenant.token, screen_name)
    assert set(connected) == {"id", "user", "x_user_id", "screen_name", "status", "status_detail", "webhook_api", "connected_at", "updated_at"}
    items = boto3.client("dynamodb").scan(TableName=os.environ["CREDENTIALS_TABLE"])["Items"]
    for item in items:
        assert not {"access_token", "access_token_secret", "oauth_token_secret"} & set(item)


def test_x_being_down_is_a_503_to_retry(api, tenant, x_sandbox_url):
    requests.post(f"{x_sandbox_url}/sandbox/faults", json={"endpoint": "*", "status": 503, "times": 1}, timeout=10)
    try:
        reply = api.get("/get-auth-url", token=tenant.token)
    finally:
        requests.delete(f"{x_sandbox_url}/sandbox/faults", timeout=10)
    assert_envelope(reply, 503, "UPSTREAM_UNAVAILABLE")
    assert int(reply.headers["Retry-After"]) > 0


@pytest.mark.parametrize("path", ["/twitter-activity", "/activity/", "/api/activity/"])
def test_the_webhook_answers_xs_crc_challenge(api, path):
    reply = api.get(f"{path}?crc_token=challenge-123")
    assert reply.status == 200
    assert reply.body == crc_response(os.environ["X_CONSUMER_SECRET"], "challenge-123")
    assert_envelope(api.get(path), 400, "VALIDATION_ERROR", "crc_token")


def test_deleting_a_tenant_disconnects_its_x_account(api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url):
    connected = connect(api, tenant.token, screen_name)
    assert api.delete(f"/auth/users/{tenant.id}/", token=admin_token).status == 204
    assert api.get(f"/twitter-details/{connected['id']}/", token=admin_token).status == 404
    assert not sandbox_subscriptions(x_sandbox_url, screen_name)


def test_deleting_a_tenant_while_x_is_down_deletes_nothing(api, admin_token, tenant, screen_name, registered_webhook, x_sandbox_url):
    connected = connect(api, tenant.token, screen_name)
    requests.post(f"{x_sandbox_url}/sandbox/faults", json={"endpoint": "*", "status": 503, "times": 5}, timeout=10)
    try:
        reply = api.delete(f"/auth/users/{tenant.id}/", token=admin_token)
    finally:
        requests.delete(f"{x_sandbox_url}/sandbox/faults", timeout=10)
    assert_envelope(reply, 503, "UPSTREAM_UNAVAILABLE")
    assert api.get(f"/auth/users/{tenant.id}/", token=tenant.token).status == 200
    assert api.get(f"/twitter-details/{connected['id']}/", token=tenant.token).status == 200
