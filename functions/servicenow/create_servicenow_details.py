"""POST /servicenow-details/: a tenant's instance and integration user (an admin may name `user`)."""

from servicenow import servicenow_details
from servicenow.models import ServiceNowDetailsRequest, ServiceNowDetailsView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.post(
    "/servicenow-details",
    responses=answers(
        201,
        {
            409: "The user has ServiceNow details already (`details` names `user`: "
            '"This field must be unique.").',
        },
    ),
)
def create_servicenow_details(
    request: ServiceNowDetailsRequest,
) -> tuple[ServiceNowDetailsView, int]:
    details = servicenow_details.create(ports(), current_caller(app), request)
    return ServiceNowDetailsView.of(details), 201


lambda_handler = lambda_entry(app, Access.LOGIN)
