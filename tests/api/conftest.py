"""The API tests run twice over one local stack per test session: in-process, handing
each request straight to the local API Gateway (integration: handlers over moto), and
over HTTP (end to end). Tests talk to an ApiClient and never know which."""

import uuid

import pytest

from auth import logic
from tests.api.client import ApiClient, Tenant


@pytest.fixture(scope="session")
def session_admin_token(local_stack) -> str:
    """One admin login for the whole session: tests never log the admin out."""
    local_stack.environment.apply()
    try:
        client = ApiClient(local_stack, over_http=False)
        return client.login(local_stack.admin_username, local_stack.admin_password)
    finally:
        local_stack.environment.restore()


@pytest.fixture(params=["in_process", pytest.param("http", marks=pytest.mark.e2e)])
def api(request, stack_environment, session_admin_token) -> ApiClient:
    client = ApiClient(stack_environment, over_http=request.param == "http")
    client.admin_token = session_admin_token
    return client


@pytest.fixture
def admin_token(api) -> str:
    return api.admin_token


@pytest.fixture
def admin_id(api) -> str:
    reply = api.post(
        "/auth/login/",
        json={"username": api.stack.admin_username, "password": api.stack.admin_password},
    )
    return reply.body["user"]["id"]


@pytest.fixture
def unique_email():
    return lambda name: f"{name}-{uuid.uuid4().hex[:12]}@example.com"


def _new_tenant(api: ApiClient, unique_email, name: str) -> Tenant:
    username, password = unique_email(name), f"pw-{uuid.uuid4().hex}"
    reply = api.post(
        "/auth/users/",
        token=api.admin_token,
        json={"username": username, "password": password, "company_name": f"{name} Ltd"},
    )
    assert reply.status == 201, reply.body
    return Tenant(reply.body["id"], username, password, api.login(username, password))


@pytest.fixture
def tenant(api, unique_email) -> Tenant:
    return _new_tenant(api, unique_email, "tenant")


@pytest.fixture
def tenant_of(unique_email):
    """A new tenant made through a given client, for tests that pick their transport."""
    return lambda client: _new_tenant(client, unique_email, "tenant")


@pytest.fixture
def other_tenant(api, unique_email) -> Tenant:
    return _new_tenant(api, unique_email, "other")


# ---------------------------------------------------------------- shared helpers


@pytest.fixture
def in_process_api(stack_environment) -> ApiClient:
    """The in-process transport only: for tests that mock what the handlers call
    (`responses`), or read the embedded AWS directly."""
    client = ApiClient(stack_environment, over_http=False)
    client.admin_token = client.login(
        stack_environment.admin_username, stack_environment.admin_password
    )
    return client


@pytest.fixture
def auth_logic(stack_environment):
    """The auth functions' domain module, on the local stack (stack_environment): for tests
    that watch or interleave what it does."""
    return logic
