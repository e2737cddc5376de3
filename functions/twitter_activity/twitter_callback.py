"""GET /twitter-callback: where X sends the tenant's browser after authorization. Answers
a small page for the person (JSON with ?format=json)."""

import html
from typing import Annotated

import connections
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from models import XConnectionView
from pydantic import BaseModel
from twittnow.api import Access, ErrorEnvelope, create_app, lambda_entry, public_url
from twittnow.errors import ApiError

app = create_app()


def _page_or_json(when: str, model: type[BaseModel]) -> OpenAPIResponse:
    """A page for the person, or `model` as JSON with ?format=json."""
    content = {"text/html": {"schema": {"type": "string"}}, "application/json": {"model": model}}
    return {"description": when, "content": content}


ANSWERS = {
    200: _page_or_json("The X account is connected.", XConnectionView),
    **{
        status: _page_or_json(when, ErrorEnvelope)
        for status, when in {
            400: "No oauth_token or oauth_verifier; an unknown, expired or used oauth_token; "
            "or X refused the verifier. (A malformed query is a 400 in JSON either way.)",
            403: "The authorization was declined on X.",
            404: "The user who started the authorization no longer exists.",
            409: "The tenant holds another X account, or another tenant holds this one.",
            503: "X did not answer or throttled us; nothing changed.",
        }.items()
    },
}


@app.get("/twitter-callback", responses=ANSWERS)
def twitter_callback(
    oauth_token: Annotated[str | None, Query(max_length=200)] = None,
    oauth_verifier: Annotated[str | None, Query(max_length=200)] = None,
    denied: Annotated[str | None, Query(max_length=200)] = None,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,  # noqa: A002 - the query's name
):
    try:
        connection = connections.finish(
            oauth_token,
            oauth_verifier,
            denied,
            webhook_url=public_url(app.current_event, connections.WEBHOOK_PATH),
            source_ip=app.current_event.request_context.identity.source_ip or "",
        )
    except ApiError as error:
        if format == "json":
            raise
        return _page(error.status, "X account not connected", error.message)
    if format == "json":
        return XConnectionView.of(connection)
    return _page(200, "X account connected", f"@{connection.screen_name} now reaches your ServiceNow instance through Twittnow. You can close this window.")


def _page(status: int, title: str, message: str) -> Response:
    body = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:4em auto'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body)


lambda_handler = lambda_entry(app, Access.PUBLIC)
