"""OAuth 1.0a as X checks it on its side: an HMAC-SHA1 signature over the signature base
string (RFC 5849 section 3.4; xdevplatform/docs
fundamentals/authentication/oauth-1-0a/creating-a-signature.mdx)."""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from oauthlib.oauth1.rfc5849 import signature, utils

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class SignedRequest:
    """The OAuth parameters of a request's Authorization header."""

    consumer_key: str
    token: str | None
    nonce: str
    timestamp: int
    signature: str
    parameters: dict[str, str]  # every oauth_* parameter, unescaped


def read_authorization(header: str | None) -> SignedRequest | None:
    """The header's OAuth parameters; None unless it is a complete HMAC-SHA1 OAuth 1.0a one."""
    if not header:
        return None
    try:
        parameters = {
            name: utils.unescape(value) for name, value in utils.parse_authorization_header(header)
        }
    except ValueError:
        return None
    required = ("oauth_consumer_key", "oauth_nonce", "oauth_timestamp", "oauth_signature")
    if (
        any(not parameters.get(name) for name in required)
        or parameters.get("oauth_signature_method") != "HMAC-SHA1"
        or parameters.get("oauth_version", "1.0") != "1.0"
        or not parameters["oauth_timestamp"].isdigit()
    ):
        return None
    return SignedRequest(
        consumer_key=parameters["oauth_consumer_key"],
        token=parameters.get("oauth_token") or None,
        nonce=parameters["oauth_nonce"],
        timestamp=int(parameters["oauth_timestamp"]),
        signature=parameters["oauth_signature"],
        parameters=parameters,
    )


def signature_valid(
    method: str,
    url: str,
    authorization: str,
    body: bytes,
    content_type: str,
    consumer_secret: str,
    token_secret: str,
) -> bool:
    """Whether the request's oauth_signature is the one its URL, query, form body and
    OAuth parameters give with these secrets. `url` is the URL as the client addressed it."""
    signed = read_authorization(authorization)
    if signed is None:
        return False
    # A form body is signed; any other body (JSON) is not.
    form = body.decode("utf-8", "replace") if content_type.split(";")[0].strip() == FORM else None
    parameters = signature.collect_parameters(
        uri_query=urlsplit(url).query, body=form, headers={"Authorization": authorization}
    )
    base_string = signature.signature_base_string(
        method.upper(), signature.base_string_uri(url), signature.normalize_parameters(parameters)
    )
    key = f"{utils.escape(consumer_secret)}&{utils.escape(token_secret)}"
    expected = base64.b64encode(hmac.new(key.encode(), base_string.encode(), hashlib.sha1).digest())
    return hmac.compare_digest(expected, signed.signature.encode())
