"""GET /twitter-callback: where X sends the browser that approved Twittnow on X. The
account is not connected yet: the page names the company it is about to be connected to,
and shows the one-time code with which that company confirms (JSON with ?format=json).

The page also links back to the console with the code in the URL's fragment (which no
server and no referrer gets): the tenant that connects from the console, in the same tab,
confirms there with one click, with its session. The console shows the same warning and
confirms only when asked, so the link gives a phishing company nothing either.

An authorization started from the console (GET /get-auth-url?return_to=console) gets no
page: the browser is sent on (303) to the console with what the link carries in the
fragment, and a refusal with its reason (the envelope's `code`: the console words it, so
that no link can make the console show a text of its choosing). ?format=json still answers
JSON. Refusals of an unknown, expired or spent state keep the page: nothing says where the
authorization was started."""

import html
from typing import Annotated
from urllib.parse import urlencode

from pydantic import BaseModel

from twitter_activity import connections
from twitter_activity.models import PendingXConnectionView
from twittnow.api import (
    Access,
    ErrorEnvelope,
    OpenAPIResponse,
    create_app,
    lambda_entry,
    public_url,
)
from twittnow.errors import ApiError
from twittnow.rest import Query, Response
from twittnow.wiring import ports

app = create_app()
# The answer shows a one-time code: no cache keeps it, no referrer carries the URL on.
NOT_KEPT = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
CONSOLE_PATH = "/console/"


def _page_or_json(when: str, model: type[BaseModel]) -> OpenAPIResponse:
    """A page for the person, or `model` as JSON with ?format=json."""
    return {
        "description": when,
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/json": {"model": model},
        },
    }


ANSWERS: dict[int, OpenAPIResponse] = {
    303: {
        "description": "An authorization started from the console (GET "
        "/get-auth-url?return_to=console), unless ?format=json: the browser is sent on to "
        "the console, the result in the Location's fragment (`#/connect-x?confirmation=&"
        "screen_name=&company=`, or `#/connect-x?error=<the error code>`).",
        "headers": {
            "Location": {
                "description": "<PUBLIC_BASE_URL>/console/#/connect-x?...",
                "schema": {"type": "string"},
            }
        },
        "content": {},
    },
    200: _page_or_json(
        "X approved: the account waits 15 minutes for the tenant that started to confirm it "
        "with the code shown (POST /twitter-callback/confirm/). Nothing is connected yet.",
        PendingXConnectionView,
    ),
    **{
        status: _page_or_json(when, ErrorEnvelope)
        for status, when in {
            400: "No code and state (OAuth 2.0; or, for an authorization started with OAuth "
            "1.0a, no oauth_token and oauth_verifier); an unknown, expired or used state or "
            "oauth_token; an error from X other than access_denied; or X refused the code or "
            "verifier (the authorization stays usable for a few more tries). (A malformed "
            "query is a 400 in JSON either way.)",
            403: "The authorization was declined on X (error=access_denied, or denied).",
            404: "The user who started the authorization no longer exists.",
            409: "The tenant holds another X account, or another tenant holds this one.",
            503: "X did not answer or throttled us; nothing changed.",
        }.items()
    },
}


@app.get("/twitter-callback", responses=ANSWERS)
def twitter_callback(
    code: Annotated[str | None, Query(max_length=1000)] = None,
    state: Annotated[str | None, Query(max_length=500)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    oauth_token: Annotated[str | None, Query(max_length=200)] = None,
    oauth_verifier: Annotated[str | None, Query(max_length=200)] = None,
    denied: Annotated[str | None, Query(max_length=200)] = None,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
):
    # OAuth 2.0 (what GET /get-auth-url starts) unless the redirect is OAuth 1.0a's, of an
    # authorization started before. X's error_description (X's own text) is not shown.
    oauth1 = (oauth_token or oauth_verifier or denied) and not (code or state or error)
    # Read first: finishing spends the authorization. (OAuth 1.0a's came from no console.)
    to_console = (
        format != "json" and not oauth1 and connections.started_from_console(ports(), state)
    )
    console_url = public_url(app.current_event, CONSOLE_PATH)
    try:
        if oauth1:
            approval = connections.finish(ports(), oauth_token, oauth_verifier, denied)
        else:
            approval = connections.finish_oauth2(ports(), code, state, error)
    except ApiError as error:
        if format == "json":
            raise
        if to_console:
            return _to_console(console_url, {"error": error.code})
        return _error_page(error)
    pending = approval.pending
    confirm_url = public_url(app.current_event, connections.CONFIRM_PATH)
    view = PendingXConnectionView(
        x_user_id=pending.x_user_id,
        screen_name=pending.screen_name,
        company_name=approval.company_name,
        message=(
            f"@{pending.screen_name} will be connected to {approval.company_name} in Twittnow. "
            "If you did not start this, close this page: nothing is connected."
        ),
        confirmation=approval.confirmation,
        confirm_url=confirm_url,
        confirm_command=(
            f"curl -X POST {confirm_url} --header 'Authorization: Token <your token>' "
            "--header 'Content-Type: application/json' "
            f"""--data '{{"confirmation": "{approval.confirmation}"}}'"""
        ),
        expires_at=pending.expires_at,
    )
    if format == "json":
        return Response(200, "application/json", view.model_dump_json(), headers=NOT_KEPT)
    if to_console:
        return _to_console(console_url, _console_pending(view))
    return _confirmation_page(view, console_url)


def _console_pending(view: PendingXConnectionView) -> dict[str, str]:
    """What the console's Connect X page needs: the code, and whom it connects to whom."""
    return {
        "confirmation": view.confirmation,
        "screen_name": view.screen_name,
        "company": view.company_name,
    }


def _console_link(console_url: str, fragment: dict[str, str]) -> str:
    # In the fragment, never the query: no server, log or referrer gets the code.
    return f"{console_url}#/connect-x?{urlencode(fragment)}"


def _to_console(console_url: str, fragment: dict[str, str]) -> Response:
    # 303: the browser GETs the console whatever brought it here.
    return Response(
        status_code=303,
        content_type="text/plain; charset=utf-8",
        body="",
        headers={**NOT_KEPT, "Location": _console_link(console_url, fragment)},
    )


def _confirmation_page(view: PendingXConnectionView, console_url: str) -> Response:
    company = html.escape(view.company_name)
    return _page(
        200,
        "Confirm the X connection",
        f"<p><strong>{html.escape(view.message)}</strong></p>"
        f"<p><a href='{html.escape(_console_link(console_url, _console_pending(view)))}'>"
        f"Finish in the Twittnow console</a> (as {company}'s user).</p>"
        f"<p>To finish, {company} confirms within 15 minutes (until {view.expires_at:%H:%M} UTC) "
        "with this one-time code:</p>"
        f"<p><code style='font-size:1.2em'>{html.escape(view.confirmation)}</code></p>"
        "<p>With the API, as that company's user (your login token in place of "
        "<code>&lt;your token&gt;</code>):</p>"
        f"<pre style='white-space:pre-wrap'>{html.escape(view.confirm_command)}</pre>",
    )


def _error_page(error: ApiError) -> Response:
    return _page(error.status, "X account not connected", f"<p>{html.escape(error.message)}</p>")


def _page(status: int, title: str, body_html: str) -> Response:
    body = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<meta name=referrer content=no-referrer>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:4em auto'>"
        f"<h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers=NOT_KEPT
    )


lambda_handler = lambda_entry(app, Access.PUBLIC)
