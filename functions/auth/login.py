"""POST /auth/login/: a username and password for a token valid 30 days."""

import logic
from models import LoginRequest, LoginResponse, UserView
from twittnow.api import Access, create_app, lambda_entry

app = create_app()


@app.post("/auth/login")
def login(credentials: LoginRequest) -> LoginResponse:
    result = logic.login(credentials.username, credentials.password.get_secret_value())
    return LoginResponse(token=result.token, expiry=result.expiry, user=UserView.of(result.user))


lambda_handler = lambda_entry(app, Access.PUBLIC)
