"""The local stack starts from template.yaml and answers over HTTP like API Gateway."""

import json
import os

import pytest
import requests

from local.gateway import HttpRequest

pytestmark = pytest.mark.e2e


def test_the_state_file_tells_operator_commands_where_the_stack_is(local_stack):
    state = json.loads(local_stack.state_file.read_text(encoding="utf-8"))

    assert state["api_url"] == local_stack.base_url
    assert state["aws_endpoint_url"] == local_stack.aws_endpoint_url
    assert state["region"] == "us-east-1"
    assert state["physical_names"]["UsersTable"] == "twittnow-local-UsersTable"
    assert state["physical_names"]["LoginFunction"] == "twittnow-local-LoginFunction"
    assert state["environment"]["USERS_TABLE"] == "twittnow-local-UsersTable"
    assert state["environment"]["AWS_ENDPOINT_URL"] == local_stack.aws_endpoint_url


def test_the_banner_shows_where_to_go_and_how_to_log_in(local_stack):
    banner = local_stack.banner()

    assert local_stack.base_url in banner
    assert local_stack.aws_endpoint_url in banner
    assert local_stack.admin_username in banner
    # A password the operator chose is theirs to know: the banner does not repeat it.
    assert local_stack.admin_password not in banner
    assert (
        f"curl -X POST {local_stack.base_url}/auth/login/ --data "
        '\'{"username": "admin@example.com" ,"password":"<ADMIN_PASSWORD>"}\' '
        '--header "Content-Type: application/json"'
    ) in banner


def test_an_unknown_route_is_a_404_in_the_error_envelope(local_stack):
    response = requests.get(f"{local_stack.base_url}/no/such/route/", timeout=10)

    assert response.status_code == 404
    assert response.json() == {
        "error": "No endpoint answers GET /no/such/route/.",
        "code": "NOT_FOUND",
        "details": {},
        "request_id": response.headers["x-amzn-RequestId"],
    }


def test_the_admin_can_log_in_with_the_seeds_first_curl(local_stack):
    # curl --data sends the body as typed, odd spacing included.
    body = (
        f'{{"username": "{local_stack.admin_username}" ,"password":"{local_stack.admin_password}"}}'
    )

    response = requests.post(
        f"{local_stack.base_url}/auth/login/",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    assert response.json()["token"]
    assert response.json()["user"]["username"] == local_stack.admin_username
    assert response.json()["user"]["is_admin"] is True


def test_the_stack_environment_is_set_while_an_end_to_end_test_runs(local_stack):
    assert os.environ["AWS_ENDPOINT_URL"] == local_stack.aws_endpoint_url
    assert os.environ["PUBLIC_BASE_URL"] == local_stack.base_url
    assert os.environ["USERS_TABLE"] == "twittnow-local-UsersTable"


def test_requests_can_be_answered_in_process_too(local_stack):
    request = HttpRequest(
        method="DELETE",
        target="/auth/login/",
        headers=[("Host", "localhost")],
        body=b"",
        client_ip="127.0.0.1",
    )

    response = local_stack.handle(request)

    assert response.status == 404
    assert json.loads(response.body)["error"] == "No endpoint answers DELETE /auth/login/."
