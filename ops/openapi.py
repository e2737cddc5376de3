"""python -m ops openapi: docs/openapi.json, the OpenAPI 3 document of the whole API, made
from the code.

template.yaml says which function answers which method and path. Each function's
Powertools resolver describes its parameters, its request and response models and the
answers its route declares (twittnow.api.answers); its lambda_entry says who may call it.
This merges the functions' own documents into one, at the paths the seed writes, and adds
what every route of its kind answers: the error envelope for 400, 401, 403 and 404, and
the authentication it takes.
"""

import functools
import inspect
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from local.runtime import import_from
from local.template import REPO_ROOT, Deployment, Function, load_template
from twittnow.api import ErrorEnvelope
from twittnow.rest import QueryParameter, RestResolver

DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
COMPONENTS = "#/components/schemas/"
ENVELOPE = {"$ref": COMPONENTS + "ErrorEnvelope"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# The seed writes these without a trailing slash (X calls the webhook, a browser the
# callback) and every other path with one. The API answers both forms either way.
WITHOUT_TRAILING_SLASH = {"/get-auth-url", "/twitter-callback", "/twitter-activity"}

# Powertools' 422 and its shapes: this API answers invalid input with a 400 in the envelope.
POWERTOOLS_VALIDATION_SCHEMAS = {
    "HTTPValidationError",
    "ValidationError",
    "ResponseValidationError",
}

TOKEN_AUTH = "TokenAuth"
X_SIGNATURE = "XWebhookSignature"
SECURITY_SCHEMES = {
    TOKEN_AUTH: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "`Token <key>` (`Bearer <key>` works too): a login token from POST /auth/login/, "
            "or, for POST /events/ only, the tenant's developer API key from POST /api-key/."
        ),
    },
    X_SIGNATURE: {
        "type": "apiKey",
        "in": "header",
        "name": "x-twitter-webhooks-signature",
        "description": (
            "`sha256=<base64 of the HMAC-SHA256 of the raw body, keyed with the X app's "
            "consumer secret>`: X signs every delivery so."
        ),
    },
}

INVALID_INPUT = (
    "Invalid input: malformed JSON, a body that is not an object, or missing, unknown or "
    "ill-typed fields or parameters; `details` names them."
)
NO_TOKEN = "No token, a malformed Authorization header, or an unknown, revoked or expired token."
NOT_SIGNED = (
    "Not signed with the app's consumer secret: x-twitter-webhooks-signature is missing or "
    "does not match the body. Nothing is queued."
)
NOT_ADMIN = "Not an admin (a developer API key is refused too)."
NOT_ALLOWED = (
    "Not allowed: a developer API key (it authenticates POST /events/ only), or a tenant "
    "asking for what only an admin may do."
)
UNKNOWN_ID = "An unknown id, or another tenant's (ids reveal nothing)."
PAST_THE_END = "A page past the end."
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}

INFO_DESCRIPTION = """\
Twittnow turns a company's X account into a ServiceNow Customer Service Management channel.

Authenticate with `Authorization: Token <key>`: a login token from `POST /auth/login/`.
Every 4xx and 5xx answers the error envelope (`ErrorEnvelope`); lists answer
`{count, next, previous, results}` with `page` and `page_size` (at most 200). Trailing
slashes are optional. The README says more about each endpoint."""


class OpenApiError(Exception):
    """The code and the template disagree: the document cannot be made."""


# Functions that serve pages for people (the console, this document and its Swagger UI),
# not operations of the API.
PAGES = ("ConsoleFunction",)


def document() -> dict[str, Any]:
    # Only the routes and handlers are read: the endpoint is never reached.
    template = load_template(Deployment(aws_endpoint_url="http://localhost"))
    paths: dict[str, dict] = {}
    # Every route's errors refer to it, also where no function's own document has it.
    schemas: dict[str, dict] = {"ErrorEnvelope": ErrorEnvelope.model_json_schema()}
    for function in template.functions:
        if function.api_routes and function.logical_id not in PAGES:
            _add_function(function, paths, schemas)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Twittnow API",
            "version": pyproject["project"]["version"],
            "description": INFO_DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "the API serving this document"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def render(openapi: dict[str, Any]) -> str:
    """Sorted and indented, so that the same code makes the same bytes."""
    return json.dumps(openapi, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path = DOCUMENT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document()), encoding="utf-8")
    return path


def _add_function(function: Function, paths: dict[str, dict], schemas: dict[str, dict]) -> None:
    module = import_from(function.code_uri, function.handler_module)
    own = json.loads(_powertools_resolver(module.app).get_openapi_json_schema())
    _merge_schemas(schemas, own.get("components", {}).get("schemas", {}), function)
    for index, route in enumerate(function.api_routes):
        operation = own["paths"].get(route.path, {}).get(route.method.lower())
        if operation is None:
            raise OpenApiError(
                f"template.yaml routes {route.method} {route.path} to {function.logical_id}, "
                f"whose resolver ({function.handler_module}) has "
                "no such route."
            )
        name = function.logical_id.removesuffix("Function")
        if index:  # an alias: operation ids are unique
            name += "Via" + "".join(part.title() for part in _words(route.path))
        path = _public_path(route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            operation, name, function, module, schemas
        )


