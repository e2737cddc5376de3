"""What every HTTP function shares: the resolver, the one error envelope, the Lambda
entry point with its correlation id, and DRF-style pagination.

The error envelope, for every 4xx and 5xx:
    {"error": "<what went wrong and what to do>", "code": "<MACHINE_CODE>",
     "details": {"<field>": ["<message>", ...]}, "request_id": "<API Gateway request id>"}
"""

import base64
from collections.abc import Callable, Sequence
from enum import Enum
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field

from twittnow.auth import Caller, authenticate, require_admin
from twittnow.errors import (
    ApiError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    Throttled,
    UpstreamUnavailable,
)
from twittnow.observability import annotate_tenant, logger, traced_handler
from twittnow.rest import (
    NoRoute,
    ProxyEvent,
    RequestValidationError,
    Response,
    RestResolver,
    UnsupportedContentType,
)
from twittnow.settings import get_settings
from twittnow.wiring import ports
from twittnow.x_app import app_credentials, signature_matches

T = TypeVar("T")
# A route's answer for the OpenAPI document, in the shape Powertools reads (ops/openapi.py).
OpenAPIResponse = dict[str, Any]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class Body(BaseModel):
    """A request or response body."""

    # Built on first use, not at import: a function's module declares the bodies of its
    # folder's every endpoint and uses one or two (bench/cold_start.py).
    model_config = ConfigDict(defer_build=True)


class Page(Body, Generic[T]):
    count: int = Field(description="How many results there are on every page together.")
    next: str | None = Field(description="The next page's URL; null on the last page.")
    previous: str | None = Field(description="The previous page's URL; null on the first.")
    results: list[T]


class ErrorEnvelope(Body):
    """The body of every 4xx and 5xx answer."""

    error: str = Field(description="What went wrong and what to do.")
    code: str = Field(description="VALIDATION_ERROR, NOT_AUTHENTICATED, PERMISSION_DENIED, ...")
    details: dict[str, list[str]] = Field(
        description="Messages by field; `body` for the body as a whole."
    )
    request_id: str = Field(description="The id to quote in a support request.")


def create_app() -> RestResolver:
    return RestResolver()


class Access(Enum):
    """Who may call a function. Checked before the request body is validated, so an
    anonymous caller learns nothing about the body the endpoint expects."""

    PUBLIC = "public"
    LOGIN = "login"  # any logged-in user
    ADMIN = "admin"
    LOGIN_OR_API_KEY = "login_or_api_key"  # also the tenant's developer API key
    X_WEBHOOK = "x_webhook"  # X's deliveries, signed with the app's consumer secret


def lambda_entry(app: RestResolver, access: Access) -> Callable[[dict, Any], dict]:
    @traced_handler
    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
    )
    def lambda_handler(event: dict, context: Any) -> dict:
        proxy_event = ProxyEvent(event)
        app.context.clear()
        try:
            if access is Access.X_WEBHOOK:
                _verify_x_signature(proxy_event)
            elif access is not Access.PUBLIC:
                caller = _authorize(proxy_event, access)
                app.append_context(caller=caller)
                logger.append_keys(user_id=caller.user.id)
                annotate_tenant(caller.user.id)
            _refuse_multipart(proxy_event)
            _refuse_json_that_is_not_an_object(proxy_event)
            response = app.resolve(proxy_event)
        except Exception as error:
            response = _error_answer_for(error, proxy_event)
        return _as_proxy_result(response)

    # The OpenAPI document (ops/openapi.py) reads who may call from here: an attribute of
    # the function, which mypy types as a plain callable.
    lambda_handler.access = access  # type: ignore[attr-defined]
    return lambda_handler


def _error_answer_for(error: Exception, event: ProxyEvent) -> Response:
    request_id = event.request_context.request_id
    match error:
        case ApiError():
            return _error_response(error, request_id)
        case RequestValidationError():
            message, details = describe_validation_errors(error.errors)
            return envelope(400, "VALIDATION_ERROR", message, request_id, details)
        case UnsupportedContentType():
            return _error_response(_not_json(), request_id)
        case NoRoute():
            message = f"No endpoint answers {event.http_method} {event.path}."
            return envelope(404, "NOT_FOUND", message, request_id)
    logger.exception("Unhandled error")
    message = "The service could not answer; retry shortly."
    return envelope(500, "INTERNAL_ERROR", message, request_id)


def current_caller(app: RestResolver) -> Caller:
    return app.context["caller"]


def _authorize(event: ProxyEvent, access: Access) -> Caller:
    caller = authenticate(
        ports(),
        event.headers,
        allow_api_key=access is Access.LOGIN_OR_API_KEY,
        source_ip=event.request_context.source_ip,
    )
    if access is Access.ADMIN:
        require_admin(caller)
    return caller


def _verify_x_signature(event: ProxyEvent) -> None:
    """Checks x-twitter-webhooks-signature over the raw body, in constant time."""
    body = event.body or ""
    raw_body = base64.b64decode(body) if event.is_base64_encoded else body.encode()
    header = event.headers.get("x-twitter-webhooks-signature")
    if not signature_matches(app_credentials().consumer_secret, raw_body, header):
        raise NotAuthenticated(
            "The delivery is not signed with this app's consumer secret "
            "(x-twitter-webhooks-signature is missing or does not match the body)."
        )


