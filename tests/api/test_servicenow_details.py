"""ServiceNow details: a tenant's instance and integration user, one record per tenant.

The admin password goes to Secrets Manager and never comes back: not in a response, a
log line, a table or an error message.
"""

import base64
import json
import logging
import os
import threading
import uuid

import boto3
import pytest
import requests
import responses

from tests.api.client import all_pages, assert_envelope

SEED = {
    "instance_url": "https://dev119258.service-now.com",
    "admin_user": "admin",
    "admin_password": "dcyHPleT2F3C",
}
SEED_PATCH = {"admin_user": "Twitter", "admin_password": "Y7Ifer3"}
FIELDS = {
    "id",
    "user",
    "instance_url",
    "admin_user",
    "status",
    "status_detail",
    "status_checked_at",
    "created_at",
    "updated_at",
}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
CASE_API = "/api/sn_customerservice/case"
NOT_AUTHENTICATED_BODY = {
    "error": {
        "message": "User Not Authenticated",
        "detail": "Required to provide Auth information",
    },
    "status": "failure",
}


def details_of(api, token):
    """The caller's own records, as the list shows them."""
    reply = api.get("/servicenow-details/", token=token)
    assert reply.status == 200, reply.body
    return reply.body


def create(api, token, **overrides):
    reply = api.post("/servicenow-details/", token=token, json={**SEED, **overrides})
    assert reply.status == 201, reply.body
    return reply.body


def unresolvable_instance() -> str:
    """On the default allow-list, but no such instance: verify answers "unreachable"."""
    return f"https://twittnow-test-{uuid.uuid4().hex[:16]}.service-now.com"


# ---------------------------------------------------------------- the seed's curls


def test_the_seed_walkthrough(api, admin_token, tenant):
    created = api.post("/servicenow-details/", token=tenant.token, json=SEED)
    assert created.status == 201, created.body
    record = created.body
    assert set(record) == FIELDS
    assert record["user"] == tenant.id
    assert record["instance_url"] == SEED["instance_url"]
    assert record["admin_user"] == "admin"
    assert record["status"] == "unverified"
    assert record["status_checked_at"] is None
    assert record["created_at"] and record["updated_at"]
    path = f"/servicenow-details/{record['id']}/"

    listed = details_of(api, tenant.token)
    assert listed["count"] == 1 and listed["results"] == [record]
    assert record["id"] in [
        item["id"] for item in all_pages(api, "/servicenow-details/?page_size=200", admin_token)
    ]

    assert api.get(path, token=tenant.token).body == record
    assert api.get(path, token=admin_token).body == record

    patched = api.patch(path, token=tenant.token, json=SEED_PATCH)
    assert patched.status == 200, patched.body
    assert set(patched.body) == FIELDS
    assert patched.body["admin_user"] == "Twitter"
    assert patched.body["instance_url"] == SEED["instance_url"]
    assert patched.body["updated_at"] >= record["updated_at"]
    assert api.get(path, token=tenant.token).body == patched.body

    assert api.delete(path, token=tenant.token).status == 204
    assert_envelope(api.get(path, token=tenant.token), 404, "NOT_FOUND")
    assert details_of(api, tenant.token)["count"] == 0
    again = create(api, tenant.token)
    assert again["id"] != record["id"]


def test_an_admin_adds_details_for_another_user(api, admin_token, tenant):
    created = api.post("/servicenow-details/", token=admin_token, json={**SEED, "user": tenant.id})
    assert created.status == 201, created.body
    assert created.body["user"] == tenant.id

    listed = details_of(api, tenant.token)
    assert listed["count"] == 1 and listed["results"][0]["id"] == created.body["id"]
    assert api.get(f"/servicenow-details/{created.body['id']}/", token=tenant.token).status == 200


def test_a_tenant_may_name_itself_as_user(api, tenant):
    assert create(api, tenant.token, user=tenant.id)["user"] == tenant.id


def test_a_tenant_cannot_add_details_for_another_user(api, tenant, other_tenant):
    reply = api.post(
        "/servicenow-details/", token=tenant.token, json={**SEED, "user": other_tenant.id}
    )
    assert_envelope(reply, 403, "PERMISSION_DENIED")
    assert details_of(api, other_tenant.token)["count"] == 0
    assert details_of(api, tenant.token)["count"] == 0


