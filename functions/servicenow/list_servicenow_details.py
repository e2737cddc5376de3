"""GET /servicenow-details/: every record for an admin, a tenant's own otherwise; paginated."""

from typing import Annotated

from servicenow import servicenow_details
from servicenow.models import ServiceNowDetailsView
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


@app.get("/servicenow-details")
def list_servicenow_details(
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> Page[ServiceNowDetailsView]:
    records = [
        ServiceNowDetailsView.of(details)
        for details in servicenow_details.list_visible(ports(), current_caller(app))
    ]
    return paginate(records, app.current_event, page, page_size)


lambda_handler = lambda_entry(app, Access.LOGIN)
