"""Reading HTTP answers the same way in every client."""

from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests


def json_object(response: "requests.Response") -> dict | None:
    """The body as a JSON object, or None when it is anything else (an HTML error page)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def status_line(response: "requests.Response") -> str:
    """ "429 Too Many Requests": the status with its standard reason phrase."""
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = response.reason or ""
    return f"{response.status_code} {phrase}".rstrip()
