"""On the local stack, a tenant points its ServiceNow details at the sandbox ServiceNow the
stack runs, and verify checks them there."""

import uuid

import pytest
import requests

pytestmark = pytest.mark.e2e


def call(stack, method: str, path: str, token: str | None = None, **body) -> dict:
    headers = {"Authorization": f"Token {token}"} if token else {}
    answer = requests.request(
        method, stack.base_url + path, json=body or None, headers=headers, timeout=30
    )
    assert answer.ok, answer.text
    return answer.json()


@pytest.fixture
def tenant_token(local_stack) -> str:
    admin = call(
        local_stack,
        "POST",
        "/auth/login/",
        username=local_stack.admin_username,
        password=local_stack.admin_password,
    )["token"]
    username, password = f"sandbox-{uuid.uuid4().hex[:12]}@example.com", uuid.uuid4().hex
    call(
        local_stack,
        "POST",
        "/auth/users/",
        admin,
        username=username,
        password=password,
        company_name="Acme",
    )
    return call(local_stack, "POST", "/auth/login/", username=username, password=password)["token"]


@pytest.mark.parametrize(
    ("password_of", "status"),
    [(lambda sandbox: sandbox.admin_password, "ok"), (lambda sandbox: "wrong", "bad_credentials")],
)
def test_verify_against_the_sandbox_instance(local_stack, tenant_token, password_of, status):
    sandbox = local_stack.servicenow_sandbox
    details = call(
        local_stack,
        "POST",
        "/servicenow-details/",
        tenant_token,
        instance_url=sandbox.base_url,
        admin_user=sandbox.admin_user,
        admin_password=password_of(sandbox),
    )
    assert details["instance_url"] == sandbox.base_url

    verify = f"/servicenow-details/{details['id']}/verify/"
    verified = call(local_stack, "POST", verify, tenant_token)

    assert verified["status"] == status, verified


def test_the_stack_allow_lists_the_sandbox_and_its_banner_says_how_to_use_it(local_stack):
    sandbox = local_stack.servicenow_sandbox
    host = sandbox.base_url.removeprefix("http://")

    allowed = local_stack.environment.values["SERVICENOW_ALLOWED_HOSTS"].split(",")

    assert allowed == ["*.service-now.com", host]
    banner = local_stack.banner()
    assert f'"instance_url": "{sandbox.base_url}"' in banner
    assert f'"admin_password": "{sandbox.admin_password}"' in banner
