"""PUT /servicenow-details/{details_id}/ (the owner or an admin): replace every detail."""

from servicenow import servicenow_details
from servicenow.models import (
    ServiceNowDetailsChanges,
    ServiceNowDetailsRequest,
    ServiceNowDetailsView,
)
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.put(
    "/servicenow-details/<details_id>",
    responses=answers(
        200,
        {
            409: "Another request changed the details meanwhile: nothing was saved; read them again and retry."
        },
    ),
)
def update_servicenow_details(
    details_id: str, details: ServiceNowDetailsRequest
) -> ServiceNowDetailsView:
    changes = ServiceNowDetailsChanges(**details.model_dump(exclude_none=True))
    return ServiceNowDetailsView.of(
        servicenow_details.update(ports(), current_caller(app), details_id, changes)
    )


lambda_handler = lambda_entry(app, Access.LOGIN)
