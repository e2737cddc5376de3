"""The developer API key: made (and remade) with POST /api-key/, shown once, good only for
what the tenant's ServiceNow instance calls (POST /events/), never for the management API."""

import os
import re
import threading

import boto3
import pytest

from tests.api.client import assert_envelope
from twittnow.tokens import digest

HEX_64 = re.compile(r"[0-9a-f]{64}")


def new_key(api, token, **kwargs) -> str:
    reply = api.post("/api-key/", token=token, **kwargs)
    assert reply.status == 201, reply.body
    assert set(reply.body) == {"token", "created_at"}
    assert HEX_64.fullmatch(reply.body["token"]), reply.body
    assert reply.body["created_at"]
    return reply.body["token"]


def key_is_valid(api, key, tenant) -> bool:
    """A live key is refused the auth API with a 403; a dead one is not recognised (401)."""
    reply = api.get(f"/auth/users/{tenant.id}/", token=key)
    assert reply.status in (401, 403), reply.body
    return reply.status == 403


def test_the_seed_call_with_an_empty_body(api, tenant):
    reply = api.post("/api-key/", token=tenant.token, headers={"Content-Type": "application/json"})
    assert reply.status == 201, reply.body
    assert set(reply.body) == {"token", "created_at"}
    assert HEX_64.fullmatch(reply.body["token"])
    assert key_is_valid(api, reply.body["token"], tenant)


def test_an_empty_json_object_is_accepted_too(api, tenant):
    assert key_is_valid(api, new_key(api, tenant.token, json={}), tenant)


@pytest.mark.parametrize("body", [{"name": "x"}, {"token": "f" * 64}, [], ["x"], "x"])
def test_a_non_empty_body_is_a_400_and_changes_nothing(api, tenant, body):
    key = new_key(api, tenant.token)
    reply = api.post("/api-key/", token=tenant.token, json=body)
    assert_envelope(reply, 400, "VALIDATION_ERROR")
    assert "token" not in reply.body
    assert key_is_valid(api, key, tenant)


@pytest.mark.parametrize("data", ["{not json", "null", "   x"])
def test_a_body_that_is_not_json_is_a_400(api, tenant, data):
    key = new_key(api, tenant.token)
    reply = api.post("/api-key/", token=tenant.token, data=data)
    if data == "null":  # JSON, and as empty as a body gets: accepting it is fine too
        assert reply.status in (201, 400), reply.body
        return
    assert_envelope(reply, 400, "VALIDATION_ERROR")
    assert key_is_valid(api, key, tenant)


def test_a_new_key_replaces_the_old_one_at_once(api, tenant):
    first = new_key(api, tenant.token)
    second = new_key(api, tenant.token)
    assert first != second
    assert_envelope(api.get(f"/auth/users/{tenant.id}/", token=first), 401, "NOT_AUTHENTICATED")
    assert key_is_valid(api, second, tenant)


