"""ServiceNow REST API client, calling one instance as the tenant's integration user.

Every failure is a ServiceNowError subclass; `retryable` tells the caller whether trying
again later may succeed. The client itself never retries and never sleeps: queues and
callers decide that. The password and the Authorization header never appear in an error.

The calls follow ServiceNow's documentation (repository ServiceNow/ServiceNowDocs):

    markdown/api-reference/rest-apis/case-api.md
        POST /api/sn_customerservice/case answers only {"sys_id", "number"}; its body takes
        any case field (short_description, description, consumer, contact_type "social",
        correlation_id, comments, work_notes, custom u_ fields...). GET .../case/{id} takes a
        sys_id or a number; GET .../case filters with sysparm_query. PUT .../case/{id} with
        "comments" or "work_notes" appends a journal entry; GET .../case/{id}/activities
        reads the activity stream back (entries, newest first, "element" naming the journal
        field). Field values come back as strings: "state": "6", "active": "true".
        States: 1 New, 10 Open, 18 Awaiting Info, 6 Resolved, 3 Closed.
    markdown/customer-service-management/r_CustomerServiceCaseStates.md
        Resolved waits for the customer to accept; a closed case cannot be updated.
    markdown/api-reference/rest-apis/consumer-api.md
        POST /api/now/consumer answers {"result": "<sys_id>"}; social_channel, social_handle
        and social_handle_url are not consumer fields: they create the consumer's social
        profile record (table sn_app_cs_social_social_profile: profile, profile_url,
        channel.name, consumer). GET /api/now/consumer/{id} reads a consumer.
    markdown/api-reference/rest-apis/case-api.md
        lists the social profile's fields, among them social_id: "Unique social media
        account provider identifier for the associated social media account" (string, up
        to 100): where a consumer's X user id lives. A handle (profile) is display data: X
        gives a released handle to the next user who asks for it. A case references its
        social profile in sn_app_cs_social_social_profile. The Case API also makes social
        profiles from social_channel / social_handle, by handle: this client never sends
        those on a case.
    markdown/api-reference/rest-apis/c_TableAPI.md
        GET /api/now/table/{table}?sysparm_query=...&sysparm_fields=... (dot-walked fields
        such as consumer.first_name): how a consumer is found by its X user id; PATCH
        /api/now/table/{table}/{sys_id} sets fields of one record and answers it.
    markdown/api-reference/rest-apis/c_AttachmentAPI.md
        POST /api/now/attachment/file?table_name=&table_sys_id=&file_name= with the raw
        bytes and their Content-Type; answers the attachment record, sys_id included.
"""

import base64
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple

from twittnow.clients.responses import json_object, status_line
from twittnow.observability import outgoing_call

if TYPE_CHECKING:
    import requests

CASE_API = "/api/sn_customerservice/case"
CONSUMER_API = "/api/now/consumer"
ATTACHMENT_API = "/api/now/attachment/file"
SOCIAL_PROFILE_TABLE_API = "/api/now/table/sn_app_cs_social_social_profile"
# Each call reads a profile with its consumer's names, in one answer.
SOCIAL_PROFILE_FIELDS = (
    "sys_id,social_id,profile,profile_url,consumer,consumer.first_name,consumer.last_name"
)
CASE_TABLE = "sn_customerservice_case"
DEFAULT_RETRY_AFTER_SECONDS = 60
SYS_ID = re.compile(r"[0-9a-f]{32}")
# A path's sys_id segments: the only variable ones (_sys_id_segment). Traces name a call by
# its route, with {sys_id} for each.
SYS_ID_SEGMENT = re.compile(r"(?<=/)[0-9a-f]{32}(?=/|$)")
# What the values this client looks records up by are made of: case numbers (CS0001005),
# X handles, correlation ids ("twittnow:<conversation>:<X id>"). Nothing else may reach an
# encoded query: "^" would start another condition and cannot be escaped, and a value
# starting "javascript:" is run as a script by the instance (ServiceNow docs, "Encoded
# query strings" and "Operators available for filters and queries").
_QUERY_VALUE = re.compile(r"[A-Za-z0-9_.:@-]+")


