"""X's failures as exceptions, and how an HTTP answer of X's becomes one. `retryable` says
whether trying again later may succeed. Secrets are scrubbed from every message."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING

from twittnow.clients.responses import json_object, status_line

if TYPE_CHECKING:
    import requests

DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)
# X's generic problem type: a 403 of this type refuses one request (duplicate content, a
# recipient who does not accept DMs), not the account's connection.
GENERIC_PROBLEM = "about:blank"
# How X words its 403 to a reply under the summoned-reply rule: since 2026-02-23 self-serve
# apps may reply only to a post whose author mentioned or quoted the account
# (x-api/posts/manage-tweets/integrate.mdx, "Reply restrictions"). The docs give no body;
# this is X's detail as clients met it.
REPLY_NOT_ALLOWED = "have not been mentioned or otherwise engaged by the author"


class XError(Exception):
    """X refused or failed a request. `status_code` is None when no HTTP answer came
    back; `detail` is X's problem type or error code, for logs."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail


class XRateLimited(XError):
    """429: try again at `reset_at` (an aware datetime)."""

    retryable = True

    def __init__(self, message: str, *, reset_at: datetime, detail: str = ""):
        super().__init__(message, status_code=429, detail=detail)
        self.reset_at = reset_at


class XUnavailable(XError):
    """5xx, a timeout, a connection failure or an answer X never gives: try again later."""

    retryable = True


class XConnectionBroken(XError):
    """401, or a 403 about authorization, on a call made as a connected account: the
    account revoked the app, was suspended, or its tokens are bad. It must reconnect."""


class XRequestRejected(XError):
    """X refused this request (400, a refusing 403 such as duplicate content, a failed
    OAuth step, a failed CRC check): sending it again as it is will fail again."""


class XReplyNotAllowed(XRequestRejected):
    """X refused a reply under the summoned-reply rule: the author of the post replied to
    did not mention (or quote) the account. A refusal of this one reply, not of the
    account: the account is fine, and sending it again will be refused again."""


class XChatNeedsOAuth2(XError):
    """An X Chat call with OAuth 1.0a credentials: X Chat is for accounts connected with
    OAuth 2.0 (xchat/getting-started.mdx: "an app configured for OAuth 2.0" and a user
    access token with dm.read and dm.write). The account must be connected again."""


class XNotFound(XError):
    """404: no such resource."""


class XMediaRefused(XError):
    """The client refused to download media: a URL off X's media hosts, or a file larger
    than allowed. Trying again will not help."""


def error_for(
    response: "requests.Response", action: str, as_user: bool, secrets: tuple[str, ...]
) -> XError:
    status = response.status_code
    said, problem_type = _x_error(response)
    detail = scrub(problem_type, secrets)
    explanation = scrub(f": {said}" if said else ".", secrets)
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        reset_at = _reset_at(response)
        return XRateLimited(
            f"X rate-limited the request to {action} until {reset_at.isoformat()}.",
            reset_at=reset_at,
            detail=detail,
        )
    message = f"X refused to {action} ({status_line(response)}){explanation}"
    if status == HTTPStatus.FORBIDDEN and REPLY_NOT_ALLOWED in said.lower():
        return XReplyNotAllowed(message, status_code=status, detail=detail)
    if status >= 500 or status < 400:
        return XUnavailable(
            f"X failed to {action} ({status_line(response)}){explanation}",
            status_code=status,
            detail=detail,
        )
    if as_user and (
        status == HTTPStatus.UNAUTHORIZED
        or (status == HTTPStatus.FORBIDDEN and problem_type != GENERIC_PROBLEM)
    ):
        return XConnectionBroken(message, status_code=status, detail=detail)
    if status == HTTPStatus.NOT_FOUND:
        return XNotFound(message, status_code=status, detail=detail)
    return XRequestRejected(message, status_code=status, detail=detail)


def says(error: XError, reason: str) -> bool:
    """Whether X gave `reason` (DuplicateSubscriptionFailed...) for refusing."""
    return reason.lower() in f"{error.detail} {error.message}".lower()


def _x_error(response: "requests.Response") -> tuple[str, str]:
    """X's own (message, type-or-reason) from a problem-details or {"errors": [...]} body."""
    body = json_object(response)
    if body is None:
        return "", ""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message = body.get("detail") or body.get("title") or first.get("message") or ""
    # The most specific label X gave: a reason (WebhookIdInvalid...), a problem type, a code.
    label = body.get("reason") or body.get("type") or first.get("code") or ""
    return str(message)[:500], str(label)


def _reset_at(response: "requests.Response") -> datetime:
    value = response.headers.get("x-rate-limit-reset", "").strip()
    if value.isascii() and value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    return datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
