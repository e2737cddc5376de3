"""GET /console/, its files, /docs (Swagger UI) and /openapi.json: static files, no login
(the pages hold no data; they call the API with the person's token)."""

from typing import Any

from console import files
from twittnow.observability import traced_handler


def handle(event: dict, context: Any) -> dict:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    request_id = (event.get("requestContext") or {}).get("requestId", "")
    answer = files.answer(event["path"], headers.get("if-none-match"), request_id)
    return {"statusCode": answer.status, "headers": answer.headers, "body": answer.body}


lambda_handler = traced_handler(handle)