def _refuse_multipart(event: ProxyEvent) -> None:
    """No endpoint takes multipart bodies: refused by every endpoint, those that read no
    body too."""
    if (event.headers.get("content-type") or "").strip().lower().startswith("multipart/"):
        raise _not_json()


def _not_json() -> InvalidInput:
    return InvalidInput.for_field(
        "body", "Send the body as JSON, with Content-Type: application/json."
    )


def _refuse_json_that_is_not_an_object(event: ProxyEvent) -> None:
    """Anything but a JSON object is refused here, by every endpoint and in one sentence,
    as are bytes that are not UTF-8. Bodies that are not JSON at all are left to the
    resolver, which explains them."""
    try:
        body = event.json_body  # read once: the resolver takes it from here
    except UnicodeDecodeError:  # API Gateway passes bytes that are not UTF-8 as base64
        message = "The request body is not UTF-8 text, so not JSON."
        raise InvalidInput.for_field("body", message) from None
    except ValueError:
        return
    except RecursionError:
        # Nested too deeply for Python's parser: no endpoint takes such a body.
        raise InvalidInput.for_field("body", "The request body is nested too deeply.") from None
    if body is not None and not isinstance(body, dict):
        raise InvalidInput.for_field("body", "The request body must be a JSON object.")


def _error_response(error: ApiError, request_id: str) -> Response:
    headers = {}
    if isinstance(error, (Throttled, UpstreamUnavailable)):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = "Token"
    return envelope(error.status, error.code, error.message, request_id, error.details, headers)


def _as_proxy_result(response: Response) -> dict:
    """`response` in Lambda proxy integration form."""
    headers = {
        name: value if isinstance(value, list) else [value]
        for name, value in (response.headers or {}).items()
    }
    if response.content_type:
        headers.setdefault("Content-Type", [response.content_type])
    return {
        "statusCode": response.status_code,
        "multiValueHeaders": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }


def envelope(
    status: int,
    code: str,
    message: str,
    request_id: str,
    details: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorEnvelope(error=message, code=code, details=details or {}, request_id=request_id)
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(),
        headers=headers,
    )


def no_content() -> Response:
    return Response(status_code=HTTPStatus.NO_CONTENT)


def answers(status: int = 200, errors: dict[int, str] | None = None) -> dict[int, OpenAPIResponse]:
    """A route's answers, for its OpenAPI document: the success `status` (its body is the
    route's return type; 204 has none) and the errors its domain logic answers, by status,
    each with when. The document adds those every route of its kind answers: 400; 401 and
    403 by its Access; 404 for an id in the path or a page (see ops/openapi.py)."""
    success: OpenAPIResponse = {"description": HTTPStatus(status).phrase}
    if status == HTTPStatus.NO_CONTENT:
        success["content"] = {}
    return {status: success, **{code: _error_answer(when) for code, when in (errors or {}).items()}}


def _error_answer(when: str) -> OpenAPIResponse:
    return {"description": when, "content": {"application/json": {"model": ErrorEnvelope}}}


def describe_validation_errors(errors: Sequence[dict]) -> tuple[str, dict[str, list[str]]]:
    """Pydantic's errors -> one sentence a person can act on, plus messages by field."""
    details: dict[str, list[str]] = {}
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        source, path = (location[0], location[1:]) if location else ("body", [])
        if error["type"] == "json_invalid":
            field, message = (
                "body",
                f"The request body is not valid JSON ({error['ctx']['error']}).",
            )
        elif source == "body" and not path:
            field, message = "body", "The request body must be a JSON object."
        else:
            field, message = ".".join(path) or source, _field_message(error)
        details.setdefault(field, []).append(message)
    summary = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in details.items())
    return f"Invalid input. {summary}", details


def _field_message(error: dict) -> str:
    context = error.get("ctx") or {}
    match error["type"]:
        case "missing":
            return "This field is required."
        case "extra_forbidden":
            return "Unknown field; remove it."
        case "string_too_short" | "too_short" if context.get("min_length") == 1:
            return "This field may not be blank."
        case "string_too_short" | "too_short":
            return f"Must be at least {context['min_length']} characters long."
        case "string_too_long" | "too_long":
            return f"Must be at most {context['max_length']} characters long."
    message = error["msg"].removeprefix("Value error, ")
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def paginate(items: Sequence[T], event: ProxyEvent, page: int, page_size: int) -> Page[T]:
    count = len(items)
    last_page = max(1, -(-count // page_size))
    if page > last_page:
        raise NotFound(f"Invalid page {page}: there are {last_page} pages of {page_size}.")
    start = (page - 1) * page_size
    return Page[T](
        count=count,
        next=_page_url(event, page + 1) if page < last_page else None,
        previous=_page_url(event, page - 1) if page > 1 else None,
        results=list(items[start : start + page_size]),
    )


def public_url(event: ProxyEvent, path: str) -> str:
    """The URL of `path` on this API as clients reach it: PUBLIC_BASE_URL when set, else
    the host and base path (the stage, on API Gateway's own domain) the request came in on."""
    base_url = get_settings().public_base_url.rstrip("/")
    if not base_url:
        base_path = event.request_context.path.removesuffix(event.path)
        base_url = f"https://{event.request_context.domain_name}{base_path}"
    return base_url + path


def _page_url(event: ProxyEvent, page: int) -> str:
    query = {**(event.query_string_parameters or {}), "page": str(page)}
    return f"{public_url(event, event.path)}?{urlencode(query)}"
