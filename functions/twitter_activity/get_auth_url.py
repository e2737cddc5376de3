"""GET /get-auth-url: the URL where the tenant authorizes Twittnow on its X account
(OAuth 2.0 with PKCE; X sends the approving browser to GET /twitter-callback).

With ?return_to=console (the console's Connect X), the callback sends that browser back
to the console instead of answering its page."""

from typing import Annotated, Literal

from twitter_activity import connections
from twitter_activity.models import AuthUrlResponse
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, public_url
from twittnow.rest import Query
from twittnow.wiring import ports

app = create_app()


@app.get(
    "/get-auth-url",
    responses=answers(200, {503: "X did not answer or throttled us; nothing changed."}),
)
def get_auth_url(
    return_to: Annotated[
        Literal["console"] | None,
        Query(
            description="`console`: X's redirect to the callback is sent on (303) to the "
            "console, with what it needs in the URL's fragment, instead of answering a page."
        ),
    ] = None,
) -> AuthUrlResponse:
    callback_url = public_url(app.current_event, connections.CALLBACK_PATH)
    auth_url, expires_at = connections.start(
        ports(), current_caller(app), callback_url, return_to_console=return_to == "console"
    )
    return AuthUrlResponse(auth_url=auth_url, expires_at=expires_at)


lambda_handler = lambda_entry(app, Access.LOGIN)
