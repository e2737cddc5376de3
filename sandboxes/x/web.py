"""The sandbox's HTTP plumbing: requests and answers as its handlers see them, X's error
bodies, and a threaded loopback server."""

import hmac
import html
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

logger = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
# X's problem types (xdevplatform/docs x-api/fundamentals/response-codes-and-errors.mdx).
GENERIC_PROBLEM = "about:blank"
INVALID_REQUEST = "https://api.x.com/2/problems/invalid-request"
NOT_FOUND = "https://api.x.com/2/problems/resource-not-found"
NOT_AUTHORIZED = "https://api.x.com/2/problems/not-authorized-for-resource"
UNSUPPORTED_AUTHENTICATION = "https://api.x.com/2/problems/unsupported-authentication"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Call:
    """A request, as the sandbox's handlers see it."""

    method: str
    url: str  # as the client addressed it, which is what an OAuth 1.0a client signs
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the path

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    def json(self, *, sandbox: bool = False) -> dict:
        """The JSON object body; refused in X's error shape, or the sandbox's own."""
        try:
            value = json.loads(self.body or b"null")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            message = "The request body must be a JSON object."
            raise Refused(
                sandbox_error(400, message)
                if sandbox
                else problem(400, message, type_=INVALID_REQUEST)
            )
        return value

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


class Refused(Exception):
    """Ends a request with `response`."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


# ---------------------------------------------------------------- answers


def json_response(status: int, value, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(value).encode(), headers=headers)


def form_response(values: dict[str, str]) -> Response:
    """The form-encoded answer of X's OAuth endpoints."""
    return Response(200, urlencode(values).encode(), content_type=FORM)


def problem(
    status: int, detail: str, *, type_: str = GENERIC_PROBLEM, reason: str = ""
) -> Response:
    """X v2's error body: problem details."""
    body = {"title": HTTPStatus(status).phrase, "detail": detail, "type": type_, "status": status}
    if reason:
        body["reason"] = reason
    return json_response(status, body)


def invalid(reason: str, detail: str) -> Response:
    """The 400 of X's webhook and subscription endpoints, with its documented reason."""
    return problem(400, f"{reason}: {detail}", type_=INVALID_REQUEST, reason=reason)


def oauth_error(status: int, code: int, message: str) -> Response:
    """The error body of X's OAuth endpoints."""
    return json_response(status, {"errors": [{"code": code, "message": message}]})


def sandbox_error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def redirect(location: str) -> Response:
    return Response(302, content_type=HTML, headers=(("Location", location),))


def page(status: int, title: str, content: str) -> Response:
    """A small HTML page; `content` is HTML already."""
    document = (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} / X sandbox</title>"
        "<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto}"
        "button{font-size:1rem;margin-right:.5rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{content}</body></html>"
    )
    return Response(status, document.encode(), content_type=HTML)


def same_secret(given: str, expected: str) -> bool:
    """Whether two secrets are equal, in constant time, whatever their characters."""
    return hmac.compare_digest(given.encode(), expected.encode())


def with_query(url: str, parameters: dict[str, str]) -> str:
    """`url` with `parameters` added to its query."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(parameters)]))
    return urlunsplit(parts._replace(query=query))


# ---------------------------------------------------------------- the server


class Server(ThreadingHTTPServer):
    """Answers each request with `answer(call)`, each in its own thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Callable[[Call], Response]):
        super().__init__(address, _Handler)
        self.answer = answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        parts = urlsplit(self.path)
        call = Call(
            method=self.command,
            url=f"http://{host}{self.path}",
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        response = self.server.answer(call)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s " + format, self.address_string(), *args)
