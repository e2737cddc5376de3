"""Routing API Gateway's REST proxy events to a function's route, with its path and query
parameters and its JSON body validated by pydantic, and its answer shaped for the proxy.

Not Powertools' event handler: importing it costs every HTTP function about 20 ms of cold
start (it loads every resolver it has and the data classes of every event source;
bench/cold_start.py), for what each function here needs: one route or a few aliases of
one. The routes are declared as for Powertools' APIGatewayRestResolver (`<name>` for a
path parameter, `Annotated[T, Query(...)]` for a query parameter, a pydantic model for the
body), they match and validate as it does, and ops/openapi.py hands them to Powertools,
outside Lambda, for the OpenAPI document. Its classes are plain classes, not dataclasses,
which cost about 0.7 ms each to make at a cold start.
"""

import base64
import inspect
import json
import re
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints
from urllib.parse import parse_qsl

from pydantic import BaseModel, Field, ValidationError, create_model

# Powertools' pattern for a path parameter: one segment of URL-safe characters.
_PATH_PARAMETER = re.compile(r"<(\w+)>")
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

F = TypeVar("F", bound=Callable[..., Any])
# A route's answers by status, for the OpenAPI document (twittnow.api.answers).
Answers = dict[int, Any] | None


class QueryParameter:
    """A query parameter's constraints, as pydantic's Field takes them."""

    def __init__(self, constraints: dict[str, Any]):
        self.constraints = constraints


def Query(**constraints: Any) -> QueryParameter:
    """Marks a route's parameter as a query parameter, with pydantic Field's constraints:
    `page: Annotated[int, Query(ge=1)] = 1`."""
    return QueryParameter(constraints)


class Response:
    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: str | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
    ):
        self.status_code = status_code
        self.content_type = content_type
        self.body = body
        self.headers = headers


class RequestValidationError(Exception):
    """Parameters or a body that do not validate: pydantic's errors, each located by
    where it came from first ("path", "query" or "body")."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} validation errors")
        self.errors = errors


class UnsupportedContentType(Exception):
    """A body that is neither JSON nor a form."""


class NoRoute(Exception):
    """No route of the function answers the request's method and path."""


class Headers(dict[str, str]):
    """A request's headers, whose names are case-insensitive (RFC 9110): kept and looked
    up in lower case."""

    def __init__(self, headers: Mapping[str, str]):
        super().__init__({name.lower(): value for name, value in headers.items()})

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class RequestContext:
    def __init__(self, context: Mapping[str, Any]):
        self._context = context

    @property
    def request_id(self) -> str:
        return self._context.get("requestId", "")

    @property
    def domain_name(self) -> str:
        return self._context.get("domainName", "")

    @property
    def path(self) -> str:
        return self._context.get("path", "")

    @property
    def source_ip(self) -> str:
        return (self._context.get("identity") or {}).get("sourceIp") or ""


class ProxyEvent:
    """API Gateway's REST proxy event (payload 1.0), as the functions read it."""

    def __init__(self, event: Mapping[str, Any]):
        self.raw_event = event
        self.request_context = RequestContext(event.get("requestContext") or {})

    @property
    def http_method(self) -> str:
        return self.raw_event.get("httpMethod", "").upper()

    @property
    def path(self) -> str:
        return self.raw_event.get("path", "")

    @cached_property
    def headers(self) -> Headers:
        return Headers(self.raw_event.get("headers") or {})

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.raw_event.get("queryStringParameters") or {}

    @property
    def query_values(self) -> dict[str, str | list[str]]:
        """Each query parameter's value, or its values when it came more than once (which
        no scalar parameter validates: a client learns that `page=1&page=2` is wrong)."""
        values: dict[str, str | list[str]] = dict(self.query_string_parameters)
        for name, given in (self.raw_event.get("multiValueQueryStringParameters") or {}).items():
            if len(given) > 1:
                values[name] = given
        return values

    @property
    def body(self) -> str | None:
        return self.raw_event.get("body")

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw_event.get("isBase64Encoded"))

    @cached_property
    def json_body(self) -> Any:
        """The body's JSON (None for no body), read once per request; raises ValueError
        (json.JSONDecodeError) or RecursionError for a body that is not JSON."""
        return json.loads(self.decoded_body) if self.decoded_body else None

    @cached_property
    def decoded_body(self) -> str | None:
        """The body as text; raises UnicodeDecodeError for base64 bytes that are not UTF-8."""
        if self.is_base64_encoded and self.body:
            return base64.b64decode(self.body).decode()
        return self.body


