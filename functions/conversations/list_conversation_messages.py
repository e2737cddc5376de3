"""GET /conversations/{conversation_id}/messages/: a thread's messages either way, oldest
first, each with its status (the owner or an admin)."""

from typing import Annotated

from conversations import conversations
from conversations.models import MessageView
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


@app.get("/conversations/<conversation_id>/messages")
def list_conversation_messages(
    conversation_id: str,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[MessageView]:
    conversation, messages = conversations.messages_of(
        ports(), current_caller(app), conversation_id
    )
    return paginate(
        [MessageView.of(message, conversation) for message in messages],
        app.current_event,
        page,
        page_size,
    )


lambda_handler = lambda_entry(app, Access.LOGIN)
