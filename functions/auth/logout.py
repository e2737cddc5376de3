"""POST /auth/logout/: revoke the token that makes the call."""

from auth import logic
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.post("/auth/logout", responses=answers(204))
def logout():
    logic.logout(ports(), current_caller(app))
    return no_content()


lambda_handler = lambda_entry(app, Access.LOGIN)
