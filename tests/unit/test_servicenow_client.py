"""The ServiceNow client: the Case API check, the error mapping, and no credential leaks."""

import base64
import json
import traceback

import pytest
import requests
import responses
from responses import matchers

from twittnow.clients.servicenow import (
    ServiceNowBadCredentials,
    ServiceNowClient,
    ServiceNowError,
    ServiceNowMissingRole,
    ServiceNowNotFound,
    ServiceNowThrottled,
    ServiceNowUnavailable,
)

INSTANCE = "https://dev12345.service-now.com"
CASE_URL = f"{INSTANCE}/api/sn_customerservice/case"
USERNAME = "twittnow.integration"
PASSWORD = "s3cret-Pa55word!"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()


def servicenow_error(message: str, detail: str | None = None) -> dict:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


@pytest.fixture
def instance():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return ServiceNowClient(INSTANCE, USERNAME, PASSWORD)


def failure_of(client: ServiceNowClient) -> ServiceNowError:
    with pytest.raises(ServiceNowError) as failure:
        client.check_case_api()
    return failure.value


def test_the_case_api_check_reads_one_case_id_as_the_integration_user(instance, client):
    instance.get(
        CASE_URL,
        json={"result": [{"sys_id": "46d44a5dc611227501d1f4bb2b39e6c7"}]},
        match=[matchers.query_param_matcher({"sysparm_limit": "1", "sysparm_fields": "sys_id"})],
    )

    assert client.check_case_api() is None

    (call,) = instance.calls
    assert call.request.method == "GET"
    assert call.request.url == f"{CASE_URL}?sysparm_limit=1&sysparm_fields=sys_id"
    assert call.request.headers["Authorization"] == AUTHORIZATION
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.req_kwargs["timeout"] == (10.0, 10.0)


def test_the_timeout_applies_to_connecting_and_reading(instance):
    instance.get(CASE_URL, json={"result": []})

    ServiceNowClient(f"{INSTANCE}/", USERNAME, PASSWORD, timeout=3.5).check_case_api()

    assert instance.calls[0].request.url.startswith(f"{CASE_URL}?")
    assert instance.calls[0].request.req_kwargs["timeout"] == (3.5, 3.5)


def test_credentials_beyond_latin_1_are_sent_as_utf_8(instance):
    instance.get(CASE_URL, json={"result": []})

    ServiceNowClient(INSTANCE, "agent", "pässwörd€").check_case_api()

    expected = base64.b64encode("agent:pässwörd€".encode()).decode()
    assert instance.calls[0].request.headers["Authorization"] == f"Basic {expected}"


def test_request_answers_the_json_body_and_an_empty_object_for_no_content(instance, client):
    instance.get(f"{CASE_URL}/abc", json={"result": {"sys_id": "abc", "number": "CS0001001"}})
    instance.delete(f"{CASE_URL}/abc", status=204)

    assert client._request("GET", "/api/sn_customerservice/case/abc") == {
        "result": {"sys_id": "abc", "number": "CS0001001"}
    }
    assert client._request("DELETE", "/api/sn_customerservice/case/abc") == {}


@pytest.mark.parametrize(
    ("status", "body", "error_class", "message", "detail"),
    [
        (
            401,
            servicenow_error("User Not Authenticated", "Required to provide Auth information"),
            ServiceNowBadCredentials,
            "User Not Authenticated",
            "Required to provide Auth information",
        ),
        (
            403,
            servicenow_error("User Not Authorized", "ACL restricts the record retrieval"),
            ServiceNowMissingRole,
            "User Not Authorized",
            "ACL restricts the record retrieval",
        ),
        (
            404,
            servicenow_error("Requested URI does not represent any resource"),
            ServiceNowNotFound,
            "Requested URI does not represent any resource",
            "",
        ),
        (
            400,
            servicenow_error("Invalid query", "sysparm_limit must be a number"),
            ServiceNowError,
            "Invalid query",
            "sysparm_limit must be a number",
        ),
        (
            500,
            servicenow_error("Server error", "Transaction cancelled"),
            ServiceNowUnavailable,
            "Server error",
            "Transaction cancelled",
        ),
        (
            502,
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ServiceNowUnavailable,
            "ServiceNow answered 502 Bad Gateway.",
            "",
        ),
        (503, "", ServiceNowUnavailable, "ServiceNow answered 503 Service Unavailable.", ""),
        (
            401,
            "<html>Log in</html>",
            ServiceNowBadCredentials,
            "ServiceNow answered 401 Unauthorized.",
            "",
        ),
        (409, ["not", "an", "object"], ServiceNowError, "ServiceNow answered 409 Conflict.", ""),
    ],
)
def test_error_answers_become_typed_errors(
    instance, client, status, body, error_class, message, detail
):
    if isinstance(body, str):
        instance.get(CASE_URL, status=status, body=body, content_type="text/html")
    else:
        instance.get(CASE_URL, status=status, json=body)

    error = failure_of(client)

    assert type(error) is error_class
    assert (error.message, error.detail, error.status_code) == (message, detail, status)
    assert str(error) == message
    assert error.retryable is (status >= 500)


