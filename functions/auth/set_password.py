"""PATCH /auth/users/{user_id}/set-password/ (the user or an admin)."""

from auth import logic
from auth.models import SetPasswordRequest
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.patch(
    "/auth/users/<user_id>/set-password",
    responses=answers(
        204,
        {
            400: "Bad input, or a password that is common or breached, is the username, or "
            "is only spaces or one character repeated (`details.password` says which).",
            409: "Another request changed the user meanwhile; nothing was saved: retry.",
        },
    ),
)
def set_password(user_id: str, request: SetPasswordRequest):
    logic.set_password(ports(), current_caller(app), user_id, request.password.get_secret_value())
    return no_content()


lambda_handler = lambda_entry(app, Access.LOGIN)
