"""POST /api-key/: create, or recreate, the caller's developer API key; shown once."""

from auth import logic
from auth.models import ApiKeyResponse
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.errors import InvalidInput
from twittnow.wiring import ports

app = create_app()


@app.post("/api-key", responses=answers(201))
def create_api_key() -> tuple[ApiKeyResponse, int]:
    if (app.current_event.body or "").strip() not in ("", "{}"):
        raise InvalidInput.for_field("body", "The request body has to be empty.")
    key, created_at = logic.create_api_key(ports(), current_caller(app))
    return ApiKeyResponse(token=key, created_at=created_at), 201


lambda_handler = lambda_entry(app, Access.LOGIN)
