"""GET /auth/users/{user_id}/ (the user or an admin)."""

from auth import logic
from auth.models import UserView
from twittnow.api import Access, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.get("/auth/users/<user_id>")
def get_user(user_id: str) -> UserView:
    return UserView.of(logic.get_user(ports(), current_caller(app), user_id))


lambda_handler = lambda_entry(app, Access.LOGIN)
