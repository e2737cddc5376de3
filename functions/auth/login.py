"""POST /auth/login/: a username and password for a token valid 30 days."""

from auth import logic
from auth.models import LoginRequest, LoginResponse, UserView
from twittnow.api import Access, answers, create_app, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.post(
    "/auth/login",
    responses=answers(
        200,
        {
            401: "Wrong username or password.",
            429: "5 failed logins for this username within 15 minutes: it is locked for "
            "the rest of the window, even with the right password.",
        },
    ),
)
def login(credentials: LoginRequest) -> LoginResponse:
    result = logic.login(ports(), credentials.username, credentials.password.get_secret_value())
    return LoginResponse(token=result.token, expiry=result.expiry, user=UserView.of(result.user))


lambda_handler = lambda_entry(app, Access.PUBLIC)