@pytest.mark.parametrize("user", [UNKNOWN_ID, "not-a-uuid"])
def test_an_admin_naming_an_unknown_user_is_a_400(api, admin_token, user):
    reply = api.post("/servicenow-details/", token=admin_token, json={**SEED, "user": user})
    assert_envelope(reply, 400, "VALIDATION_ERROR", "user")


@pytest.mark.parametrize("as_admin", [False, True])
def test_one_record_per_user(api, admin_token, tenant, as_admin):
    first = create(api, tenant.token)
    second_body = {**SEED, "instance_url": "https://dev2.service-now.com"}
    if as_admin:
        reply = api.post(
            "/servicenow-details/", token=admin_token, json={**second_body, "user": tenant.id}
        )
    else:
        reply = api.post("/servicenow-details/", token=tenant.token, json=second_body)

    assert_envelope(reply, 409, "CONFLICT", "user")
    assert reply.body["details"] == {"user": ["This field must be unique."]}
    assert details_of(api, tenant.token)["results"] == [first]


def test_of_concurrent_creates_for_one_user_exactly_one_succeeds(api, tenant):
    statuses = []

    def post():
        statuses.append(api.post("/servicenow-details/", token=tenant.token, json=SEED).status)

    threads = [threading.Thread(target=post) for _ in range(4)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert sorted(statuses) == [201, 409, 409, 409]
    assert details_of(api, tenant.token)["count"] == 1


# ---------------------------------------------------------------- instance_url


@pytest.mark.parametrize(
    "given,stored",
    [
        ("HTTPS://Dev1.Service-Now.com/", "https://dev1.service-now.com"),
        ("https://dev1.service-now.com", "https://dev1.service-now.com"),
    ],
)
def test_instance_urls_are_stored_normalized(api, tenant, given, stored):
    record = create(api, tenant.token, instance_url=given)
    assert record["instance_url"] == stored
    assert (
        api.get(f"/servicenow-details/{record['id']}/", token=tenant.token).body["instance_url"]
        == stored
    )


REFUSED_URLS = [
    "http://dev1.service-now.com",
    "https://evil.example.com",
    "https://service-now.com.evil.example.com",
    "https://dev1.service-now.com.evil.example.com",
    "https://evilservice-now.com",
    "https://user:pw@dev1.service-now.com",
    "https://dev1.service-now.com/path",
    "https://dev1.service-now.com?x=1",
    "https://169.254.169.254",
    "https://10.0.0.1",
    "https://127.0.0.1",
    "https://localhost",
    "ftp://dev1.service-now.com",
    "not a url",
    "",
]


@pytest.mark.parametrize("instance_url", REFUSED_URLS)
def test_instance_urls_off_the_allow_list_are_refused(api, tenant, instance_url):
    reply = api.post(
        "/servicenow-details/", token=tenant.token, json={**SEED, "instance_url": instance_url}
    )
    assert_envelope(reply, 400, "VALIDATION_ERROR", "instance_url")
    assert details_of(api, tenant.token)["count"] == 0


@pytest.mark.parametrize(
    "instance_url", ["http://dev1.service-now.com", "https://evil.example.com", "https://10.0.0.1"]
)
def test_a_patch_to_a_refused_instance_url_changes_nothing(api, tenant, instance_url):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    reply = api.patch(path, token=tenant.token, json={"instance_url": instance_url})
    assert_envelope(reply, 400, "VALIDATION_ERROR", "instance_url")
    assert api.get(path, token=tenant.token).body == record


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body,fields",
    [
        ({k: v for k, v in SEED.items() if k != "instance_url"}, ["instance_url"]),
        ({k: v for k, v in SEED.items() if k != "admin_user"}, ["admin_user"]),
        ({k: v for k, v in SEED.items() if k != "admin_password"}, ["admin_password"]),
        ({}, ["instance_url", "admin_user", "admin_password"]),
        ({**SEED, "admin_user": ""}, ["admin_user"]),
        ({**SEED, "admin_password": ""}, ["admin_password"]),
        ({**SEED, "instance_url": 42}, ["instance_url"]),
        ({**SEED, "admin_user": 42}, ["admin_user"]),
        ({**SEED, "admin_password": ["dcyHPleT2F3C"]}, ["admin_password"]),
        ({**SEED, "admin_password": None}, ["admin_password"]),
        ({**SEED, "user": 42}, ["user"]),
        ({**SEED, "status": "ok"}, ["status"]),
        ({**SEED, "id": "chosen-id"}, ["id"]),
        ({**SEED, "favourite_colour": "red"}, ["favourite_colour"]),
        ([SEED], ["body"]),
        ("just a string", ["body"]),
    ],
)
def test_create_rejects_bad_bodies(api, tenant, body, fields):
    reply = api.post("/servicenow-details/", token=tenant.token, json=body)
    assert_envelope(reply, 400, "VALIDATION_ERROR", *fields)
    assert details_of(api, tenant.token)["count"] == 0


