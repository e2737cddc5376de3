"""PATCH /servicenow-details/{details_id}/ (the owner or an admin): change some details."""

from servicenow import servicenow_details
from servicenow.models import ServiceNowDetailsChanges, ServiceNowDetailsView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.patch(
    "/servicenow-details/<details_id>",
    responses=answers(
        200,
        {
            409: "Another request changed the details meanwhile: nothing was saved; read them again and retry."
        },
    ),
)
def partial_update_servicenow_details(
    details_id: str, changes: ServiceNowDetailsChanges
) -> ServiceNowDetailsView:
    return ServiceNowDetailsView.of(
        servicenow_details.update(ports(), current_caller(app), details_id, changes)
    )


lambda_handler = lambda_entry(app, Access.LOGIN)
