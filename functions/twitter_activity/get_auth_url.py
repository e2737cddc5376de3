"""GET /get-auth-url: the URL where the tenant authorizes Twittnow on its X account
(OAuth 2.0 with PKCE; X sends the approving browser to GET /twitter-callback)."""

from twitter_activity import connections
from twitter_activity.models import AuthUrlResponse
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, public_url
from twittnow.wiring import ports

app = create_app()


@app.get(
    "/get-auth-url",
    responses=answers(200, {503: "X did not answer or throttled us; nothing changed."}),
)
def get_auth_url() -> AuthUrlResponse:
    callback_url = public_url(app.current_event, connections.CALLBACK_PATH)
    auth_url, expires_at = connections.start(ports(), current_caller(app), callback_url)
    return AuthUrlResponse(auth_url=auth_url, expires_at=expires_at)


lambda_handler = lambda_entry(app, Access.LOGIN)
