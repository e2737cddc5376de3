"""GET /audit/ (admin): recorded changes, newest first, filtered and paginated."""

from typing import Annotated

from auth import logic
from auth.models import AuditEntryView
from twittnow.api import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Access,
    Page,
    create_app,
    lambda_entry,
    paginate,
)
from twittnow.periods import period
from twittnow.rest import Query
from twittnow.wiring import ports

app = create_app()


@app.get("/audit")
def list_audit_log(
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[AuditEntryView]:
    start, end = period(start_date, end_date)
    entries = [
        AuditEntryView.of(entry)
        for entry in logic.audit_entries(ports(), user_id, action, start, end)
    ]
    return paginate(entries, app.current_event, page, page_size)


lambda_handler = lambda_entry(app, Access.ADMIN)