class CaseState:
    """The case states, as the API reports them (strings)."""

    NEW = "1"
    OPEN = "10"
    AWAITING_INFO = "18"
    RESOLVED = "6"
    CLOSED = "3"
    # Not on the Case API page, but the task tables' "Closed Skipped", shown as Cancelled.
    CANCELLED = "7"


# A resolved case still has active=true (it waits for the customer): only the state says
# whether a new message belongs on it.
FINISHED_STATES = frozenset({CaseState.RESOLVED, CaseState.CLOSED, CaseState.CANCELLED})


# Named tuples, not frozen dataclasses: about 0.2 ms each to make at a cold start, not 0.9.
class Case(NamedTuple):
    sys_id: str
    number: str
    state: str
    active: bool
    correlation_id: str = ""
    short_description: str = ""
    consumer_sys_id: str = ""

    @property
    def is_open(self) -> bool:
        """Whether the customer's next message should be a comment on this case."""
        return self.state not in FINISHED_STATES


class Consumer(NamedTuple):
    sys_id: str
    first_name: str = ""
    last_name: str = ""


class SocialProfile(NamedTuple):
    """A consumer's profile on a social channel: who they are there (`social_id`, the
    channel's own user id), and how they are shown (`handle`, `url`), which can change."""

    sys_id: str
    social_id: str
    handle: str
    url: str
    consumer: Consumer


class Activity(NamedTuple):
    """One entry of a case's activity stream."""

    sys_id: str
    kind: str  # the journal field: "comments", "work_notes", or "attachment"
    text: str  # the entry's text; an attachment's file name
    author: str
    created_on: str  # "YYYY-MM-DD hh:mm:ss", GMT


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


