"""DELETE /custom-fields/{field_id}/ (the owner or an admin)."""

from servicenow import custom_fields
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.delete(
    "/custom-fields/<field_id>",
    responses=answers(
        204, {409: "Another request changed the field meanwhile; nothing was deleted: retry."}
    ),
)
def delete_custom_field(field_id: str):
    custom_fields.delete(ports(), current_caller(app), field_id)
    return no_content()


lambda_handler = lambda_entry(app, Access.LOGIN)
