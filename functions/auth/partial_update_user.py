"""PATCH /auth/users/{user_id}/ (the user or an admin): change some details."""

from auth import logic
from auth.models import PartialUpdateUserRequest, UserView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.patch(
    "/auth/users/<user_id>",
    responses=answers(
        200,
        {
            409: "Another user has this username (ignoring case and character width), an "
            "admin would lose their own admin rights, or another request changed the user "
            "meanwhile (nothing was saved: read it again and retry).",
        },
    ),
)
def partial_update_user(user_id: str, changes: PartialUpdateUserRequest) -> UserView:
    return UserView.of(logic.update_user(ports(), current_caller(app), user_id, changes))


lambda_handler = lambda_entry(app, Access.LOGIN)
