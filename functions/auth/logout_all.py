"""POST /auth/logout-all/: revoke every login token of the caller."""

from auth import logic
from twittnow.api import Access, answers, create_app, current_caller, lambda_entry, no_content
from twittnow.wiring import ports

app = create_app()


@app.post("/auth/logout-all", responses=answers(204))
def logout_all():
    logic.logout_all(ports(), current_caller(app))
    return no_content()


lambda_handler = lambda_entry(app, Access.LOGIN)