@pytest.mark.parametrize(
    "data", ["{not json", "", '{"instance_url": "https://dev1.service-now.com",}']
)
def test_create_rejects_malformed_or_missing_json(api, tenant, data):
    assert_envelope(
        api.post("/servicenow-details/", token=tenant.token, data=data),
        400,
        "VALIDATION_ERROR",
        "body",
    )
    assert details_of(api, tenant.token)["count"] == 0


@pytest.mark.parametrize(
    "method,body,field",
    [
        ("PATCH", {"admin_user": ""}, "admin_user"),
        ("PATCH", {"admin_password": ""}, "admin_password"),
        ("PATCH", {"admin_password": None}, "admin_password"),
        ("PATCH", {"instance_url": None}, "instance_url"),
        ("PATCH", {"admin_user": 7}, "admin_user"),
        ("PATCH", {"status": "ok"}, "status"),
        ("PATCH", {"favourite_colour": "red"}, "favourite_colour"),
        ("PATCH", {"instance_url": "https://dev2.service-now.com"}, "admin_password"),
        ("PATCH", {"admin_user": "Twitter"}, "admin_password"),
        ("PUT", {"admin_user": "Twitter"}, "instance_url"),
        ("PUT", {"admin_user": "Twitter"}, "admin_password"),
        (
            "PUT",
            {"instance_url": "https://dev2.service-now.com", "admin_user": "Twitter"},
            "admin_password",
        ),
        ("PUT", {**SEED, "admin_password": ""}, "admin_password"),
        ("PUT", {**SEED, "favourite_colour": "red"}, "favourite_colour"),
    ],
)
def test_updates_reject_bad_bodies_and_change_nothing(api, tenant, method, body, field):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    assert_envelope(
        api.request(method, path, token=tenant.token, json=body), 400, "VALIDATION_ERROR", field
    )
    assert api.get(path, token=tenant.token).body == record


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("as_admin", [False, True])
def test_an_update_cannot_move_a_record_to_another_user(
    api, admin_token, tenant, other_tenant, method, as_admin
):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    body = {**SEED, "user": other_tenant.id} if method == "PUT" else {"user": other_tenant.id}
    reply = api.request(method, path, token=admin_token if as_admin else tenant.token, json=body)

    assert_envelope(reply, 400, "VALIDATION_ERROR", "user")
    assert api.get(path, token=tenant.token).body == record
    assert details_of(api, other_tenant.token)["count"] == 0


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_an_update_naming_the_owner_is_accepted(api, tenant, method):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    body = {**SEED, "admin_user": "renamed", "user": tenant.id}
    if method == "PATCH":
        del body["instance_url"]
    reply = api.request(method, path, token=tenant.token, json=body)
    assert reply.status == 200, reply.body
    assert reply.body["user"] == tenant.id and reply.body["admin_user"] == "renamed"


def test_put_replaces_every_field(api, tenant):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    reply = api.put(
        path,
        token=tenant.token,
        json={
            "instance_url": "HTTPS://Dev2.Service-Now.com/",
            "admin_user": "integration",
            "admin_password": "n3w-Secret",
        },
    )
    assert reply.status == 200, reply.body
    assert set(reply.body) == FIELDS
    assert (reply.body["id"], reply.body["user"]) == (record["id"], tenant.id)
    assert (reply.body["instance_url"], reply.body["admin_user"]) == (
        "https://dev2.service-now.com",
        "integration",
    )
    assert reply.body["created_at"] == record["created_at"]
    assert api.get(path, token=tenant.token).body == reply.body


