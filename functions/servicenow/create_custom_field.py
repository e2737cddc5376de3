"""POST /custom-fields/: a question the bot asks before opening a case."""

from servicenow import custom_fields
from servicenow.models import CustomFieldRequest, CustomFieldView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.post(
    "/custom-fields",
    responses=answers(
        201, {409: "The tenant has a field of this name (ignoring case and character width)."}
    ),
)
def create_custom_field(request: CustomFieldRequest) -> tuple[CustomFieldView, int]:
    return CustomFieldView.of(custom_fields.create(ports(), current_caller(app), request)), 201


lambda_handler = lambda_entry(app, Access.LOGIN)