def test_of_concurrent_regenerations_exactly_one_key_survives(api, tenant):
    keys = []

    def regenerate():
        reply = api.post("/api-key/", token=tenant.token)
        assert reply.status == 201, reply.body
        keys.append(reply.body["token"])

    threads = [threading.Thread(target=regenerate) for _ in range(4)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert len(keys) == 4
    assert [key_is_valid(api, key, tenant) for key in keys].count(True) == 1


def test_each_tenant_has_its_own_key(api, tenant, other_tenant):
    mine, theirs = new_key(api, tenant.token), new_key(api, other_tenant.token)
    new_key(api, tenant.token)
    assert not key_is_valid(api, mine, tenant)
    assert key_is_valid(api, theirs, other_tenant)


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_no_endpoint_shows_or_changes_a_key(api, tenant, method):
    key = new_key(api, tenant.token)
    reply = api.request(method, "/api-key/", token=tenant.token)
    assert reply.status in (404, 405), reply.body
    assert set(reply.body) == {"error", "code", "details", "request_id"}
    assert key not in reply.text
    assert key_is_valid(api, key, tenant)


@pytest.mark.parametrize("authorization", [None, "Token not-a-real-token"])
def test_anonymous_callers_get_401_before_the_body_is_read(api, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    reply = api.post("/api-key/", headers=headers, data="{not json")
    assert_envelope(reply, 401, "NOT_AUTHENTICATED")


EVERY_OTHER_ENDPOINT = [
    ("POST", "/auth/logout/", None),
    ("POST", "/auth/logout-all/", None),
    ("GET", "/auth/users/", None),
    (
        "POST",
        "/auth/users/",
        {"username": "k@example.com", "password": "password", "company_name": "K"},
    ),
    ("GET", "/auth/users/{user}/", None),
    ("PATCH", "/auth/users/{user}/", {"last_name": "Keyed"}),
    (
        "PUT",
        "/auth/users/{user}/",
        {"username": "k@example.com", "first_name": "K", "last_name": "K", "company_name": "K"},
    ),
    ("PATCH", "/auth/users/{user}/set-password/", {"password": "taken over"}),
    ("DELETE", "/auth/users/{user}/", None),
    (
        "POST",
        "/servicenow-details/",
        {"instance_url": "https://dev1.service-now.com", "admin_user": "a", "admin_password": "p"},
    ),
    ("GET", "/servicenow-details/", None),
    ("GET", "/servicenow-details/{details}/", None),
    ("PATCH", "/servicenow-details/{details}/", {"admin_user": "Keyed"}),
    (
        "PUT",
        "/servicenow-details/{details}/",
        {"instance_url": "https://dev1.service-now.com", "admin_user": "a", "admin_password": "p"},
    ),
    ("DELETE", "/servicenow-details/{details}/", None),
    ("POST", "/servicenow-details/{details}/verify/", None),
    ("POST", "/custom-fields/", {"field_name": "Keyed", "message": "m"}),
    ("GET", "/custom-fields/", None),
    ("PATCH", "/custom-fields/{field}/", {"message": "Keyed"}),
    ("DELETE", "/custom-fields/{field}/", None),
    ("POST", "/api-key/", None),
    ("GET", "/audit/", None),
]


@pytest.fixture
def keyed_tenant(api, tenant):
    """A tenant with ServiceNow details, a custom field and an API key."""
    details = api.post(
        "/servicenow-details/",
        token=tenant.token,
        json={
            "instance_url": "https://dev1.service-now.com",
            "admin_user": "admin",
            "admin_password": "pw",
        },
    )
    assert details.status == 201, details.body
    field = api.post(
        "/custom-fields/", token=tenant.token, json={"field_name": "City", "message": "Which city?"}
    )
    assert field.status == 201, field.body
    return (
        tenant,
        new_key(api, tenant.token),
        {"user": tenant.id, "details": details.body["id"], "field": field.body["id"]},
    )


def snapshot(api, tenant):
    return (
        api.get(f"/auth/users/{tenant.id}/", token=tenant.token).body,
        api.get("/servicenow-details/", token=tenant.token).body,
        api.get("/custom-fields/", token=tenant.token).body,
    )


@pytest.mark.parametrize("method,path,body", EVERY_OTHER_ENDPOINT)
def test_the_key_opens_no_other_endpoint(api, keyed_tenant, method, path, body):
    tenant, key, ids = keyed_tenant
    before = snapshot(api, tenant)
    reply = api.request(method, path.format(**ids), token=key, json=body)

    assert_envelope(reply, 403, "PERMISSION_DENIED")
    assert "POST /events/" in reply.body["error"]
    assert snapshot(api, tenant) == before
    assert key_is_valid(api, key, tenant)  # not rotated, not revoked
    assert api.get(f"/auth/users/{tenant.id}/", token=tenant.token).status == 200


def test_the_key_is_stored_only_as_a_digest(in_process_api, tenant_of):
    api = in_process_api
    tenant = tenant_of(api)
    key = new_key(api, tenant.token)
    stored = str(boto3.client("dynamodb").scan(TableName=os.environ["TOKENS_TABLE"])["Items"])
    assert key not in stored
    assert digest(key) in stored


def test_an_admins_key_is_no_admin_either(api, admin_token, tenant):
    assert (
        api.patch(f"/auth/users/{tenant.id}/", token=admin_token, json={"is_admin": True}).status
        == 200
    )
    key = new_key(api, api.login(tenant.username, tenant.password))
    for method, path in [
        ("GET", "/auth/users/"),
        ("GET", "/audit/"),
        ("GET", "/servicenow-details/"),
    ]:
        assert_envelope(api.request(method, path, token=key), 403, "PERMISSION_DENIED")
