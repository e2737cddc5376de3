"""GET /custom-fields/: the caller's fields in question order (an admin may pass `user`)."""

from typing import Annotated

from servicenow import custom_fields
from servicenow.models import CustomFieldView
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


@app.get("/custom-fields")
def list_custom_fields(
    user: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[CustomFieldView]:
    fields = [
        CustomFieldView.of(field)
        for field in custom_fields.list_of(ports(), current_caller(app), user)
    ]
    return paginate(fields, app.current_event, page, page_size)


lambda_handler = lambda_entry(app, Access.LOGIN)
