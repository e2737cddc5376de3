"""POST /auth/users/ (admin): create a tenant user."""

from auth import logic
from auth.models import CreateUserRequest, UserView
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.post(
    "/auth/users",
    responses=answers(
        201,
        {
            400: "Bad input, or a password that is common or breached, is the username, or "
            "is only spaces or one character repeated (`details.password` says which).",
            409: "A user has this username (ignoring case and character width).",
        },
    ),
)
def create_user(request: CreateUserRequest) -> tuple[UserView, int]:
    return UserView.of(logic.create_user(ports(), current_caller(app), request)), 201


lambda_handler = lambda_entry(app, Access.ADMIN)
