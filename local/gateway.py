"""A local API Gateway (REST API, Lambda proxy integration) for the template's Api events."""

import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template import LOCAL_ACCOUNT_ID, LOCAL_API_ID, Function

logger = logging.getLogger(__name__)

Invoke = Callable[[Function, dict], Any]

_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # the template's resource path: /auth/users/{user_id}
    function: Function


@dataclass(frozen=True)
class _Resource:
    pattern: re.Pattern
    specificity: tuple[int, ...]
    routes: dict[str, Route] = field(default_factory=dict)  # by method


def _compile(path: str) -> tuple[re.Pattern, tuple[int, ...]]:
    """The resource path as a regex (a trailing slash is optional), and how specific it is."""
    parts, ranks = [], []
    for segment in [segment for segment in path.split("/") if segment]:
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
            ranks.append(2)
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            ranks.append(1)
        else:
            parts.append(re.escape(segment))
            ranks.append(0)
    return re.compile("/" + "/".join(parts) + ("/?" if parts else "")), tuple(ranks)


class Router:
    """Finds the resource for a path, then the method on it, as API Gateway does."""

    def __init__(self, functions: Iterable[Function]):
        resources: dict[str, _Resource] = {}
        for function in functions:
            for api_route in function.api_routes:
                if api_route.path not in resources:
                    pattern, specificity = _compile(api_route.path)
                    resources[api_route.path] = _Resource(pattern, specificity)
                route = Route(api_route.method, api_route.path, function)
                resources[api_route.path].routes[api_route.method] = route
        # Literal segments win over {params}, which win over {greedy+} ones.
        self._resources = sorted(resources.values(), key=lambda resource: resource.specificity)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for resource in self._resources:
            found = resource.pattern.fullmatch(path)
            if found:
                route = resource.routes.get(method) or resource.routes.get("ANY")
                if route is None:
                    return None  # the resource decides: a less specific one is not tried

                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None


# ---------------------------------------------------------------- events and responses


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query string, as sent
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str
    protocol: str = "HTTP/1.1"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedProxyResponse(ValueError):
    """The handler's answer is not one API Gateway's proxy integration accepts."""