def test_patch_normalizes_the_instance_url(api, tenant):
    record = create(api, tenant.token)
    reply = api.patch(
        f"/servicenow-details/{record['id']}/",
        token=tenant.token,
        json={"instance_url": "HTTPS://Dev3.Service-Now.com/", "admin_password": "n3w-Secret"},
    )
    assert reply.status == 200, reply.body
    assert reply.body["instance_url"] == "https://dev3.service-now.com"
    assert reply.body["admin_user"] == record["admin_user"]


@pytest.mark.parametrize(
    "method,body",
    [
        ("PATCH", {"instance_url": "https://dev2.service-now.com"}),
        (
            "PATCH",
            {"instance_url": "https://dev2.service-now.com", "admin_user": SEED["admin_user"]},
        ),
        ("PATCH", {"admin_user": "Twitter"}),
        ("PATCH", {"instance_url": "https://dev2.service-now.com", "admin_user": "Twitter"}),
        ("PUT", {"instance_url": "https://dev2.service-now.com", "admin_user": SEED["admin_user"]}),
    ],
)
def test_new_credentials_without_their_password_are_refused(api, tenant, method, body):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    reply = api.request(method, path, token=tenant.token, json=body)

    assert_envelope(reply, 400, "VALIDATION_ERROR", "admin_password")
    assert api.get(path, token=tenant.token).body == record
    if method == "PATCH":
        # Says which change needs the password.
        message = reply.body["details"]["admin_password"][0]
        for field in ("instance_url", "admin_user"):
            assert (field in message) == (body.get(field, record[field]) != record[field]), message


# ---------------------------------------------------------------- who sees what


def test_a_tenant_lists_only_its_own_record_and_an_admin_lists_all(
    api, admin_token, tenant, other_tenant
):
    mine = create(api, tenant.token)
    theirs = create(api, other_tenant.token, instance_url="https://dev2.service-now.com")

    listed = details_of(api, tenant.token)
    assert (listed["count"], listed["next"], listed["previous"]) == (1, None, None)
    assert listed["results"] == [mine]

    everything = all_pages(api, "/servicenow-details/?page_size=1", admin_token)
    ids = [item["id"] for item in everything]
    assert mine["id"] in ids and theirs["id"] in ids
    assert len(ids) == len(set(ids))
    first_page = api.get("/servicenow-details/?page_size=1", token=admin_token).body
    assert len(first_page["results"]) == 1 and first_page["count"] >= 2 and first_page["next"]
    for item in everything:
        assert set(item) == FIELDS


def test_listing_rejects_bad_pages(api, tenant):
    for query, field in [("page=0", "page"), ("page_size=1000", "page_size"), ("page=abc", "page")]:
        assert_envelope(
            api.get(f"/servicenow-details/?{query}", token=tenant.token),
            400,
            "VALIDATION_ERROR",
            field,
        )


