"""GET /conversations/: the caller's customer threads with their cases, the latest first
(an admin may pass `user`, or nothing for every tenant's); `failed=true` keeps those with
a failed message."""

from typing import Annotated

from conversations import conversations
from conversations.models import ConversationView
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


@app.get("/conversations")
def list_conversations(
    user: Annotated[str | None, Query(max_length=64)] = None,
    failed: Annotated[
        bool,
        Query(
            description="true: only the conversations with a failed message "
            "(failed_messages above 0); false or absent: all."
        ),
    ] = False,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[ConversationView]:
    found = conversations.list_of(ports(), current_caller(app), user, only_failed=failed)
    views = [ConversationView.of(conversation) for conversation in found]
    return paginate(views, app.current_event, page, page_size)


lambda_handler = lambda_entry(app, Access.LOGIN)
