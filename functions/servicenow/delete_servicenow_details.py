"""DELETE /servicenow-details/{details_id}/ (the owner or an admin), and its secret."""

from servicenow import servicenow_details
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.delete("/servicenow-details/<details_id>", responses=answers(204))
def delete_servicenow_details(details_id: str):
    servicenow_details.delete(ports(), current_caller(app), details_id)
    return no_content()


lambda_handler = lambda_entry(app, Access.LOGIN)