def build_event(
    request: HttpRequest,
    route: Route,
    path_parameters: dict[str, str],
    request_id: str,
    stage: str,
    received_at: datetime | None = None,
) -> dict:
    """The API Gateway REST proxy event (payload 1.0) for `request` on `route`."""
    received_at = received_at or datetime.now(UTC)
    headers = _grouped(request.headers)
    query = _grouped(parse_qsl(request.query, keep_blank_values=True))
    body, is_base64 = _event_body(request.body)
    host = next((value for name, value in request.headers if name.lower() == "host"), None)
    user_agent = next(
        (value for name, value in request.headers if name.lower() == "user-agent"), None
    )
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in headers.items()} or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "resourcePath": route.path,
            "httpMethod": request.method,
            # As behind a custom domain: the path the client called, without the stage.
            "path": request.path,
            "stage": stage,
            "requestId": request_id,
            "requestTime": received_at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(received_at.timestamp() * 1000),
            "protocol": request.protocol,
            "domainName": host,
            "identity": {
                "sourceIp": request.client_ip,
                "userAgent": user_agent,
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _event_body(raw: bytes) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def proxy_response(result: Any) -> HttpResponse:
    """The HTTP response API Gateway makes of a handler's proxy answer."""
    if not isinstance(result, dict) or not set(result) <= _PROXY_RESPONSE_KEYS:
        raise MalformedProxyResponse("not a proxy response object")
    status = result.get("statusCode", 200)
    if isinstance(status, bool) or not str(status).isdigit():
        raise MalformedProxyResponse("statusCode is not a number")
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedProxyResponse("headers are not objects")
    if not all(isinstance(values, list) for values in multi.values()):
        raise MalformedProxyResponse("multiValueHeaders values are not lists")
    # Where both name a header, API Gateway keeps the multi-value one.
    headers = [(name, str(value)) for name, value in single.items() if name not in multi]
    headers += [(name, str(value)) for name, values in multi.items() for value in values]
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse("body is not a string")
    if result.get("isBase64Encoded") and body:
        try:
            content = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedProxyResponse("body is not base64") from error
    else:
        content = (body or "").encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(int(status), headers, content)


def error_response(status: int, message: str, code: str, request_id: str) -> HttpResponse:
    """An answer API Gateway gives on its own, in the template's GatewayResponses envelope."""
    body = {"error": message, "code": code, "details": {}, "request_id": request_id}
    return HttpResponse(
        status, [("Content-Type", "application/json")], json.dumps(body).encode("utf-8")
    )


def not_found(method: str, path: str, request_id: str) -> HttpResponse:
    return error_response(404, f"No endpoint answers {method} {path}.", "NOT_FOUND", request_id)


def internal_error(request_id: str) -> HttpResponse:
    return error_response(502, "Internal server error", "INTERNAL_ERROR", request_id)


# What a client can do about the requests http.server refuses before the gateway sees them.
_UNREADABLE_REQUESTS = {
    400: "The request is not valid HTTP: check its request line (method, path, HTTP/1.1) "
    "and its headers.",
    414: "The request line is longer than 65536 bytes: shorten the URL, and send long "
    "values in the request body.",
    431: "The request headers are too large (a header line over 65536 bytes, or over 100 "
    "headers): send fewer or shorter headers.",
    505: "This HTTP version is not supported: use HTTP/1.1.",
}


def unreadable_request(status: int, request_id: str) -> HttpResponse:
    """The answer to a request http.server could not read (too long a request line, too
    large headers, bad syntax), in the envelope of API Gateway's other 4xx answers (the
    template's DEFAULT_4XX)."""
    message = _UNREADABLE_REQUESTS.get(status) or f"{HTTPStatus(status).phrase}."
    return error_response(status, message, "BAD_REQUEST", request_id)


# ---------------------------------------------------------------- HTTP server


class _Server(ThreadingHTTPServer):
    # listen()'s backlog: connections the kernel holds while the server thread is busy
    # accepting. http.server's 5 drops a burst of clients (a test run, a load test).
    request_queue_size = 128


class Gateway:
    """Serves the routes on host:port (port 0 picks a free one) until stop().

    `invoke(function, event)` runs a function: Runtime.invoke, usually.
    """

    def __init__(
        self, invoke: Invoke, host: str = "127.0.0.1", port: int = 3000, stage: str = "local"
    ):
        self.stage = stage
        self.invoke = invoke
        self.router = Router(())
        self._server = _Server((host, port), _RequestHandler)
        self._server.gateway = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self, router: Router) -> None:
        """Serves `router`'s routes."""
        self.router = router
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        response = self._answer(request, request_id)
        response.headers.append(("x-amzn-RequestId", request_id))
        # Method, path, status and time only: headers, query strings and bodies carry
        # tokens, passwords and OAuth verifiers.
        logger.info(
            "%s %s %d %.0f ms",
            request.method,
            request.path,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    def refuse_unreadable(self, status: int) -> HttpResponse:
        """The answer to a request http.server refused to read, logged as handle() logs."""
        request_id = str(uuid.uuid4())
        response = unreadable_request(status, request_id)
        response.headers.append(("x-amzn-RequestId", request_id))
        logger.info("%d: a request http.server could not read", status)
        return response

    def _answer(self, request: HttpRequest, request_id: str) -> HttpResponse:
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return not_found(request.method, request.path, request_id)
        route, path_parameters = matched
        event = build_event(request, route, path_parameters, request_id, self.stage)
        try:
            return proxy_response(self.invoke(route.function, event))
        except MalformedProxyResponse as error:
            logger.error(
                "%s answered a malformed proxy response: %s", route.function.logical_id, error
            )
        except Exception:
            logger.exception("%s failed", route.function.logical_id)
        return internal_error(request_id)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self._read_body(),
            client_ip=self.client_address[0],
            protocol=self.request_version,
        )
        self._send(self.server.gateway.handle(request))  # type: ignore[attr-defined]

    def _send(self, response: HttpResponse, close: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")  # and http.server closes it
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        # http.server calls this for the requests it cannot read (414, 431, 400, 505) and
        # would answer with an HTML page; the gateway answers in its JSON envelope. What
        # follows on the connection cannot be told apart from the request: it is closed.
        response = self.server.gateway.refuse_unreadable(code)  # type: ignore[attr-defined]
        self._send(response, close=True)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with its own 501 page. Every
        # method goes to the router instead, which answers 404 in the envelope where no
        # route takes it.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailer fields, unused
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # Gateway.handle logs one line per request, without the query string

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("gateway: " + format, *args)
