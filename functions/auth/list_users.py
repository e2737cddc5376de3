"""GET /auth/users/ (admin): users oldest first, paginated, `search` by username or name."""

from typing import Annotated

from auth import logic
from auth.models import UserView
from twittnow.api import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Access,
    Page,
    create_app,
    lambda_entry,
    paginate,
)
from twittnow.rest import Query
from twittnow.wiring import ports

app = create_app()


@app.get("/auth/users")
def list_users(
    search: Annotated[str | None, Query(max_length=150)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[UserView]:
    users = [UserView.of(user) for user in logic.list_users(ports(), search)]
    return paginate(users, app.current_event, page, page_size)


lambda_handler = lambda_entry(app, Access.ADMIN)
