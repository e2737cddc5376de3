"""GET /twitter-details/{details_id}/ (the owner or an admin)."""

from twitter_activity import twitter_details
from twitter_activity.models import XConnectionView
from twittnow.api import Access, create_app, current_caller, lambda_entry
from twittnow.wiring import ports

app = create_app()


@app.get("/twitter-details/<details_id>")
def get_twitter_details(details_id: str) -> XConnectionView:
    return XConnectionView.of(twitter_details.get(ports(), current_caller(app), details_id))


lambda_handler = lambda_entry(app, Access.LOGIN)
