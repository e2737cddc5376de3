"""DELETE /twitter-revoke/: unsubscribe the tenant's X account and forget its tokens."""

from twitter_activity import connections
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.delete(
    "/twitter-revoke",
    responses=answers(204, {503: "X did not answer or throttled us; nothing changed."}),
)
def revoke_twitter():
    connections.revoke(ports(), current_caller(app))
    return no_content()


lambda_handler = lambda_entry(app, Access.LOGIN)