class Route:
    def __init__(
        self, method: str, rule: str, function: Callable[..., Any], responses: Answers = None
    ):
        self.method = method
        self.rule = rule  # as declared, without its trailing slash: /users/<user_id>
        self.function = function
        self.responses = responses
        named = _PATH_PARAMETER.sub(lambda found: f"(?P<{found[1]}>{_SEGMENT})", rule)
        self.pattern = re.compile(f"^{named}/*$")  # a trailing slash or none, as Powertools

    @cached_property
    def parameters(self) -> "_Parameters":
        return _Parameters.of(self)


class _Parameters:
    """What a route's function takes: path and query parameters, validated together by
    one model built on the route's first request, and at most one body model."""

    def __init__(
        self,
        path: frozenset[str],
        arguments: type[BaseModel] | None,
        body_name: str | None,
        body: type[BaseModel] | None,
    ):
        self.path = path
        self.arguments = arguments
        self.body_name = body_name
        self.body = body

    @classmethod
    def of(cls, route: Route) -> "_Parameters":
        hints = get_type_hints(route.function, include_extras=True)
        path = frozenset(_PATH_PARAMETER.findall(route.rule))
        fields: dict[str, Any] = {}
        body_name, body = None, None
        for name, parameter in inspect.signature(route.function).parameters.items():
            hint = hints[name]
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            if name in path:
                fields[name] = (str, ...)
            elif inspect.isclass(hint) and issubclass(hint, BaseModel):
                body_name, body = name, hint
            elif get_origin(hint) is Annotated and isinstance(get_args(hint)[-1], QueryParameter):
                kind, *_, query = get_args(hint)
                fields[name] = (Annotated[kind, Field(**query.constraints)], default)
            else:
                raise TypeError(f"{route.function.__name__}: {name} is no path, query or body")
        arguments = (
            create_model(f"{route.function.__name__}_arguments", **fields) if fields else None
        )
        return cls(path, arguments, body_name, body)

    def arguments_of(self, event: ProxyEvent, path_values: dict[str, str]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        if self.arguments is not None:
            given = {**event.query_values, **path_values}
            try:
                values = dict(self.arguments.model_validate(given))
            except ValidationError as error:
                errors += [
                    {
                        **item,
                        "loc": ("path" if item["loc"][0] in self.path else "query", *item["loc"]),
                    }
                    for item in error.errors()
                ]
        if self.body is not None and self.body_name is not None:
            body = _body_of(event)
            if body is None:
                errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
            else:
                try:
                    values[self.body_name] = self.body.model_validate(body)
                except ValidationError as error:
                    errors += [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        if errors:
            raise RequestValidationError(errors)
        return values


def _body_of(event: ProxyEvent) -> Any:
    content_type = event.headers.get("content-type", "").strip()
    if not content_type or content_type.startswith(JSON):
        try:
            return event.json_body
        except json.JSONDecodeError as error:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body", error.pos), "ctx": {"error": error.msg}}]
            ) from None
    if content_type.startswith(FORM):
        return dict(parse_qsl(event.decoded_body or "", keep_blank_values=True))
    raise UnsupportedContentType(content_type)


class RestResolver:
    """A function's routes. `current_event` and `context` are the request's being resolved."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.current_event = ProxyEvent({})
        self.context: dict[str, Any] = {}

    def route(self, rule: str, method: str, responses: Answers = None) -> Callable[[F], F]:
        def register(function: F) -> F:
            self.routes.append(Route(method, rule.rstrip("/"), function, responses))
            return function

        return register

    def get(self, rule: str, responses: Answers = None) -> Callable[[F], F]:
        return self.route(rule, "GET", responses)

    def post(self, rule: str, responses: Answers = None) -> Callable[[F], F]:
        return self.route(rule, "POST", responses)

    def put(self, rule: str, responses: Answers = None) -> Callable[[F], F]:
        return self.route(rule, "PUT", responses)

    def patch(self, rule: str, responses: Answers = None) -> Callable[[F], F]:
        return self.route(rule, "PATCH", responses)

    def delete(self, rule: str, responses: Answers = None) -> Callable[[F], F]:
        return self.route(rule, "DELETE", responses)

    def append_context(self, **values: Any) -> None:
        self.context.update(values)

    def resolve(self, event: ProxyEvent) -> Response:
        """The answer of the route that matches `event`; raises NoRoute when none does,
        RequestValidationError or UnsupportedContentType for what it cannot take, and
        what the route's function raises."""
        self.current_event = event
        for route in self.routes:
            matched = route.pattern.match(event.path)
            if route.method == event.http_method and matched:
                arguments = route.parameters.arguments_of(event, matched.groupdict())
                return _as_response(route.function(**arguments))
        raise NoRoute


def _as_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    status = 200
    if isinstance(result, tuple):
        result, status = result
    # JSON in ASCII, with escapes, as Powertools wrote it before.
    body = json.dumps(result.model_dump(mode="json", by_alias=True), separators=(",", ":"))
    return Response(status, JSON, body)