@pytest.mark.parametrize(
    ("headers", "retry_after_seconds"),
    [
        ({"Retry-After": "30"}, 30),
        ({"Retry-After": " 5 "}, 5),
        ({}, 60),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 60),
        ({"Retry-After": "-5"}, 60),
        ({"Retry-After": "soon"}, 60),
    ],
)
def test_throttling_says_when_to_try_again(instance, client, headers, retry_after_seconds):
    instance.get(
        CASE_URL,
        status=429,
        headers=headers,
        json=servicenow_error("Too many requests", "Rate limit exceeded"),
    )

    error = failure_of(client)

    assert type(error) is ServiceNowThrottled
    assert error.retry_after_seconds == retry_after_seconds
    assert (error.message, error.detail, error.status_code) == (
        "Too many requests",
        "Rate limit exceeded",
        429,
    )
    assert not error.retryable


@pytest.mark.parametrize("timeout", [requests.ConnectTimeout, requests.ReadTimeout])
def test_a_timeout_is_unavailable(instance, client, timeout):
    instance.get(CASE_URL, body=timeout("Read timed out. (read timeout=10.0)"))

    error = failure_of(client)

    assert type(error) is ServiceNowUnavailable
    assert error.retryable
    assert error.status_code is None
    assert error.message == f"ServiceNow at {INSTANCE} did not answer within 10 seconds."
    assert error.detail == "Read timed out. (read timeout=10.0)"


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("Failed to resolve 'dev12345.service-now.com'"),
        requests.ConnectionError("Connection refused"),
        requests.exceptions.SSLError("certificate verify failed"),
    ],
)
def test_a_connection_or_dns_failure_is_unavailable(instance, client, failure):
    instance.get(CASE_URL, body=failure)

    error = failure_of(client)

    assert type(error) is ServiceNowUnavailable
    assert error.retryable
    assert error.status_code is None
    assert error.message == f"Could not connect to ServiceNow at {INSTANCE}."
    assert error.detail == str(failure)


def test_a_redirect_is_not_followed_and_names_its_location(instance, client):
    # Not registered: following the redirect would fail with a connection error instead.
    instance.get(CASE_URL, status=302, headers={"Location": "https://login.example.com/sso"})

    error = failure_of(client)

    assert type(error) is ServiceNowUnavailable
    assert error.retryable
    assert error.status_code == 302
    assert error.message == (
        "ServiceNow answered 302 Found, a redirect to https://login.example.com/sso: "
        "check the instance URL."
    )
    assert len(instance.calls) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Your instance is hibernating</body></html>", "text/html"),
        ('{"result": [', "application/json"),
        ('["not", "an", "object"]', "application/json"),
        ("", "application/json"),
    ],
)
def test_a_success_that_is_not_a_json_object_is_unavailable(instance, client, body, content_type):
    instance.get(CASE_URL, status=200, body=body, content_type=content_type)

    error = failure_of(client)

    assert type(error) is ServiceNowUnavailable
    assert error.status_code == 200
    assert error.message == (
        "ServiceNow answered 200 OK with something other than JSON: "
        f"check that the instance at {INSTANCE} is awake."
    )


def echoing_credentials(status: int, headers: dict | None = None):
    """An instance (or proxy) that writes the request's credentials into its error."""

    def answer(request):
        body = servicenow_error(
            f"Rejected {request.headers['Authorization']}", f"password was {PASSWORD}"
        )
        return status, headers or {}, json.dumps(body)

    return answer


@pytest.mark.parametrize(
    "answer",
    [
        {"callback": echoing_credentials(401)},
        {"callback": echoing_credentials(403)},
        {"callback": echoing_credentials(404)},
        {"callback": echoing_credentials(400)},
        {"callback": echoing_credentials(429, {"Retry-After": "1"})},
        {"callback": echoing_credentials(500)},
        {"status": 502, "body": f"<html>{AUTHORIZATION}</html>"},
        {"status": 302, "headers": {"Location": f"https://evil.example/?p={PASSWORD}"}},
        {"status": 200, "body": f"<html>{PASSWORD}</html>"},
        {"body": requests.ConnectionError(f"cannot connect with {PASSWORD}")},
        {"body": requests.ReadTimeout(f"timed out, {AUTHORIZATION}")},
    ],
)
def test_errors_never_carry_the_password_or_the_authorization_header(instance, client, answer):
    if "callback" in answer:
        instance.add_callback(responses.GET, CASE_URL, callback=answer["callback"])
    else:
        instance.add(responses.GET, CASE_URL, **answer)

    error = failure_of(client)

    token = AUTHORIZATION.removeprefix("Basic ")
    texts = [
        str(error),
        repr(error),
        repr(error.args),
        error.message,
        error.detail,
        "".join(traceback.format_exception(error)),
    ]
    for text in texts:
        assert PASSWORD not in text
        assert token not in text
    # The requests exception, whose request holds the Authorization header, is not chained.
    assert error.__cause__ is None
    assert error.__context__ is None
