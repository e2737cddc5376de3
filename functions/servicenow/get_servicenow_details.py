"""GET /servicenow-details/{details_id}/ (the owner or an admin)."""

from servicenow import servicenow_details
from servicenow.models import ServiceNowDetailsView
from twittnow.api import Access, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.get("/servicenow-details/<details_id>")
def get_servicenow_details(details_id: str) -> ServiceNowDetailsView:
    return ServiceNowDetailsView.of(
        servicenow_details.get(ports(), current_caller(app), details_id)
    )


lambda_handler = lambda_entry(app, Access.LOGIN)
