"""DELETE /auth/users/{user_id}/ (admin): the user and every token of theirs."""

import logic
from twittnow.api import Access, create_app, current_caller, lambda_entry, no_content

app = create_app()


@app.delete("/auth/users/<user_id>")
def delete_user(user_id: str):
    logic.delete_user(current_caller(app), user_id)
    return no_content()


lambda_handler = lambda_entry(app, Access.ADMIN)
