"""GET /twitter-activity?crc_token= (aliases /activity/, /api/activity/): X's challenge
that proves we hold the app's consumer secret, at registration and hourly after."""

from typing import Annotated

from twitter_activity.models import CrcResponse
from twittnow.api import Access, create_app, lambda_entry
from twittnow.errors import InvalidInput
from twittnow.rest import Query
from twittnow.x_app import app_credentials, crc_response, is_crc_token_shaped

app = create_app()


@app.get("/twitter-activity")
@app.get("/activity")
@app.get("/api/activity")
def answer_crc_challenge(
    crc_token: Annotated[str, Query(min_length=1, max_length=512)],
) -> CrcResponse:
    # Refused before the secret is read: twittnow.x_app.CRC_TOKEN_SHAPE says why a
    # token of any other shape would let anyone forge X's deliveries.
    if not is_crc_token_shaped(crc_token):
        raise InvalidInput.for_field(
            "crc_token",
            "Not an X challenge token: X sends up to 128 URL-safe base64 characters "
            "(A-Z, a-z, 0-9, '-', '_', then up to two '='). Nothing was signed.",
        )
    return CrcResponse(**crc_response(app_credentials().consumer_secret, crc_token))


lambda_handler = lambda_entry(app, Access.PUBLIC)
