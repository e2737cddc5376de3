"""GET /twitter-activity?crc_token= (aliases /activity/, /api/activity/): X's challenge
that proves we hold the app's consumer secret, at registration and hourly after."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from models import CrcResponse
from twittnow.api import Access, create_app, lambda_entry
from twittnow.x_app import app_credentials, crc_response

app = create_app()


@app.get("/twitter-activity")
@app.get("/activity")
@app.get("/api/activity")
def answer_crc_challenge(
    crc_token: Annotated[str, Query(min_length=1, max_length=512)],
) -> CrcResponse:
    return CrcResponse(**crc_response(app_credentials().consumer_secret, crc_token))


lambda_handler = lambda_entry(app, Access.PUBLIC)