@pytest.mark.parametrize(
    "method,suffix,body",
    [
        ("GET", "", None),
        ("PATCH", "", SEED_PATCH),
        ("PUT", "", {**SEED, "admin_user": "Hacked"}),
        ("DELETE", "", None),
        ("POST", "verify/", None),
    ],
)
def test_another_tenants_record_is_404_and_untouched(
    api, tenant, other_tenant, method, suffix, body
):
    record = create(api, other_tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    reply = api.request(method, path + suffix, token=tenant.token, json=body)

    assert_envelope(reply, 404, "NOT_FOUND")
    assert api.get(path, token=other_tenant.token).body == record


@pytest.mark.parametrize(
    "method,suffix,body",
    [
        ("GET", "", None),
        ("PATCH", "", SEED_PATCH),
        ("PUT", "", SEED),
        ("DELETE", "", None),
        ("POST", "verify/", None),
    ],
)
def test_unknown_ids_are_404(api, admin_token, method, suffix, body):
    reply = api.request(
        method, f"/servicenow-details/{UNKNOWN_ID}/{suffix}", token=admin_token, json=body
    )
    assert_envelope(reply, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/servicenow-details/"),
        ("GET", "/servicenow-details/"),
        ("GET", "/servicenow-details/{id}/"),
        ("PATCH", "/servicenow-details/{id}/"),
        ("PUT", "/servicenow-details/{id}/"),
        ("DELETE", "/servicenow-details/{id}/"),
        ("POST", "/servicenow-details/{id}/verify/"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Token not-a-real-token"])
def test_anonymous_callers_get_401_before_the_body_is_read(
    api, tenant, method, path, authorization
):
    record = create(api, tenant.token)
    headers = {"Authorization": authorization} if authorization else {}
    reply = api.request(method, path.format(id=record["id"]), headers=headers, data="{not json")

    assert_envelope(reply, 401, "NOT_AUTHENTICATED")
    assert reply.headers["WWW-Authenticate"] == "Token"
    assert details_of(api, tenant.token)["results"] == [record]


def test_an_admin_manages_a_tenants_record(api, admin_token, tenant):
    record = create(api, tenant.token)
    path = f"/servicenow-details/{record['id']}/"
    patched = api.patch(path, token=admin_token, json=SEED_PATCH)
    assert patched.status == 200 and patched.body["admin_user"] == "Twitter"
    assert patched.body["user"] == tenant.id
    replaced = api.put(path, token=admin_token, json={**SEED, "admin_user": "by-admin"})
    assert replaced.status == 200 and replaced.body["admin_user"] == "by-admin"
    assert api.delete(path, token=admin_token).status == 204
    assert_envelope(api.get(path, token=tenant.token), 404, "NOT_FOUND")
    assert details_of(api, tenant.token)["count"] == 0


# ---------------------------------------------------------------- verify


def test_verify_an_unreachable_instance(api, tenant):
    record = create(api, tenant.token, instance_url=unresolvable_instance())
    path = f"/servicenow-details/{record['id']}/"
    reply = api.post(path + "verify/", token=tenant.token)

    assert reply.status == 200, reply.body
    assert set(reply.body) == {"status", "detail", "checked_at"}
    assert reply.body["status"] == "unreachable"
    assert reply.body["detail"].strip()
    assert reply.body["checked_at"]
    after = api.get(path, token=tenant.token).body
    assert after["status"] == "unreachable"
    assert after["status_detail"] == reply.body["detail"]
    assert after["status_checked_at"] == reply.body["checked_at"]


def test_an_admin_may_verify_a_tenants_record(api, admin_token, tenant):
    record = create(api, tenant.token, instance_url=unresolvable_instance())
    reply = api.post(f"/servicenow-details/{record['id']}/verify/", token=admin_token)
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "unreachable"


def mocked_instance():
    """ServiceNow mocked for the handlers, which run in this thread in process; the
    embedded AWS (an HTTP server on loopback) is let through."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add_passthru("http://127.0.0.1")
    mock.add_passthru("http://localhost")
    return mock


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "answer,status,detail",
    [
        (
            {"status": 401, "json": NOT_AUTHENTICATED_BODY},
            "bad_credentials",
            "User Not Authenticated",
        ),
        (
            {
                "status": 403,
                "json": {
                    "error": {
                        "message": "Operation Failed",
                        "detail": "ACL Exception Insert Failed due to security constraints",
                    },
                    "status": "failure",
                },
            },
            "missing_role",
            None,
        ),
        ({"status": 200, "json": {"result": []}}, "ok", None),
        ({"body": requests.ConnectionError("Connection refused")}, "unreachable", None),
    ],
)
def test_verify_reports_what_the_instance_answered(
    in_process_api, tenant_of, answer, status, detail
):
    api = in_process_api
    tenant = tenant_of(api)
    host = f"dev{uuid.uuid4().hex[:8]}.service-now.com"
    record = create(api, tenant.token, instance_url=f"https://{host}")
    path = f"/servicenow-details/{record['id']}/"

    with mocked_instance() as instance:
        case_api = instance.get(f"https://{host}{CASE_API}", **answer)
        reply = api.post(path + "verify/", token=tenant.token)

    assert reply.status == 200, reply.body
    assert reply.body["status"] == status
    assert reply.body["detail"].strip()
    if detail:
        assert detail in reply.body["detail"]
    assert case_api.call_count >= 1
    assert case_api.calls[0].request.headers["Authorization"] == basic(
        SEED["admin_user"], SEED["admin_password"]
    )
    after = api.get(path, token=tenant.token).body
    assert (after["status"], after["status_detail"]) == (status, reply.body["detail"])
    assert after["status_checked_at"] == reply.body["checked_at"]


def test_verify_uses_the_patched_credentials(in_process_api, tenant_of):
    api = in_process_api
    tenant = tenant_of(api)
    host = f"dev{uuid.uuid4().hex[:8]}.service-now.com"
    record = create(api, tenant.token, instance_url=f"https://{host}")
    path = f"/servicenow-details/{record['id']}/"
    assert api.patch(path, token=tenant.token, json=SEED_PATCH).status == 200

    with mocked_instance() as instance:
        case_api = instance.get(f"https://{host}{CASE_API}", json={"result": []})
        assert api.post(path + "verify/", token=tenant.token).body["status"] == "ok"

    assert case_api.calls[0].request.headers["Authorization"] == basic("Twitter", "Y7Ifer3")


def test_verify_goes_only_to_the_stored_instance(in_process_api, tenant_of):
    """A body on verify cannot redirect the credentials elsewhere."""
    api = in_process_api
    tenant = tenant_of(api)
    host = f"dev{uuid.uuid4().hex[:8]}.service-now.com"
    record = create(api, tenant.token, instance_url=f"https://{host}")

    with mocked_instance() as instance:
        case_api = instance.get(f"https://{host}{CASE_API}", json={"result": []})
        reply = api.post(
            f"/servicenow-details/{record['id']}/verify/",
            token=tenant.token,
            json={"instance_url": "https://evil.example.com"},
        )
        assert all(call.request.url.startswith(f"https://{host}/") for call in instance.calls)

    assert reply.status in (200, 400), reply.body
    if reply.status == 200:
        assert case_api.call_count >= 1


@pytest.mark.parametrize(
    "method,body",
    [
        ("PATCH", {"instance_url": "https://{attacker}"}),
        ("PATCH", {"instance_url": "https://{attacker}", "admin_user": SEED["admin_user"]}),
        ("PUT", {"instance_url": "https://{attacker}", "admin_user": SEED["admin_user"]}),
        ("PATCH", {"admin_user": "someone.else"}),
    ],
)
def test_the_stored_password_cannot_be_sent_to_another_instance_or_user(
    in_process_api, tenant_of, method, body
):
    """The attack: with the tenant's token (no password known), point the record at an
    instance of one's own on the allow-list, then make the service call it."""
    api = in_process_api
    tenant = tenant_of(api)
    host, attacker = (f"dev{uuid.uuid4().hex[:8]}.service-now.com" for _ in range(2))
    secret = f"sn-secret-{uuid.uuid4().hex}"
    record = create(api, tenant.token, instance_url=f"https://{host}", admin_password=secret)
    path = f"/servicenow-details/{record['id']}/"
    body = {name: value.format(attacker=attacker) for name, value in body.items()}

    with mocked_instance() as instance:
        theirs = instance.get(f"https://{attacker}{CASE_API}", json={"result": []})
        ours = instance.get(f"https://{host}{CASE_API}", json={"result": []})
        refused = api.request(method, path, token=tenant.token, json=body)
        verified = api.post(path + "verify/", token=tenant.token)

    assert_envelope(refused, 400, "VALIDATION_ERROR", "admin_password")
    assert verified.status == 200, verified.body
    assert theirs.call_count == 0
    assert [call.request.url for call in instance.calls if attacker in call.request.url] == []
    # Still the stored instance, as the stored user, with the stored password.
    assert [call.request.headers["Authorization"] for call in ours.calls] == [
        basic(SEED["admin_user"], secret)
    ]
    after = api.get(path, token=tenant.token).body
    assert (after["instance_url"], after["admin_user"]) == (
        record["instance_url"],
        record["admin_user"],
    )


def test_a_new_instance_gets_only_the_password_sent_with_it(in_process_api, tenant_of):
    api = in_process_api
    tenant = tenant_of(api)
    old_host, new_host = (f"dev{uuid.uuid4().hex[:8]}.service-now.com" for _ in range(2))
    old_secret, new_secret = (f"sn-secret-{uuid.uuid4().hex}" for _ in range(2))
    record = create(
        api, tenant.token, instance_url=f"https://{old_host}", admin_password=old_secret
    )
    path = f"/servicenow-details/{record['id']}/"

    moved = api.patch(
        path,
        token=tenant.token,
        json={"instance_url": f"https://{new_host}", "admin_password": new_secret},
    )
    assert moved.status == 200, moved.body
    assert (moved.body["instance_url"], moved.body["status"]) == (
        f"https://{new_host}",
        "unverified",
    )
    with mocked_instance() as instance:
        old_api = instance.get(f"https://{old_host}{CASE_API}", json={"result": []})
        new_api = instance.get(f"https://{new_host}{CASE_API}", json={"result": []})
        assert api.post(path + "verify/", token=tenant.token).body["status"] == "ok"

    assert old_api.call_count == 0
    assert [call.request.headers["Authorization"] for call in new_api.calls] == [
        basic(SEED["admin_user"], new_secret)
    ]


# ---------------------------------------------------------------- the password stays secret


def test_the_admin_password_never_leaves_the_service(in_process_api, tenant_of, capsys, caplog):
    api = in_process_api
    caplog.set_level(logging.DEBUG)
    tenant = tenant_of(api)
    first_secret, second_secret, third_secret = (f"sn-secret-{uuid.uuid4().hex}" for _ in range(3))
    host = f"dev{uuid.uuid4().hex[:8]}.service-now.com"

    replies = [
        api.post(
            "/servicenow-details/",
            token=tenant.token,
            json={**SEED, "instance_url": f"https://{host}", "admin_password": first_secret},
        )
    ]
    path = f"/servicenow-details/{replies[0].body['id']}/"
    replies.append(api.patch(path, token=tenant.token, json={"admin_password": second_secret}))
    replies.append(
        api.put(
            path,
            token=tenant.token,
            json={**SEED, "instance_url": f"https://{host}", "admin_password": third_secret},
        )
    )
    with mocked_instance() as instance:
        instance.get(f"https://{host}{CASE_API}", status=401, json=NOT_AUTHENTICATED_BODY)
        replies.append(api.post(path + "verify/", token=tenant.token))
    with mocked_instance() as instance:
        # A failure whose text carries the request, as a careless error message might.
        instance.get(
            f"https://{host}{CASE_API}",
            body=requests.ConnectionError(f"refused; auth={third_secret}"),
        )
        replies.append(api.post(path + "verify/", token=tenant.token))
    with mocked_instance() as instance:
        instance.get(
            f"https://{host}{CASE_API}", status=500, body=f"<html>Error for {third_secret}</html>"
        )
        replies.append(api.post(path + "verify/", token=tenant.token))
    replies += [
        api.get(path, token=tenant.token),
        api.get("/servicenow-details/", token=tenant.token),
        api.get("/servicenow-details/?page_size=200", token=api.admin_token),
        api.post(
            "/servicenow-details/",
            token=tenant.token,
            json={**SEED, "admin_password": first_secret},
        ),  # 409
        api.patch(
            path,
            token=tenant.token,
            json={"admin_password": first_secret, "instance_url": "http://x"},
        ),  # 400
        api.post(
            "/servicenow-details/",
            token=tenant.token,
            data='{"admin_password": "' + first_secret + '", broken',
        ),
    ]
    assert [reply.status for reply in replies[:6]] == [201, 200, 200, 200, 200, 200]

    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert logged  # the functions' logs were captured
    stored = str(boto3.client("dynamodb").scan(TableName=os.environ["CREDENTIALS_TABLE"])["Items"])
    for secret in (first_secret, second_secret, third_secret):
        for reply in replies:
            assert secret not in reply.text
        assert secret not in logged
        assert secret not in stored
    for reply in replies:
        assert "admin_password" not in (reply.body or {}) and "secret_arn" not in reply.text


def test_the_password_is_kept_in_secrets_manager(in_process_api, tenant_of):
    api = in_process_api
    tenant = tenant_of(api)
    secret = f"sn-secret-{uuid.uuid4().hex}"
    record = create(api, tenant.token, admin_password=secret)
    items = boto3.client("dynamodb").scan(TableName=os.environ["CREDENTIALS_TABLE"])["Items"]
    mine = [item for item in items if item.get("user_id", {}).get("S") == tenant.id]
    assert mine, items
    assert secret not in str(mine)

    secrets_manager = boto3.client("secretsmanager")
    names = [
        entry["Name"]
        for page in secrets_manager.get_paginator("list_secrets").paginate()
        for entry in page["SecretList"]
    ]
    assert any(
        secret in secrets_manager.get_secret_value(SecretId=name)["SecretString"]
        for name in names
        if "servicenow" in name
    )
    assert record["id"]


# ---------------------------------------------------------------- deleting a tenant


def test_deleting_a_tenant_removes_its_details_custom_fields_and_api_key(api, admin_token, tenant):
    record = create(api, tenant.token)
    field = api.post(
        "/custom-fields/", token=tenant.token, json={"field_name": "City", "message": "Which city?"}
    )
    assert field.status == 201, field.body
    key = api.post("/api-key/", token=tenant.token)
    assert key.status == 201, key.body
    api_key = key.body["token"]

    assert api.delete(f"/auth/users/{tenant.id}/", token=admin_token).status == 204

    assert_envelope(
        api.get(f"/servicenow-details/{record['id']}/", token=admin_token), 404, "NOT_FOUND"
    )
    assert record["id"] not in [
        item["id"] for item in all_pages(api, "/servicenow-details/?page_size=200", admin_token)
    ]
    fields = api.get(f"/custom-fields/?user={tenant.id}", token=admin_token)
    assert fields.status in (200, 404), fields.body
    if fields.status == 200:
        assert fields.body["count"] == 0
    assert_envelope(
        api.patch(f"/custom-fields/{field.body['id']}/", token=admin_token, json={"message": "x"}),
        404,
        "NOT_FOUND",
    )
    assert_envelope(
        api.get(f"/servicenow-details/{record['id']}/", token=api_key), 401, "NOT_AUTHENTICATED"
    )
    assert_envelope(api.post("/api-key/", token=api_key), 401, "NOT_AUTHENTICATED")


def test_deleting_a_tenant_leaves_no_rows_or_secrets_behind(in_process_api, tenant_of):
    api = in_process_api
    tenant = tenant_of(api)
    secret = f"sn-secret-{uuid.uuid4().hex}"
    create(api, tenant.token, admin_password=secret)
    assert (
        api.post(
            "/custom-fields/",
            token=tenant.token,
            json={"field_name": "City", "message": "Which city?"},
        ).status
        == 201
    )
    assert api.delete(f"/auth/users/{tenant.id}/", token=api.admin_token).status == 204

    dynamodb = boto3.client("dynamodb")
    for table in ("CREDENTIALS_TABLE", "CUSTOM_FIELDS_TABLE"):
        assert tenant.id not in str(dynamodb.scan(TableName=os.environ[table])["Items"]), table
    secrets_manager = boto3.client("secretsmanager")
    for page in secrets_manager.get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            if "servicenow" in entry["Name"]:
                assert (
                    secret
                    not in secrets_manager.get_secret_value(SecretId=entry["Name"])["SecretString"]
                )


# ---------------------------------------------------------------- changes that race


def test_a_verify_racing_a_move_keeps_neither_its_outcome_nor_the_old_instance(
    in_process_api, tenant_of
):
    """The verify reads the record, calls the instance, then records the outcome; a PATCH
    to another instance lands in between. The outcome is of the old credentials: it is
    not kept, and it does not write the old instance back over the new one (which would
    send the new password to the old instance)."""
    api = in_process_api
    tenant = tenant_of(api)
    old_host, new_host = (f"dev{uuid.uuid4().hex[:8]}.service-now.com" for _ in range(2))
    old_secret, new_secret = (f"sn-secret-{uuid.uuid4().hex}" for _ in range(2))
    record = create(
        api, tenant.token, instance_url=f"https://{old_host}", admin_password=old_secret
    )
    path = f"/servicenow-details/{record['id']}/"
    moved = {}

    def move_while_verifying(request):
        moved["reply"] = api.patch(
            path,
            token=tenant.token,
            json={"instance_url": f"https://{new_host}", "admin_password": new_secret},
        )
        return 200, {}, json.dumps({"result": []})

    with mocked_instance() as instance:
        instance.add_callback("GET", f"https://{old_host}{CASE_API}", callback=move_while_verifying)
        verified = api.post(path + "verify/", token=tenant.token)
    assert moved["reply"].status == 200, moved["reply"].body
    assert_envelope(verified, 409, "CONFLICT")
    after = api.get(path, token=tenant.token).body
    assert (after["instance_url"], after["status"]) == (f"https://{new_host}", "unverified")

    with mocked_instance() as instance:
        old_api = instance.get(f"https://{old_host}{CASE_API}", json={"result": []})
        new_api = instance.get(f"https://{new_host}{CASE_API}", json={"result": []})
        assert api.post(path + "verify/", token=tenant.token).body["status"] == "ok"
    assert old_api.call_count == 0
    assert [call.request.headers["Authorization"] for call in new_api.calls] == [
        basic(SEED["admin_user"], new_secret)
    ]
