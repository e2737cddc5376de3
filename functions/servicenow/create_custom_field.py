"""POST /custom-fields/: a question the bot asks before opening a case."""

import custom_fields
from models import CustomFieldRequest, CustomFieldView
from twittnow.api import Access, create_app, current_caller, lambda_entry

app = create_app()


@app.post("/custom-fields")
def create_custom_field(request: CustomFieldRequest) -> tuple[CustomFieldView, int]:
    return CustomFieldView.of(custom_fields.create(current_caller(app), request)), 201


lambda_handler = lambda_entry(app, Access.LOGIN)
