"""DELETE /auth/users/{user_id}/ (admin): the user and every token of theirs."""

from auth import logic
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.delete(
    "/auth/users/<user_id>",
    responses=answers(
        204,
        {
            409: "An admin deleting their own account, or another request changed the user "
            "meanwhile (nothing was deleted: retry).",
            503: "X did not answer, so the user's X account could not be disconnected; "
            "nothing was deleted.",
        },
    ),
)
def delete_user(user_id: str):
    logic.delete_user(ports(), current_caller(app), user_id)
    return no_content()


lambda_handler = lambda_entry(app, Access.ADMIN)
