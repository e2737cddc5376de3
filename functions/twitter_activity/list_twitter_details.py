"""GET /twitter-details/: the connected X accounts, paginated: every one for an admin, its own
for a tenant."""

from typing import Annotated

from twitter_activity import twitter_details
from twitter_activity.models import XConnectionView
from twittnow.api import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Access,
    Page,
    create_app,
    current_caller,
    lambda_entry,
    paginate,
)
from twittnow.rest import Query
from twittnow.wiring import ports

app = create_app()


@app.get("/twitter-details")
def list_twitter_details(
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[XConnectionView]:
    connections = twitter_details.list_for(ports(), current_caller(app))
    accounts = [XConnectionView.of(connection) for connection in connections]
    return paginate(accounts, app.current_event, page, page_size)


lambda_handler = lambda_entry(app, Access.LOGIN)
