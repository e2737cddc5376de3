"""POST /twitter-callback/confirm/: the tenant that started connecting an X account
completes it with the one-time code the callback's page showed."""

from twitter_activity import connections
from twitter_activity.models import ConfirmXConnectionRequest, XConnectionView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, public_url
from twittnow.wiring import ports

app = create_app()

ANSWERS = answers(
    200,
    {
        404: "No pending connection for this code: wrong, expired, already used, or started "
        "by another tenant. Nothing changed.",
        409: "The tenant holds another X account, or another tenant holds this one.",
        503: "X did not answer or throttled us; nothing changed and the code still works.",
    },
)


@app.post("/twitter-callback/confirm", responses=ANSWERS)
def confirm_twitter_connection(request: ConfirmXConnectionRequest) -> XConnectionView:
    connection = connections.confirm(
        ports(),
        current_caller(app),
        request.confirmation,
        public_url(app.current_event, connections.WEBHOOK_PATH),
    )
    return XConnectionView.of(connection)


lambda_handler = lambda_entry(app, Access.LOGIN)
