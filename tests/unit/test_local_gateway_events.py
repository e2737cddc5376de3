"""The local API Gateway: routing, the proxy events it builds, and what it makes of answers."""

import base64
import json
import socket
import sys
from datetime import UTC, datetime

import pytest
import requests

from local.gateway import (
    Gateway,
    HttpRequest,
    MalformedProxyResponse,
    Router,
    build_event,
    not_found,
    proxy_response,
)
from local.runtime import Runtime
from local.template import DEFAULT_TEMPLATE, Deployment, load_template

FIXTURE_TEMPLATE = DEFAULT_TEMPLATE.parent / "tests" / "fixtures" / "queue_stack" / "template.yaml"


@pytest.fixture(scope="module")
def template():
    return load_template(Deployment(aws_endpoint_url="http://127.0.0.1:1"), FIXTURE_TEMPLATE)


@pytest.fixture(scope="module")
def router(template):
    return Router(template.functions)


def request(target: str, method: str = "GET", headers=(), body: bytes = b"") -> HttpRequest:
    return HttpRequest(
        method=method,
        target=target,
        headers=[("Host", "localhost:3000"), ("User-Agent", "curl/8.5.0"), *headers],
        body=body,
        client_ip="127.0.0.1",
    )


def event_for(router, sent: HttpRequest) -> dict:
    route, path_parameters = router.match(sent.method, sent.path)
    received_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return build_event(sent, route, path_parameters, "req-1", "dev", received_at)


# ---------------------------------------------------------------- routing


def test_path_parameters_come_from_the_template_path(router):
    event = event_for(router, request("/things/t-42/owner", method="PUT"))

    assert event["resource"] == "/things/{thing_id}/owner"
    assert event["path"] == "/things/t-42/owner"
    assert event["pathParameters"] == {"thing_id": "t-42"}


def test_a_trailing_slash_is_optional_and_kept_in_the_path(router):
    event = event_for(router, request("/things/t-42/"))

    assert event["resource"] == "/things/{thing_id}"
    assert event["path"] == "/things/t-42/"
    assert event["pathParameters"] == {"thing_id": "t-42"}


def test_literal_segments_win_over_parameters(router):
    route, path_parameters = router.match("GET", "/things/mine")

    assert route.path == "/things/mine"
    assert path_parameters == {}


def test_greedy_parameters_take_the_rest_of_the_path_with_any_method(router):
    route, path_parameters = router.match("DELETE", "/files/a/b%20c.txt")

    assert (route.method, route.path) == ("ANY", "/files/{path+}")
    assert path_parameters == {"path": "a/b c.txt"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/things/t-42"),
        ("GET", "/nothing"),
        ("GET", "/things/t-42/owner/more"),
        ("GET", "/"),
    ],
)
def test_no_route_for_other_methods_or_paths(router, method, path):
    assert router.match(method, path) is None


# ---------------------------------------------------------------- events


def test_no_query_string_and_no_parameters_are_none(router):
    event = event_for(router, request("/things/mine"))

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_query_strings_keep_every_value_and_the_last_wins_single(router):
    event = event_for(router, request("/things/mine?tag=a&tag=b&q=hello%20there&empty="))

    assert event["queryStringParameters"] == {"tag": "b", "q": "hello there", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "tag": ["a", "b"],
        "q": ["hello there"],
        "empty": [""],
    }
    assert event["path"] == "/things/mine"


def test_headers_keep_their_names_and_every_value(router):
    sent = request(
        "/things/mine",
        headers=[("Authorization", "Token abc"), ("X-Tag", "one"), ("X-Tag", "two")],
    )

    event = event_for(router, sent)

    assert event["headers"]["Authorization"] == "Token abc"
    assert event["headers"]["X-Tag"] == "two"
    assert event["multiValueHeaders"]["X-Tag"] == ["one", "two"]
    assert event["multiValueHeaders"]["Host"] == ["localhost:3000"]


