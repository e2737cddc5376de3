"""The X app's own secret and what it signs: the webhook's CRC answer and the signature of
X's deliveries. Kept apart from the HTTP client (twittnow.clients.x) so that the webhook
functions check a signature without loading requests and oauthlib.

From X's documentation (xdevplatform/docs, x-api/webhooks/introduction.mdx): the CRC answer
is {"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}, and a
delivery carries x-twitter-webhooks-signature: "sha256=" + base64 of the HMAC-SHA256 of its
raw body with the consumer secret.
"""

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from twittnow.instance import kept

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider


@dataclass(frozen=True)
class AppCredentials:
    """The X app's OAuth 1.0a consumer key and secret (the CRC, the webhook's signatures,
    connections made with OAuth 1.0a) and its OAuth 2.0 client id and secret (connecting
    accounts with OAuth 2.0); empty when not configured."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)


# ---------------------------------------------------------------- webhook security

# The CRC answer and a delivery's signature are the same HMAC with the same key, so an
# endpoint that answered any crc_token would sign any body an attacker chose: a forged
# delivery (a DM "from" a customer, a mention, an oauth.revoke) would then pass the
# webhook's check. X's documentation (xdevplatform/docs, x-api/webhooks/introduction.mdx
# and quickstart.mdx) says how to answer a crc_token but not what one looks like; the
# tokens third parties log are base64 of a UUID (48 URL-safe characters), so 128 leaves
# room. A delivery is a JSON object, which needs `{` and `"`: no token of this shape is
# also a body the webhook accepts.
CRC_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}={0,2}")


class UnsafeCrcToken(ValueError):
    """A crc_token that is not shaped like X's: signing it could sign a forged delivery."""


def is_crc_token_shaped(crc_token: str) -> bool:
    return CRC_TOKEN_SHAPE.fullmatch(crc_token) is not None


def crc_response(consumer_secret: str, crc_token: str) -> dict:
    """The answer to X's challenge-response check: GET <webhook>?crc_token=...

    Refuses (UnsafeCrcToken) a token not shaped like X's, whoever the caller is: the
    signer itself never becomes an oracle for caller-chosen bodies."""
    if not is_crc_token_shaped(crc_token):
        raise UnsafeCrcToken("crc_token is not shaped like X's challenge tokens")
    return {"response_token": _sha256_signature(consumer_secret, crc_token.encode())}


def delivery_signature(consumer_secret: str, raw_body: bytes) -> str:
    """The x-twitter-webhooks-signature X sends with a delivery of `raw_body`."""
    return _sha256_signature(consumer_secret, raw_body)


def signature_matches(consumer_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether `header` (x-twitter-webhooks-signature) signs `raw_body`; constant time."""
    if not header:
        return False
    expected = delivery_signature(consumer_secret, raw_body)
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def _sha256_signature(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


# ---------------------------------------------------------------- the app's credentials


def app_credentials() -> AppCredentials:
    """The X app's credentials: from the environment when X_CONSUMER_KEY and
    X_CONSUMER_SECRET are both set (locally), with X_CLIENT_ID and X_CLIENT_SECRET (the
    OAuth 2.0 client); else the JSON secret {"consumer_key", "consumer_secret",
    "client_id", "client_secret"} that X_APP_SECRET_ARN names (in AWS), read again after
    POWERTOOLS_PARAMETERS_MAX_AGE seconds, so that a rotated secret takes effect with no
    redeploy. A missing client id or secret is empty: only connecting an account needs
    them (see OAuth2Calls)."""
    key, secret = os.environ.get("X_CONSUMER_KEY"), os.environ.get("X_CONSUMER_SECRET")
    if key and secret:
        client_id, client_secret = (
            os.environ.get("X_CLIENT_ID", ""),
            os.environ.get("X_CLIENT_SECRET", ""),
        )
        return AppCredentials(key, secret, client_id, client_secret)
    arn = os.environ.get("X_APP_SECRET_ARN")
    if not arn:
        raise RuntimeError(
            "The X app's credentials are not configured: set X_CONSUMER_KEY and "
            "X_CONSUMER_SECRET, or X_APP_SECRET_ARN to the secret that holds them."
        )
    return _app_credentials_in(arn)


@kept
def _app_secrets() -> "SecretsProvider":
    """Powertools Parameters' cache of the secret, loaded with its first read (about
    4 ms) rather than at a cold start."""
    from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

    return SecretsProvider()


def _app_credentials_in(secret_arn: str) -> AppCredentials:
    try:
        # Untransformed, Powertools answers the SecretString (its type says bytes, a dict
        # or None too); anything but JSON text fails here, as a TypeError or ValueError.
        stored = json.loads(cast(str, _app_secrets().get(secret_arn)))
        credentials = AppCredentials(
            str(stored.get("consumer_key") or ""),
            str(stored.get("consumer_secret") or ""),
            str(stored.get("client_id") or ""),
            str(stored.get("client_secret") or ""),
        )
    except (ValueError, AttributeError, TypeError):
        credentials = AppCredentials("", "")
    if not (credentials.consumer_key and credentials.consumer_secret):
        _app_secrets().clear_cache()  # read again next time: the operator may be filling it in
        raise RuntimeError(
            f"The X app secret {secret_arn} does not hold a consumer key and secret yet: "
            """put {"consumer_key": "...", "consumer_secret": "...", "client_id": "...", """
            """"client_secret": "..."} in it."""
        )
    return credentials