def _powertools_resolver(app: RestResolver) -> APIGatewayRestResolver:
    """The function's routes on Powertools' resolver, whose OpenAPI document the functions'
    own resolver (twittnow.rest) leaves to it: each route's function, its query parameters
    given as Powertools' Query with the same constraints."""
    resolver = APIGatewayRestResolver(enable_validation=True)
    for route in app.routes:
        resolver.route(route.rule, route.method, responses=route.responses)(
            _with_powertools_query(route.function)
        )
    return resolver


def _with_powertools_query(function: Callable[..., Any]) -> Callable[..., Any]:
    hints = get_type_hints(function, include_extras=True)
    signature = inspect.signature(function)
    parameters = []
    for name, parameter in signature.parameters.items():
        hint = hints[name]
        if get_origin(hint) is Annotated and isinstance(get_args(hint)[-1], QueryParameter):
            kind, *_, query = get_args(hint)
            hint = Annotated[kind, Query(**query.constraints)]
        parameters.append(parameter.replace(annotation=hint))

    @functools.wraps(function)
    def described(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("only described, never called")

    described.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.empty)
    )
    return described


def _operation(
    operation: dict, name: str, function: Function, module: ModuleType, schemas: dict
) -> dict:
    # The value, not the enum: each function has its own copy of the layer's Access.
    access = module.lambda_handler.access.value
    operation = {
        **{key: value for key, value in operation.items() if key != "summary"},
        "operationId": name,
        "tags": [function.handler_module.partition(".")[0]],  # its area: auth, events...
        "description": " ".join((module.__doc__ or "").split()),
    }
    if body := _raw_body(function, module, schemas):
        operation["requestBody"] = body
    if access in ("login", "admin", "login_or_api_key"):
        operation["security"] = [{TOKEN_AUTH: []}]
    elif access == "x_webhook":
        operation["security"] = [{X_SIGNATURE: []}]
    responses = operation["responses"] = {
        status: response for status, response in operation["responses"].items() if status != "422"
    }
    for status, when in _answers_of_the_kind(operation, access).items():
        responses.setdefault(status, {"description": when, "content": {JSON: {"schema": ENVELOPE}}})
    for status in ("429", "503"):
        if status in responses:
            responses[status]["headers"] = RETRY_AFTER
    return operation


def _answers_of_the_kind(operation: dict, access: str) -> dict[str, str]:
    """The errors a route answers because of who may call it and what it takes."""
    answers = {"400": INVALID_INPUT}
    if access == "x_webhook":
        answers["401"] = NOT_SIGNED
    elif access != "public":
        answers["401"] = NO_TOKEN
    if access == "admin":
        answers["403"] = NOT_ADMIN
    elif access == "login":
        answers["403"] = NOT_ALLOWED
    parameters = operation.get("parameters", [])
    not_found = [
        *([UNKNOWN_ID] if any(p["in"] == "path" for p in parameters) else []),
        *([PAST_THE_END] if any(p["name"] == "page" for p in parameters) else []),
    ]
    if not_found:
        answers["404"] = " ".join(not_found)
    return answers


def _raw_body(function: Function, module: ModuleType, schemas: dict) -> dict | None:
    """The body of a function that reads its raw body itself, which Powertools cannot see."""
    if function.logical_id == "CreateCaseEventFunction":
        # JSON from the update set's business rule, or the original API's form fields.
        schema = module.CaseEventRequest.model_json_schema(ref_template=COMPONENTS + "{model}")
        own = {module.CaseEventRequest.__name__: schema, **schema.pop("$defs", {})}
        _merge_schemas(schemas, own, function)
        reference = {"$ref": COMPONENTS + module.CaseEventRequest.__name__}
        return {
            "required": True,
            "content": {JSON: {"schema": reference}, FORM: {"schema": reference}},
        }
    if function.logical_id == "WebhookDeliveryFunction":
        # Verified over its raw bytes, then normalized by twittnow.x_events.
        return {
            "required": True,
            "description": (
                'An X Activity API delivery (`{"data": {"event_uuid", "filter", '
                '"event_type", "payload"}}`) or an Account Activity API one '
                '(`{"for_user_id", "direct_message_events" | "tweet_create_events" | '
                "...}`), signed in x-twitter-webhooks-signature. Events of other kinds are "
                "answered and not queued."
            ),
            "content": {JSON: {"schema": {"type": "object"}}},
        }
    return None


def _merge_schemas(schemas: dict, new: dict, function: Function) -> None:
    for name, schema in new.items():
        if name in POWERTOOLS_VALIDATION_SCHEMAS:
            continue
        if schemas.setdefault(name, schema) != schema:
            raise OpenApiError(
                f"{function.logical_id} describes a model {name} unlike another function's "
                "model of that name: rename one of them."
            )


def _public_path(path: str) -> str:
    return path if path in WITHOUT_TRAILING_SLASH else path + "/"


def _words(path: str) -> list[str]:
    return [word for segment in path.split("/") for word in segment.split("-") if word]