class ServiceNowUnsafeValue(ServiceNowError):
    """A value this client will not put in an encoded query, since it would change what
    the query asks for (see _QUERY_VALUE). Nothing was sent; retrying cannot help."""


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
        # requests loads with the first client, not with this module: about 19 ms of a
        # cold start (bench/cold_start.py) that a request refused before it needs the
        # instance skips.
        import requests
        from requests.auth import HTTPBasicAuth

        self._session = requests.Session()
        # As UTF-8 bytes: requests would encode str credentials as Latin-1, and fail with
        # an error holding the password on any other character.
        credentials = (username.encode(), password.encode())
        self._session.auth = HTTPBasicAuth(*credentials)
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

    # ------------------------------------------------------------ consumers

    def create_consumer(
        self,
        first_name: str,
        last_name: str,
        social_channel: str,
        social_handle: str,
        social_handle_url: str,
        **extra_fields: str,
    ) -> Consumer:
        """A new consumer, with a social profile on the channel (social_profile_of reads
        it); the Consumer API cannot set the profile's social_id (set_social_profile can)."""
        body = {
            **extra_fields,
            "first_name": first_name,
            "last_name": last_name,
            "social_channel": social_channel,
            "social_handle": social_handle,
            "social_handle_url": social_handle_url,
        }
        sys_id = self._request("POST", CONSUMER_API, json=body).get("result")
        if not isinstance(sys_id, str) or not sys_id:
            raise self._unexpected("POST", CONSUMER_API)
        return Consumer(sys_id, first_name, last_name)

    def get_consumer(self, sys_id: str) -> Consumer:
        path = f"{CONSUMER_API}/{_sys_id_segment(sys_id)}"
        return _consumer(self._result_object("GET", path), "")

    def find_social_profile(self, social_channel: str, social_id: str) -> SocialProfile | None:
        """The oldest profile of a consumer that is this user (the channel's own user id)
        on this channel, if any. Never by handle: a handle names whoever holds it now.
        (An empty id is refused with the other unsafe values: social_id= would match every
        profile without one.)"""
        found = self._social_profile(("channel.name", social_channel), ("social_id", social_id))
        # An instance drops a query condition on a field it does not have, and answers the
        # rest (consumer-api.md, sysparm_query): without social_id, any Twitter profile.
        return found if found is not None and found.social_id == social_id else None

    def social_profile_of(self, consumer_sys_id: str, social_channel: str) -> SocialProfile | None:
        """The consumer's (oldest) profile on this channel, if it has one."""
        return self._social_profile(("consumer", consumer_sys_id), ("channel.name", social_channel))

    def set_social_profile(self, sys_id: str, **fields: str) -> SocialProfile:
        """Sets fields of the profile (social_id, profile, profile_url); answers it."""
        path = f"{SOCIAL_PROFILE_TABLE_API}/{_sys_id_segment(sys_id)}"
        params = {"sysparm_fields": SOCIAL_PROFILE_FIELDS, "sysparm_exclude_reference_link": "true"}
        return _social_profile(self._result_object("PATCH", path, params=params, json=fields))

    def _social_profile(self, *conditions: tuple[str, str]) -> SocialProfile | None:
        # The Consumer API cannot search by profile: the profile table is read instead,
        # dot-walking to the consumer in the same call.
        query = _encoded_query(*conditions)
        params = {
            "sysparm_query": f"{query}^consumerISNOTEMPTY^ORDERBYsys_created_on",
            "sysparm_fields": SOCIAL_PROFILE_FIELDS,
            "sysparm_exclude_reference_link": "true",
            "sysparm_limit": 1,
        }
        found = self._result_list("GET", SOCIAL_PROFILE_TABLE_API, params=params)
        return _social_profile(found[0]) if found else None

    # ------------------------------------------------------------ cases

    def create_case(
        self,
        short_description: str,
        description: str,
        consumer_sys_id: str,
        *,
        correlation_id: str,
        contact_type: str = "social",
        **extra_fields: str,
    ) -> Case:
        """A new case for the consumer. `correlation_id` names what it was made for, so a
        retried create can find the case it made before (find_case_by_correlation_id);
        extra_fields are more case fields (custom u_ fields, comments...)."""
        body = {
            **extra_fields,
            "short_description": short_description,
            "description": description,
            "consumer": consumer_sys_id,
            "contact_type": contact_type,
            "correlation_id": correlation_id,
        }
        created = self._result_object("POST", CASE_API, json=body)
        # The answer holds only sys_id and number; a new case starts New and active.
        return _case({**body, "state": CaseState.NEW, "active": "true", **created})

    def get_case(self, sys_id_or_number: str) -> Case:
        """The case with this sys_id or number (CS0001005); ServiceNowNotFound if none."""
        if SYS_ID.fullmatch(sys_id_or_number):
            return _case(
                self._result_object("GET", f"{CASE_API}/{_sys_id_segment(sys_id_or_number)}")
            )
        if not _queryable(sys_id_or_number):
            # No case number looks like this, and as a query it would ask something else.
            raise ServiceNowNotFound(f"No case {sys_id_or_number!r}.")
        found = self._find_case(_encoded_query(("number", sys_id_or_number)))
        if found is None:
            # What GET .../case/{number} would answer, without its unpredictable results
            # when two cases share a number.
            raise ServiceNowNotFound(f"No case {sys_id_or_number}.", status_code=404)
        return found

    def find_case_by_correlation_id(self, correlation_id: str) -> Case | None:
        """The newest case created with this correlation_id, if any."""
        return self._find_case(_encoded_query(("correlation_id", correlation_id)))

    def add_comment(self, case_sys_id: str, text: str) -> Case:
        """A customer-visible comment ("Additional comments") on the case; answers the case
        as it is now, so the caller learns its state without another call."""
        return self._update_case(case_sys_id, {"comments": text})

    def add_work_note(self, case_sys_id: str, text: str) -> Case:
        """An internal work note on the case, for the agents only."""
        return self._update_case(case_sys_id, {"work_notes": text})

    def case_activities(self, case_sys_id: str) -> list[Activity]:
        """The case's activity stream: comments, work notes and attachments, newest first."""
        path = f"{CASE_API}/{_sys_id_segment(case_sys_id)}/activities"
        entries = self._result_object("GET", path).get("entries")
        if not isinstance(entries, list):
            raise self._unexpected("GET", path)
        return [_activity(entry) for entry in entries if isinstance(entry, dict)]

    def attach_file(self, case_sys_id: str, file_name: str, content_type: str, data: bytes) -> str:
        """Attaches `data` to the case as `file_name`; answers the attachment's sys_id."""
        params = {"table_name": CASE_TABLE, "table_sys_id": case_sys_id, "file_name": file_name}
        attachment = self._result_object(
            "POST",
            ATTACHMENT_API,
            params=params,
            data=data,
            headers={"Content-Type": content_type},
        )
        sys_id = attachment.get("sys_id")
        if not isinstance(sys_id, str) or not sys_id:
            raise self._unexpected("POST", ATTACHMENT_API)
        return sys_id

    def _find_case(self, query: str) -> Case | None:
        params = {"sysparm_query": f"{query}^ORDERBYDESCsys_created_on", "sysparm_limit": 1}
        found = self._result_list("GET", CASE_API, params=params)
        return _case(found[0]) if found else None

    def _update_case(self, case_sys_id: str, fields: dict) -> Case:
        # get_case_details: the answer holds the whole case, not only sys_id and number.
        path = f"{CASE_API}/{_sys_id_segment(case_sys_id)}"
        return _case(
            self._result_object("PUT", path, params={"get_case_details": "true"}, json=fields)
        )

    # ------------------------------------------------------------ HTTP

    def _result_object(self, method: str, path: str, **kwargs: Any) -> dict:
        result = self._request(method, path, **kwargs).get("result")
        if not isinstance(result, dict):
            raise self._unexpected(method, path)
        return result

    def _result_list(self, method: str, path: str, **kwargs: Any) -> list[dict]:
        result = self._request(method, path, **kwargs).get("result")
        if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
            raise self._unexpected(method, path)
        return result

    def _unexpected(self, method: str, path: str) -> ServiceNowUnavailable:
        # A proxy or a customized instance answering in another shape: not our record.
        return ServiceNowUnavailable(
            f"ServiceNow answered {method} {path} without the expected result: check that "
            f"{self.instance_url} is a ServiceNow instance with Customer Service Management."
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> dict:
        """ServiceNow's JSON answer (`{"result": ...}`) to `method path`, or the
        ServiceNowError its answer means. kwargs go to requests (params, json...)."""
        response = self._send(method, path, **kwargs)
        if not 200 <= response.status_code < 300:
            raise self._error_for(response)
        if response.status_code == HTTPStatus.NO_CONTENT:
            return {}
        body = json_object(response)
        if body is None:
            # A hibernating developer instance, or a proxy's page, answers 200 with HTML.
            raise ServiceNowUnavailable(
                f"ServiceNow answered {status_line(response)} with something other than "
                f"JSON: check that the instance at {self.instance_url} is awake.",
                status_code=response.status_code,
            )
        return body

    def _send(self, method: str, path: str, **kwargs: Any) -> "requests.Response":
        import requests  # loaded by __init__ already

        with outgoing_call("ServiceNow", method, SYS_ID_SEGMENT.sub("{sys_id}", path)) as answered:
            try:
                # No redirects: following one would carry the credentials to another URL.
                response = self._session.request(
                    method,
                    f"{self.instance_url}{path}",
                    timeout=self._timeout,
                    allow_redirects=False,
                    **kwargs,
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
            else:
                answered(response.status_code)
                return response
            # Raised outside the except clauses so that the requests exception, whose
            # request holds the Authorization header, is not chained to it as __context__.
            raise ServiceNowUnavailable(self._scrub(message), detail=self._scrub(detail))

    def _error_for(self, response: "requests.Response") -> ServiceNowError:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location") or "no location"
            return ServiceNowUnavailable(
                self._scrub(
                    f"ServiceNow answered {status_line(response)}, a redirect to {location}: "
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


def _instance_error(response: "requests.Response") -> tuple[str, str]:
    """ServiceNow's own (message, detail) from `{"error": {"message", "detail"}}`, or a
    generic message when the body is something else, such as a proxy's HTML page."""
    error = (json_object(response) or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"]), str(error.get("detail") or "")
    return f"ServiceNow answered {status_line(response)}.", ""


def _retry_after_seconds(response: "requests.Response") -> int:
    # ServiceNow sends a number of seconds; an HTTP date or anything else gets the default.
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isascii() and value.isdigit() else DEFAULT_RETRY_AFTER_SECONDS


def _encoded_query(*conditions: tuple[str, str]) -> str:
    """`field=value` conditions ANDed in ServiceNow's encoded query syntax; raises
    ServiceNowUnsafeValue for a value that would change the query."""
    for field, value in conditions:
        if not _queryable(value):
            raise ServiceNowUnsafeValue(
                f"Cannot look a ServiceNow record up by {field} {value!r}: only letters, "
                "digits and _ . : @ - are sent in a query."
            )
    return "^".join(f"{field}={value}" for field, value in conditions)


def _queryable(value: str) -> bool:
    return bool(_QUERY_VALUE.fullmatch(value)) and not value.lower().startswith("javascript:")


def _sys_id_segment(sys_id: str) -> str:
    """`sys_id` as a URL path segment. Anything else names no record, and could name
    another resource: requests resolves "." and ".." segments, and an instance or a proxy
    may decode "%2F"."""
    if not SYS_ID.fullmatch(sys_id):
        raise ServiceNowNotFound(f"No record with sys_id {sys_id!r}: a sys_id is 32 hex digits.")
    return sys_id


def _text(value: object) -> str:
    """A field's value as text; a reference field may come expanded, as its record."""
    if isinstance(value, dict):
        return str(value.get("sys_id") or value.get("value") or "")
    return "" if value is None else str(value)


def _case(record: dict) -> Case:
    return Case(
        sys_id=_text(record.get("sys_id")),
        number=_text(record.get("number")),
        state=_text(record.get("state")),
        active=_text(record.get("active")).lower() == "true",
        correlation_id=_text(record.get("correlation_id")),
        short_description=_text(record.get("short_description")),
        consumer_sys_id=_text(record.get("consumer")),
    )


def _consumer(record: dict, prefix: str) -> Consumer:
    """The consumer in `record`, whose fields are named `prefix` + field: the consumer's
    own record (""), or a dot-walk from a record referencing it ("consumer.")."""
    sys_id = record.get(f"{prefix}sys_id") or record.get(prefix.rstrip("."))
    return Consumer(
        sys_id=_text(sys_id),
        first_name=_text(record.get(f"{prefix}first_name")),
        last_name=_text(record.get(f"{prefix}last_name")),
    )


def _social_profile(record: dict) -> SocialProfile:
    return SocialProfile(
        sys_id=_text(record.get("sys_id")),
        social_id=_text(record.get("social_id")),
        handle=_text(record.get("profile")),
        url=_text(record.get("profile_url")),
        consumer=_consumer(record, "consumer."),
    )


def _activity(entry: dict) -> Activity:
    kind = _text(entry.get("element"))
    attachment = entry.get("attachment")
    text = (
        _text(attachment.get("file_name"))
        if kind == "attachment" and isinstance(attachment, dict)
        else _text(entry.get("value"))
    )
    return Activity(
        sys_id=_text(entry.get("sys_id")),
        kind=kind,
        text=text,
        author=_text(entry.get("name") or entry.get("login_name")),
        created_on=_text(entry.get("sys_created_on")),
    )
