"""POST /events/ (alias /api/events/): a ServiceNow case event, sent by the update set's
business rule with the tenant's developer API key, queued for delivery on X."""

import json
from urllib.parse import parse_qsl

from pydantic import ValidationError

from events import case_events
from events.models import CaseEventAccepted, CaseEventRequest
from twittnow.api import (
    Access,
    answers,
    create_app,
    current_caller,
    describe_validation_errors,
    lambda_entry,
)
from twittnow.errors import InvalidInput
from twittnow.wiring import ports

app = create_app()
FORM = "application/x-www-form-urlencoded"
ANSWERS = answers(
    202,
    {
        404: "No conversation of this tenant has this case, or this customer (target).",
        409: "The tenant has no connected X account, so no reply can reach the customer.",
        503: "ServiceNow did not answer about a case not linked to its conversation yet.",
    },
)


@app.post("/events", responses=ANSWERS)
@app.post("/api/events", responses=ANSWERS)
def create_case_event() -> tuple[CaseEventAccepted, int]:
    accepted = case_events.accept(ports(), current_caller(app), _request())
    return accepted, 202


def _request() -> CaseEventRequest:
    """The body, as JSON or as the form fields the original API accepted."""
    event = app.current_event
    body = event.decoded_body or ""
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    try:
        fields = dict(parse_qsl(body)) if content_type == FORM else json.loads(body or "{}")
    except (ValueError, RecursionError) as error:
        raise InvalidInput.for_field(
            "body", f"The request body is not valid JSON ({error})."
        ) from None
    if not isinstance(fields, dict):
        raise InvalidInput.for_field("body", "The request body must be a JSON object.")
    try:
        return CaseEventRequest.model_validate(fields)
    except ValidationError as error:
        located = [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        message, details = describe_validation_errors(located)
        raise InvalidInput(message, details) from None


lambda_handler = lambda_entry(app, Access.LOGIN_OR_API_KEY)
