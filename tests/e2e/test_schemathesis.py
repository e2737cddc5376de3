"""Schemathesis against the local stack with docs/openapi.json: every operation, as a
tenant and as the admin, with requests it generates valid and invalid (and with methods
and content types the document does not name). No answer may be a 5xx, every answer must
match the document (status, content type, body), and every 4xx in JSON must be the error
envelope (GET /twitter-callback answers a person's browser with a page instead).

The stack is the session's, shared with the other tests of this worker, so nothing here
may spoil it:

- the tenant is a new one with the sandboxes (tests.api.desks), so everything it reaches
  is its own. It runs every operation with the ids schemathesis makes up, and those with
  an id in the path again with its own records' ids (so that their 2xx answers are
  checked too), deletions last;
- the admin runs only what cannot change others' records: every GET, and creating users
  (new ones). Its other writes would reach other tests' users and records through the
  ids schemathesis learns from the lists (its feedback loop reuses values it sees), and
  changing the admin's own username or password, or deleting a user, would break every
  later test that logs in as the admin;
- logging out revokes the token that makes the call (logout-all every login token of its
  user): both run with a throwaway user's fresh token.
"""

import json
import re
import uuid
from contextlib import contextmanager

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ops.openapi import DOCUMENT
from tests.api.client import ApiClient
from tests.api.desks import SIGNATURE_HEADER, close_desk, open_desk
from twittnow.x_app import delivery_signature

pytestmark = pytest.mark.e2e

SCHEMA = schemathesis.openapi.from_path(DOCUMENT)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ENVELOPE = {"error", "code", "details", "request_id"}
LOGOUTS = ("/auth/logout/", "/auth/logout-all/")
# Bounded, so that the whole module takes a few minutes.
EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api(local_stack) -> ApiClient:
    api = ApiClient(local_stack, over_http=True)
    with stack_environment(local_stack):
        api.admin_token = api.login(local_stack.admin_username, local_stack.admin_password)
    return api


@pytest.fixture(scope="module")
def tenant(local_stack, api) -> tuple[str, dict[str, str]]:
    """The tenant's token, and its records' ids by the path they are under."""
    with stack_environment(local_stack):
        desk = open_desk(api)
        field = api.post(
            "/custom-fields/", token=desk.token, json={"field_name": "City", "message": "Where?"}
        )
        x_details_id = desk.x_details()["id"]
    ids = {
        "/auth/users/": desk.tenant_id,
        "/servicenow-details/": desk.details_id,
        "/custom-fields/": field.body["id"],
        "/twitter-details/": x_details_id,
    }
    yield desk.token, ids
    close_desk(desk)


@contextmanager
def stack_environment(local_stack):
    """The functions' environment, which the tests apply per test, for module fixtures:
    the functions run in this process."""
    local_stack.environment.apply()
    try:
        yield
    finally:
        local_stack.environment.restore()


# The tenant's deletions come last: the other operations need its records.
@SCHEMA.exclude(method="DELETE").parametrize()
@EXAMPLES
def test_as_a_tenant(case, local_stack, api, tenant):
    token, _ = tenant
    check(case, local_stack, throwaway_token(api) if case.path in LOGOUTS else token)


@SCHEMA.include(path_regex=r"\{").exclude(method="DELETE").parametrize()
@EXAMPLES
def test_as_a_tenant_on_its_own_records(case, local_stack, tenant):
    check(case, local_stack, on_own_record(case, tenant))


@SCHEMA.include(method="DELETE").parametrize()
@EXAMPLES
def test_as_a_tenant_deleting(case, local_stack, tenant):
    token, _ = tenant
    check(case, local_stack, token)


@SCHEMA.include(path_regex=r"\{", method="DELETE").parametrize()
@EXAMPLES
def test_as_a_tenant_deleting_its_own_records(case, local_stack, tenant):
    check(case, local_stack, on_own_record(case, tenant))


@SCHEMA.include(method="GET").parametrize()
@EXAMPLES
def test_as_the_admin(case, local_stack, api):
    check(case, local_stack, api.admin_token)


@SCHEMA.include(path="/auth/users/", method="POST").parametrize()
@EXAMPLES
def test_the_admin_creating_users(case, local_stack, api):
    check(case, local_stack, api.admin_token)


def check(case, local_stack, token: str) -> None:
    headers = {"Authorization": f"Token {token}"}
    if case.operation.definition.raw.get("security") == [{"XWebhookSignature": []}]:
        response = _signed_delivery(case, local_stack)
    else:
        response = case.call(base_url=local_stack.base_url, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
    is_json = response.headers.get("Content-Type", "").startswith("application/json")
    if 400 <= response.status_code < 500 and is_json:
        assert set(response.json()) == ENVELOPE, response.text


def on_own_record(case, tenant: tuple[str, dict[str, str]]) -> str:
    """Points the case at the tenant's own record of its kind; answers the token to use."""
    token, ids = tenant
    for under, record_id in ids.items():
        if case.path.startswith(under):
            name = re.search(r"\{(\w+)\}", case.path).group(1)
            case.path_parameters = {**(case.path_parameters or {}), name: record_id}
    return token


def throwaway_token(api: ApiClient) -> str:
    username, password = f"throwaway-{uuid.uuid4().hex[:12]}@example.com", uuid.uuid4().hex
    created = api.post(
        "/auth/users/",
        token=api.admin_token,
        json={"username": username, "password": password, "company_name": "Throwaway"},
    )
    assert created.status == 201, created.body
    return api.login(username, password)


def _signed_delivery(case, local_stack) -> requests.Response:
    """X signs the raw body: sign the bytes schemathesis made for this case."""
    kwargs = case.as_transport_kwargs(base_url=local_stack.base_url)
    body = json.dumps(kwargs.pop("json")).encode() if "json" in kwargs else kwargs.pop("data", b"")
    secret = local_stack.x_sandbox.consumer_secret
    kwargs["headers"][SIGNATURE_HEADER] = delivery_signature(secret, body or b"")
    return requests.request(data=body, timeout=30, **kwargs)