def test_request_context_describes_the_call(router):
    event = event_for(router, request("/things/t-1?x=1"))
    context = event["requestContext"]

    assert context["resourcePath"] == "/things/{thing_id}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/things/t-1"
    assert context["stage"] == "dev"
    assert context["requestId"] == "req-1"
    assert context["requestTimeEpoch"] == 1767323045000
    assert context["protocol"] == "HTTP/1.1"
    assert context["domainName"] == "localhost:3000"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "curl/8.5.0"
    assert context["accountId"] and context["apiId"]


def test_a_text_body_is_passed_as_sent(router):
    raw = '{"username": "admin@example.com" ,"password":"pässword"}'.encode()

    event = event_for(router, request("/things/t-1/owner", method="PUT", body=raw))

    assert event["body"] == raw.decode("utf-8")
    assert event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_encoded(router):
    raw = b"\x89PNG\r\n\x1a\n\xff\x00"

    event = event_for(router, request("/things/t-1/owner", method="PUT", body=raw))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


# ---------------------------------------------------------------- answers


def test_a_proxy_answer_becomes_the_response():
    response = proxy_response(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "Set-Cookie": "ignored"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": '{"ok": true}',
        }
    )

    assert response.status == 201
    assert ("X-One", "1") in response.headers
    assert [value for name, value in response.headers if name == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("Content-Type", "application/json") in response.headers  # API Gateway's default
    assert response.body == b'{"ok": true}'


def test_a_base64_answer_is_decoded():
    body = base64.b64encode(b"\x00\xff").decode()

    response = proxy_response({"statusCode": 200, "body": body, "isBase64Encoded": True})

    assert response.body == b"\x00\xff"


@pytest.mark.parametrize(
    "answer",
    [
        None,
        "text",
        {"statusCode": "two hundred"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["X-Bad"]},
        {"statusCode": 200, "multiValueHeaders": {"X": "not a list"}},
        {"statusCode": 200, "cookies": ["a=1"]},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_malformed_answers_are_refused(answer):
    with pytest.raises(MalformedProxyResponse):
        proxy_response(answer)


def test_not_found_uses_the_gateway_envelope():
    response = not_found("DELETE", "/nope/", "req-9")

    assert response.status == 404
    assert json.loads(response.body) == {
        "error": "No endpoint answers DELETE /nope/.",
        "code": "NOT_FOUND",
        "details": {},
        "request_id": "req-9",
    }


# ---------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def gateway_url(router):
    gateway = Gateway(Runtime().invoke, port=0, stage="dev")
    gateway.start(router)
    yield f"http://127.0.0.1:{gateway.port}"
    gateway.stop()


def test_a_request_reaches_the_handler_and_its_answer_comes_back(gateway_url):
    response = requests.get(
        f"{gateway_url}/things/t-7/?tag=a&tag=b", headers={"Authorization": "Token t"}
    )

    assert response.status_code == 200
    assert response.headers["X-Echo"] == "yes"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    request_id = response.headers["x-amzn-RequestId"]
    received = response.json()
    assert received["event"]["path"] == "/things/t-7/"
    assert received["event"]["pathParameters"] == {"thing_id": "t-7"}
    assert received["event"]["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert received["event"]["headers"]["Authorization"] == "Token t"
    assert received["event"]["requestContext"]["requestId"] == request_id
    assert received["event"]["requestContext"]["domainName"] == gateway_url.removeprefix("http://")
    assert received["context"]["function_name"].endswith("-EchoFunction")
    assert received["context"]["memory_limit_in_mb"] == 256
    assert 0 < received["context"]["remaining_ms"] <= 5000


def test_binary_bodies_go_through_both_ways(gateway_url):
    sent = requests.put(f"{gateway_url}/things/t-7/owner", data=b"\xff\xfe\x00")
    answered = requests.get(f"{gateway_url}/things/t-7?binary")

    event = sent.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00"
    assert answered.content == b"\x00\xffbinary"
    assert answered.headers["Content-Type"] == "application/octet-stream"


def test_chunked_bodies_are_read_whole(gateway_url):
    sent = requests.put(f"{gateway_url}/things/t-7/owner", data=iter([b'{"a": ', b"1}"]))

    assert sent.json()["event"]["body"] == '{"a": 1}'


@pytest.mark.parametrize("failure", ["raise", "garbage"])
def test_a_failing_handler_is_a_502_in_the_envelope(gateway_url, failure):
    response = requests.get(f"{gateway_url}/things/t-7?{failure}")

    assert response.status_code == 502
    assert response.json() == {
        "error": "Internal server error",
        "code": "INTERNAL_ERROR",
        "details": {},
        "request_id": response.headers["x-amzn-RequestId"],
    }


def test_an_unknown_route_is_a_404_in_the_envelope(gateway_url):
    response = requests.post(f"{gateway_url}/things/t-7?x=1")

    assert response.status_code == 404
    assert response.json()["error"] == "No endpoint answers POST /things/t-7."
    assert response.json()["request_id"] == response.headers["x-amzn-RequestId"]


def test_the_access_log_leaves_out_headers_query_and_body(gateway_url, caplog):
    caplog.set_level("INFO", logger="local.gateway")

    requests.put(
        f"{gateway_url}/things/t-7/owner?oauth_verifier=s3cret",
        headers={"Authorization": "Token s3cret"},
        data='{"password": "s3cret"}',
    )

    (line,) = [record.getMessage() for record in caplog.records if record.name == "local.gateway"]
    assert line.startswith("PUT /things/t-7/owner 200 ")
    assert "s3cret" not in caplog.text


def assert_gateway_envelope(response, status: int, message_start: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Connection"] == "close"
    body = response.json()
    assert body == {
        "error": body["error"],
        "code": "BAD_REQUEST",
        "details": {},
        "request_id": response.headers["x-amzn-RequestId"],
    }
    assert body["error"].startswith(message_start)


def test_too_long_a_request_line_is_a_414_in_the_envelope(gateway_url):
    response = requests.get(f"{gateway_url}/things/t-7?q={'a' * 70_000}")

    assert_gateway_envelope(response, 414, "The request line is longer than 65536 bytes")


@pytest.mark.parametrize(
    "headers",
    [{"X-Long": "a" * 70_000}, {f"X-Header-{number}": "a" for number in range(101)}],
    ids=["a header line too long", "too many headers"],
)
def test_too_large_headers_are_a_431_in_the_envelope(gateway_url, headers):
    response = requests.get(f"{gateway_url}/things/t-7", headers=headers)

    assert_gateway_envelope(response, 431, "The request headers are too large")


def test_a_request_line_that_is_not_http_is_a_400_in_the_envelope(gateway_url):
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        # A space in the path, not percent-encoded: four words in the request line.
        connection.sendall(b"GET /things/t 7 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 400 ")
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["code"] == "BAD_REQUEST"
    assert body["error"].startswith("The request is not valid HTTP")


@pytest.mark.skipif(sys.platform != "linux", reason="how a full backlog refuses is Linux's")
def test_a_burst_of_connections_waits_in_the_listen_backlog_until_served(router):
    # Linux drops the handshake of a connection beyond the listen backlog: the client's
    # connect() waits for its retransmission, a second or more, and then times out here.
    gateway = Gateway(Runtime().invoke, port=0, stage="dev")  # listening, not yet accepting
    connections = []
    try:
        for _ in range(100):
            connections.append(socket.create_connection(("127.0.0.1", gateway.port), 0.5))
        gateway.start(router)
        for connection in connections:
            connection.settimeout(10)
            connection.sendall(b"GET /no/route HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answers = [connection.recv(64) for connection in connections]
    finally:
        for connection in connections:
            connection.close()
        gateway.stop()

    assert all(answer.startswith(b"HTTP/1.1 404 ") for answer in answers)
