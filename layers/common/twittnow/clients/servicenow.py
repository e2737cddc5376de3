"""ServiceNow REST API client, calling one instance as the tenant's integration user.

Every failure is a ServiceNowError subclass; `retryable` tells the caller whether trying
again later may succeed. The client itself never retries and never sleeps: queues and
callers decide that. The password and the Authorization header never appear in an error.
"""

import base64
from http import HTTPStatus

import requests

CASE_API = "/api/sn_customerservice/case"
DEFAULT_RETRY_AFTER_SECONDS = 60


class ServiceNowError(Exception):
    """ServiceNow refused or failed a request.

    `message` is the instance's own error message when it sent one, `detail` its detail;
    `status_code` is None when no HTTP answer came back.
    """

    retryable = False

    def __init__(self, message: str, *, detail: str = "", status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.status_code = status_code


class ServiceNowBadCredentials(ServiceNowError):
    """401: the user name or password is wrong, or the user is locked out."""


class ServiceNowMissingRole(ServiceNowError):
    """403: an ACL refused the user, e.g. it lacks the sn_customerservice_agent role or
    REST API access."""


class ServiceNowNotFound(ServiceNowError):
    """404: no such record, or no such API on the instance (e.g. CSM is not installed)."""


class ServiceNowThrottled(ServiceNowError):
    """429: the instance's rate limit; try again after `retry_after_seconds`."""

    def __init__(self, message: str, *, retry_after_seconds: int, detail: str = ""):
        super().__init__(message, detail=detail, status_code=429)
        self.retry_after_seconds = retry_after_seconds


class ServiceNowUnavailable(ServiceNowError):
    """5xx, timeout, connection or DNS failure, redirect, or an answer that is not JSON:
    the instance could not serve the request now."""

    retryable = True


_ERRORS_BY_STATUS = {
    401: ServiceNowBadCredentials,
    403: ServiceNowMissingRole,
    404: ServiceNowNotFound,
}


class ServiceNowClient:
    """One instance, called as the tenant's integration user.

    `instance_url` as normalize_instance_url returned it; `timeout` in seconds, for
    connecting and for each read.
    """

    def __init__(self, instance_url: str, username: str, password: str, timeout: float = 10.0):
        self.instance_url = instance_url.rstrip("/")
        self._timeout = (timeout, timeout)
        self._session = requests.Session()
        # As UTF-8 bytes: requests would encode str credentials as Latin-1, and fail with
        # an error holding the password on any other character.
        credentials = (username.encode(), password.encode())
        self._session.auth = credentials
        self._session.headers["Accept"] = "application/json"
        # What an instance or a proxy could echo back into an error: the password and the
        # Authorization header's value.
        self._secrets = [
            secret
            for secret in (password, base64.b64encode(b":".join(credentials)).decode())
            if secret
        ]

    def check_case_api(self) -> None:
        """One cheap read of the CSM Case API: proves the URL, the credentials and the
        integration user's roles, or raises the ServiceNowError saying which is wrong."""
        self._request("GET", CASE_API, params={"sysparm_limit": 1, "sysparm_fields": "sys_id"})

    def _request(self, method: str, path: str, **kwargs) -> dict:
        """ServiceNow's JSON answer (`{"result": ...}`) to `method path`, or the
        ServiceNowError its answer means. kwargs go to requests (params, json...)."""
        response = self._send(method, f"{self.instance_url}{path}", **kwargs)
        if not 200 <= response.status_code < 300:
            raise self._error_for(response)
        if response.status_code == HTTPStatus.NO_CONTENT:
            return {}
        body = _json_object(response)
        if body is None:
            # A hibernating developer instance, or a proxy's page, answers 200 with HTML.
            raise ServiceNowUnavailable(
                f"ServiceNow answered {_status_line(response)} with something other than "
                f"JSON: check that the instance at {self.instance_url} is awake.",
                status_code=response.status_code,
            )
        return body

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            # No redirects: following one would carry the credentials to another URL.
            return self._session.request(
                method, url, timeout=self._timeout, allow_redirects=False, **kwargs
            )
        except requests.Timeout as exc:
            message = (
                f"ServiceNow at {self.instance_url} did not answer within "
                f"{self._timeout[1]:g} seconds."
            )
            detail = str(exc)
        except requests.RequestException as exc:
            message = f"Could not connect to ServiceNow at {self.instance_url}."
            detail = str(exc)
        # Raised outside the except clauses so that the requests exception, whose request
        # holds the Authorization header, is not chained to it as __context__.
        raise ServiceNowUnavailable(self._scrub(message), detail=self._scrub(detail))

    def _error_for(self, response: requests.Response) -> ServiceNowError:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location") or "no location"
            return ServiceNowUnavailable(
                self._scrub(
                    f"ServiceNow answered {_status_line(response)}, a redirect to {location}: "
                    "check the instance URL."
                ),
                status_code=status,
            )
        message, detail = (self._scrub(text) for text in _instance_error(response))
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            return ServiceNowThrottled(
                message, detail=detail, retry_after_seconds=_retry_after_seconds(response)
            )
        if status >= 500:
            return ServiceNowUnavailable(message, detail=detail, status_code=status)
        error_class = _ERRORS_BY_STATUS.get(status, ServiceNowError)
        return error_class(message, detail=detail, status_code=status)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _instance_error(response: requests.Response) -> tuple[str, str]:
    """ServiceNow's own (message, detail) from `{"error": {"message", "detail"}}`, or a
    generic message when the body is something else, such as a proxy's HTML page."""
    error = (_json_object(response) or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"]), str(error.get("detail") or "")
    return f"ServiceNow answered {_status_line(response)}.", ""


def _json_object(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _status_line(response: requests.Response) -> str:
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = response.reason or ""
    return f"{response.status_code} {phrase}".rstrip()


def _retry_after_seconds(response: requests.Response) -> int:
    # ServiceNow sends a number of seconds; an HTTP date or anything else gets the default.
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isascii() and value.isdigit() else DEFAULT_RETRY_AFTER_SECONDS
