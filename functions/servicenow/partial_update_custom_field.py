"""PATCH /custom-fields/{field_id}/ (the owner or an admin): rename it or change its question."""

from servicenow import custom_fields
from servicenow.models import CustomFieldChanges, CustomFieldView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.patch(
    "/custom-fields/<field_id>",
    responses=answers(
        200,
        {
            409: "The tenant has a field of this name (ignoring case and character width), "
            "or another request changed the field meanwhile (nothing was saved: retry)."
        },
    ),
)
def partial_update_custom_field(field_id: str, changes: CustomFieldChanges) -> CustomFieldView:
    return CustomFieldView.of(custom_fields.update(ports(), current_caller(app), field_id, changes))


lambda_handler = lambda_entry(app, Access.LOGIN)
