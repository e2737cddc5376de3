"""The sandbox ServiceNow: a loopback server that behaves like the parts of a ServiceNow
CSM instance the service uses, and lets a person or a test act as its agents. Not deployed.

The instance's side, as in ServiceNow/ServiceNowDocs (twittnow.clients.servicenow lists the
pages), every call with basic auth as the integration user (admin_user):

    POST, GET /api/sn_customerservice/case          create; list with sysparm_query
    GET, PUT /api/sn_customerservice/case/{id}      by sys_id (GET: or number); PUT with
                                                    "comments" / "work_notes" appends them
    GET /api/sn_customerservice/case/{id}/activities
    POST, GET /api/now/consumer; GET /api/now/consumer/{id}
    GET /api/now/table/{table}                      csm_consumer, sn_customerservice_case,
                                                    sn_app_cs_social_social_profile
    PATCH, PUT /api/now/table/sn_app_cs_social_social_profile/{sys_id}
                                                    a social profile's fields (social_id,
                                                    the X user id; profile, the handle...)
    POST /api/now/attachment/file?table_name=sn_customerservice_case&table_sys_id=&file_name=

Answers are {"result": ...}; errors {"error": {"message", "detail"}, "status": "failure"}:
401 for wrong credentials, 403 when the user lacks the csm_ws_integration role.

The sandbox's own side, JSON under /sandbox:

    GET  /sandbox                                   cases, consumers, journal, events sent,
                                                    API requests received (by route)
    POST /sandbox/cases/{number}/comment            {"text"}: an agent's comment
    POST /sandbox/cases/{number}/resolve            {"text"?}: the agent proposes a solution
    POST /sandbox/cases/{number}/close              {"text"?}
    GET, POST, DELETE /sandbox/faults               {"endpoint", "status", "times", "retry_after",
                                                    "hold_seconds"}: the next calls fail; or
                                                    {"endpoint", "rate", "statuses", "seed", ...}:
                                                    that share of calls fails, until DELETE
    GET, PUT /sandbox/settings                      {"events_url", "api_key", "latency_ms", "roles"}

Each agent action does what the update set's business rule does: POST {events_url} with
"Authorization: Token {api_key}" and {"case", "number", "message", "type", "event_id"}
("comment", "resolved" or "closed"). What the integration user writes through the API is
never sent back: the business rule skips its own comments.

A fault's status is an HTTP error status (429 with Retry-After: retry_after), "timeout"
(the call is held hold_seconds, does nothing, and answers 503: the client gave up first),
or "late" (the call is done, and answered after hold_seconds: the client that gave up does
not know it was done). A fault with a "rate" picks whether each call fails, and with which
of its "statuses", from a random sequence seeded with "seed": the same sequence every run,
though threads may take its draws in another order.
"""

import base64
import binascii
import logging
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Self
from urllib.parse import unquote

import requests

from sandboxes.loopback import LoopbackSandbox
from sandboxes.servicenow.records import (
    CASE_TABLE,
    CLOSED,
    CONSUMER_TABLE,
    INACTIVE_STATES,
    RESOLVED,
    SOCIAL_PROFILE_TABLE,
    InvalidQuery,
    Tables,
    User,
    new_sys_id,
    now,
)
from sandboxes.x.web import Call, Refused, Response, Server, json_response, same_secret

logger = logging.getLogger(__name__)

REQUIRED_ROLE = "csm_ws_integration"
FAULT_ENDPOINTS = ("*", "case", "consumer", "attachment")
DEFAULT_RETRY_AFTER = 30
TIMEOUT, LATE = "timeout", "late"
FAULT_STATUS_RULE = f'an HTTP error status, "{TIMEOUT}" or "{LATE}"'
DEFAULT_HOLD_SECONDS = 30  # a TIMEOUT or LATE fault holds the call this long, or until stop()
MAX_HOLD_SECONDS = 300
EVENTS_TIMEOUT_SECONDS = 10
QUERYABLE_TABLES = {
    CASE_TABLE: "case",
    CONSUMER_TABLE: "consumer",
    SOCIAL_PROFILE_TABLE: "consumer",
}
AGENT = User("5137153cc611227c000bbd1bd8cd2007", "beth.anglin", "Beth Anglin")
CASE = "/api/sn_customerservice/case"


class _Server(Server):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up on a held call (a "timeout" fault) has closed the connection
        # by the time the answer is written: expected, so not printed to stderr.
        logger.debug("The ServiceNow sandbox could not answer %s", client_address, exc_info=True)


@dataclass
class _Fault:
    """Fails the next `times` calls to `endpoint`."""

    endpoint: str
    status: int | str  # an HTTP status, TIMEOUT or LATE
    times: int
    retry_after: int
    hold_seconds: float

    def strike(self) -> int | str:
        """The status this call fails with."""
        self.times -= 1
        return self.status

    @property
    def spent(self) -> bool:
        return self.times == 0

    def summary(self) -> dict:
        return vars(self).copy()


@dataclass
class _RandomFault:
    """Fails `rate` of the calls to `endpoint`, each with one of `statuses`, until cleared."""

    endpoint: str
    rate: float
    statuses: list[int | str]
    retry_after: int
    hold_seconds: float
    seed: int | None
    failed: int = 0  # how many calls it failed so far
    _draws: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._draws = random.Random(self.seed)

    def strike(self) -> int | str | None:
        """The status this call fails with; None: it goes through."""
        if self._draws.random() >= self.rate:
            return None
        self.failed += 1
        return self._draws.choice(self.statuses)

    spent = False  # it lasts until the faults are cleared

    def summary(self) -> dict:
        return {name: value for name, value in vars(self).items() if name != "_draws"}


@dataclass(frozen=True)
class _Failure:
    """How one call fails."""

    endpoint: str
    status: int | str
    retry_after: int
    hold_seconds: float


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern
    handler: Callable[[Call], Response]
    faults: str | None = None  # the FAULT_ENDPOINTS name of an API route; None: /sandbox


class ServiceNowSandbox(LoopbackSandbox):
    """The sandbox instance whose integration user is admin_user/admin_password, on
    host:port (port 0: a free one). start() serves in background threads; stop() ends them."""

    name = "ServiceNow sandbox"
    server_class = _Server

    def __init__(
        self, admin_user: str, admin_password: str, host: str = "127.0.0.1", port: int = 0
    ):
        super().__init__(host, port)
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.integration_user = User(new_sys_id(), admin_user, admin_user)
        self.roles: list[str] = [REQUIRED_ROLE]
        self.events_url = ""
        self.api_key = ""
        self.latency_ms = 0
        self._stopping = threading.Event()
        self._lock = threading.RLock()
        self._tables = Tables()
        self._events: list[dict] = []
        self._requests: Counter[str] = Counter()  # API calls received, by route handler
        self._faults: list[_Fault | _RandomFault] = []
        self._routes = self._route_table()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # ends held "timeout" calls and latency waits
        super().stop()

    # ------------------------------------------------------------ routing

    def _route_table(self) -> list[_Route]:
        case_id = CASE + r"/(?P<case_id>[^/]+)"
        number = r"/sandbox/cases/(?P<number>[^/]+)"
        profile = rf"/api/now/table/{SOCIAL_PROFILE_TABLE}/(?P<sys_id>[^/]+)"
        # fmt: off
        routes = [
            ("POST", CASE, self._create_case, "case"),
            ("GET", CASE, self._list_cases, "case"),
            ("GET", case_id + "/activities", self._activities, "case"),
            ("GET", case_id, self._get_case, "case"),
            ("PUT", case_id, self._update_case, "case"),
            ("POST", "/api/now/consumer", self._create_consumer, "consumer"),
            ("GET", "/api/now/consumer", self._list_consumers, "consumer"),
            ("GET", r"/api/now/consumer/(?P<consumer_id>[^/]+)", self._get_consumer, "consumer"),
            ("GET", r"/api/now/table/(?P<table>[^/]+)", self._query_table, "*"),
            ("PATCH", profile, self._update_social_profile, "consumer"),
            ("PUT", profile, self._update_social_profile, "consumer"),
            ("POST", "/api/now/attachment/file", self._attach, "attachment"),
            ("GET", "/sandbox/?", self._overview, None),
            ("POST", number + "/comment", self._agent_comment, None),
            ("POST", number + "/resolve", self._agent_resolve, None),
            ("POST", number + "/close", self._agent_close, None),
            ("GET", "/sandbox/faults", self._list_faults, None),
            ("POST", "/sandbox/faults", self._add_fault, None),
            ("DELETE", "/sandbox/faults", self._clear_faults, None),
            ("GET", "/sandbox/settings", self._settings, None),
            ("PUT", "/sandbox/settings", self._change_settings, None),
        ]
        # fmt: on
        return [_Route(method, re.compile(path), *rest) for method, path, *rest in routes]

    def _answer(self, call: Call) -> Response:
        for route in self._routes:
            found = route.path.fullmatch(call.path)
            if found and route.method == call.method:
                break
        else:
            return error(400, "Requested URI does not represent any resource")
        if route.faults is not None:  # the instance's API, not the sandbox's own side
            with self._lock:
                self._requests[route.handler.__name__.lstrip("_")] += 1
        call = replace(
            call, params={name: unquote(value) for name, value in found.groupdict().items()}
        )
        try:
            if route.faults is None:
                return route.handler(call)
            self._wait(self.latency_ms / 1000)
            self._check_caller(call)
            failure = self._take_fault(self._fault_endpoint(route, call))
            if failure is None:
                return route.handler(call)
            if failure.status == LATE:
                answer = route.handler(call)
                self._wait(failure.hold_seconds)
                return answer
            return self._failed(failure)
        except Refused as refusal:
            return refusal.response
        except Exception:
            logger.exception("The ServiceNow sandbox failed on %s %s", call.method, call.path)
            return error(500, "The ServiceNow sandbox failed; its log says why.")

    def _check_caller(self, call: Call) -> None:
        """Basic auth as the integration user, with the role the CSM APIs need."""
        scheme, _, credentials = call.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        if (
            scheme.lower() != "basic"
            or not same_secret(user, self.admin_user)
            or not same_secret(password, self.admin_password)
        ):
            raise Refused(
                replace(
                    error(401, "User Not Authenticated", "Required to provide Auth information"),
                    headers=(("WWW-Authenticate", 'BASIC realm="Service-now"'),),
                )
            )
        with self._lock:
            allowed = REQUIRED_ROLE in self.roles
        if not allowed:
            raise Refused(
                error(403, "User Not Authorized", f"The user lacks the {REQUIRED_ROLE} role.")
            )

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # ------------------------------------------------------------ cases

    def _create_case(self, call: Call) -> Response:
        fields = _fields(call)
        with self._lock:
            case = self._tables.create_case(fields, self.integration_user)
        return json_response(201, {"result": {"sys_id": case["sys_id"], "number": case["number"]}})

    def _list_cases(self, call: Call) -> Response:
        return self._query(call, CASE_TABLE)

    def _get_case(self, call: Call) -> Response:
        with self._lock:
            case = self._case(call.params["case_id"])
            return json_response(200, {"result": dict(case)})

    def _update_case(self, call: Call) -> Response:
        fields = _fields(call)
        with self._lock:
            case = self._tables.records[CASE_TABLE].get(call.params["case_id"])
            if case is None:
                raise Refused(_no_record())
            self._tables.update_case(case, fields, self.integration_user)
            if _param(call, "get_case_details") == "true":
                return json_response(200, {"result": dict(case)})
            ids = {"sys_id": case["sys_id"], "number": case["number"]}
            return json_response(200, {"result": ids})

    def _activities(self, call: Call) -> Response:
        kinds = set(filter(None, _param(call, "activity_type").split(",")))
        with self._lock:
            case = self._case(call.params["case_id"])
            entries = [
                entry
                for entry in self._tables.activities(case)
                if not kinds or entry["element"] in kinds
            ]
            user = self.integration_user
            result = {
                "display_value": case["number"],
                "sys_id": case["sys_id"],
                "number": case["number"],
                "short_description": case["short_description"],
                "entries": entries,
                "user_sys_id": user.sys_id,
                "user_full_name": user.name,
                "user_login": user.login,
                "label": "Case",
                "table": CASE_TABLE,
                "journal_fields": [
                    {
                        "can_read": True,
                        "can_write": True,
                        "color": "transparent",
                        "name": "comments",
                        "label": "Additional comments",
                    },
                    {
                        "can_read": True,
                        "can_write": True,
                        "color": "gold",
                        "name": "work_notes",
                        "label": "Work notes",
                    },
                ],
                "sys_created_on": case["sys_created_on"],
                "sys_created_on_adjusted": case["sys_created_on"],
            }
        return json_response(200, {"result": result})

    def _case(self, sys_id_or_number: str) -> dict:
        case = self._tables.case(sys_id_or_number)
        if case is None:
            raise Refused(_no_record())
        return case

    # ------------------------------------------------------------ consumers and tables

    def _create_consumer(self, call: Call) -> Response:
        fields = _fields(call)
        with self._lock:
            consumer = self._tables.create_consumer(fields, self.integration_user)
        return json_response(201, {"result": consumer["sys_id"]})

    def _list_consumers(self, call: Call) -> Response:
        return self._query(call, CONSUMER_TABLE)

    def _get_consumer(self, call: Call) -> Response:
        with self._lock:
            consumer = self._tables.records[CONSUMER_TABLE].get(call.params["consumer_id"])
            if consumer is None:
                raise Refused(_no_record())
            return json_response(200, {"result": dict(consumer)})

    def _update_social_profile(self, call: Call) -> Response:
        fields = _fields(call)
        with self._lock:
            profile = self._tables.records[SOCIAL_PROFILE_TABLE].get(call.params["sys_id"])
            if profile is None:
                raise Refused(_no_record())
            self._tables.update_social_profile(profile, fields)
            names = [name for name in _param(call, "fields").split(",") if name]
            [record] = self._tables.query(
                SOCIAL_PROFILE_TABLE, f"sys_id={profile['sys_id']}", names, 1, 0
            )
        return json_response(200, {"result": record})

    def _query_table(self, call: Call) -> Response:
        table = call.params["table"]
        if table not in QUERYABLE_TABLES:
            return error(400, "Invalid table", f"The sandbox has no table {table}.")
        return self._query(call, table)

    def _query(self, call: Call, table: str) -> Response:
        limit, offset = _param(call, "limit") or "10000", _param(call, "offset") or "0"
        if not (limit.isdigit() and offset.isdigit()):
            return error(400, "Invalid query", "sysparm_limit and sysparm_offset are numbers.")
        fields = [name for name in _param(call, "fields").split(",") if name]
        try:
            with self._lock:
                records = self._tables.query(
                    table, _param(call, "query"), fields, int(limit), int(offset)
                )
        except InvalidQuery as invalid:
            return error(400, "Invalid query", str(invalid))
        return json_response(200, {"result": records})

    # ------------------------------------------------------------ attachments

    def _attach(self, call: Call) -> Response:
        table, sys_id, file_name = (
            call.query.get(name, "") for name in ("table_name", "table_sys_id", "file_name")
        )
        content_type = call.headers.get("content-type", "")
        if not (table and sys_id and file_name and content_type):
            return error(
                400,
                "Failed to create the attachment",
                "table_name, table_sys_id, file_name and a Content-Type header are required.",
            )
        with self._lock:
            case = self._tables.records.get(table, {}).get(sys_id)
            if table != CASE_TABLE or case is None:
                return error(400, "Failed to create the attachment", "Invalid table_sys_id.")
            attachment = {
                "sys_id": new_sys_id(),
                "file_name": file_name,
                "content_type": content_type,
                "size_bytes": str(len(call.body)),
                "table_name": table,
                "table_sys_id": sys_id,
                "sys_created_on": now(),
                "sys_created_by": self.admin_user,
            }
            attachment["download_link"] = (
                f"{self.base_url}/api/now/attachment/{attachment['sys_id']}/file"
            )
            self._tables.attachments[attachment["sys_id"]] = attachment
            self._tables.add_journal_entry(
                case, "attachment", "", self.integration_user, attachment=attachment
            )
        return json_response(201, {"result": attachment})

    # ------------------------------------------------------------ acting as an agent

    def _agent_comment(self, call: Call) -> Response:
        text = _text(call.json(sandbox=True), required=True)
        return self._agent_update(call, {"comments": text}, "comment", text)

    def _agent_resolve(self, call: Call) -> Response:
        text = _text(call.json(sandbox=True))
        fields = {"state": RESOLVED, "close_notes": text, "comments": text}
        return self._agent_update(call, fields, "resolved", text)

    def _agent_close(self, call: Call) -> Response:
        text = _text(call.json(sandbox=True))
        fields = {"state": CLOSED, "close_notes": text, "comments": text}
        return self._agent_update(call, fields, "closed", text)

    def _agent_update(self, call: Call, fields: dict, kind: str, message: str) -> Response:
        with self._lock:
            case = self._tables.case(call.params["number"])
            if case is None:
                return sandbox_error(404, f"No case {call.params['number']}.")
            if case["state"] in INACTIVE_STATES:
                return sandbox_error(409, "A case cannot be updated once it is closed.")
            self._tables.update_case(case, fields, AGENT)
            summary = self._case_summary(case)
        event = {
            "case": summary["sys_id"],
            "number": summary["number"],
            "message": message,
            "type": kind,
            "event_id": uuid.uuid4().hex,
        }
        return json_response(200, {"case": summary, "event": self._send_event(event)})

    def _send_event(self, event: dict) -> dict:
        """What the business rule does: POST the event to the service; the outcome is kept."""
        with self._lock:
            url, api_key = self.events_url, self.api_key
        record = {"event": event, "url": url, "sent_at": now(), "status": None, "error": ""}
        if not url:
            record["error"] = "Not sent: no events_url set (PUT /sandbox/settings)."
        else:
            try:
                answer = requests.post(
                    url,
                    json=event,
                    headers={"Authorization": f"Token {api_key}"},
                    timeout=EVENTS_TIMEOUT_SECONDS,
                    allow_redirects=False,
                )
                record["status"] = answer.status_code
            except requests.RequestException as failure:
                record["error"] = f"{type(failure).__name__}: could not reach {url}."
        with self._lock:
            self._events.append(record)
        return record

    # ------------------------------------------------------------ records

    def _overview(self, call: Call) -> Response:
        with self._lock:
            tables = self._tables
            overview = {
                "instance": {"url": self.base_url, "admin_user": self.admin_user},
                "cases": [
                    {**self._case_summary(case), "journal": self._journal_of(case)}
                    for case in tables.records[CASE_TABLE].values()
                ],
                "consumers": [
                    {
                        "sys_id": consumer["sys_id"],
                        "number": consumer["number"],
                        "name": consumer["name"],
                        "social_profiles": tables.social_profiles(consumer),
                    }
                    for consumer in tables.records[CONSUMER_TABLE].values()
                ],
                "journal": [_journal_line(entry) for entry in tables.journal],
                "attachments": list(tables.attachments.values()),
                "events": list(self._events),
                "requests": {"total": self._requests.total(), "by_route": dict(self._requests)},
                "settings": self._settings_view(),
                "faults": self._fault_summaries(),
            }
        return json_response(200, overview)

    def _case_summary(self, case: dict) -> dict:
        names = (
            "sys_id",
            "number",
            "state",
            "active",
            "short_description",
            "consumer",
            "sn_app_cs_social_social_profile",
            "correlation_id",
            "contact_type",
        )
        return {name: case.get(name, "") for name in names}

    def _journal_of(self, case: dict) -> list[dict]:
        return [_journal_line(e) for e in self._tables.journal if e["case"] == case["sys_id"]]

    # ------------------------------------------------------------ faults and settings

    def _list_faults(self, call: Call) -> Response:
        return json_response(200, {"faults": self._fault_summaries()})

    def _add_fault(self, call: Call) -> Response:
        body = call.json(sandbox=True)
        endpoint = body.get("endpoint", "*")
        retry_after = body.get("retry_after", DEFAULT_RETRY_AFTER)
        hold_seconds = body.get("hold_seconds", DEFAULT_HOLD_SECONDS)
        if endpoint not in FAULT_ENDPOINTS:
            return sandbox_error(400, f"endpoint must be one of: {', '.join(FAULT_ENDPOINTS)}.")
        if not (_whole(retry_after) and retry_after >= 0):
            return sandbox_error(400, "retry_after must be at least 0.")
        if not (_number(hold_seconds) and 0 <= hold_seconds <= MAX_HOLD_SECONDS):
            return sandbox_error(400, f"hold_seconds must be from 0 to {MAX_HOLD_SECONDS}.")
        if "rate" in body:
            fault = _random_fault(body, endpoint, retry_after, hold_seconds)
        else:
            fault = _counted_fault(body, endpoint, retry_after, hold_seconds)
        with self._lock:
            self._faults.append(fault)
        return json_response(201, {"faults": self._fault_summaries()})

    def _clear_faults(self, call: Call) -> Response:
        with self._lock:
            self._faults.clear()
        return json_response(200, {"faults": []})

    def _fault_summaries(self) -> list[dict]:
        with self._lock:
            return [fault.summary() for fault in self._faults]

    def _fault_endpoint(self, route: _Route, call: Call) -> str:
        """The table API serves cases and consumers alike: its table says which it is."""
        if route.faults == "*":
            return QUERYABLE_TABLES.get(call.params.get("table", ""), "*")
        return route.faults

    def _take_fault(self, endpoint: str) -> _Failure | None:
        """How this call to `endpoint` fails: as the first fault set for it that strikes
        (a counted one is used up once), or not at all (None)."""
        with self._lock:
            for fault in self._faults:
                status = fault.strike() if fault.endpoint in ("*", endpoint) else None
                if status is not None:
                    if fault.spent:
                        self._faults.remove(fault)
                    return _Failure(endpoint, status, fault.retry_after, fault.hold_seconds)
        return None

    def _failed(self, failure: _Failure) -> Response:
        """The answer of a call that fails (but for a LATE one, which is answered)."""
        if failure.status == TIMEOUT:
            self._wait(failure.hold_seconds)
            return error(503, "Service Unavailable", f"A sandbox timeout on {failure.endpoint}.")
        if failure.status == 429:
            return replace(
                error(429, "Too many requests", "Rate limit exceeded for the sandbox's user."),
                headers=(("Retry-After", str(failure.retry_after)),),
            )
        detail = f"A sandbox fault on {failure.endpoint}."
        return error(failure.status, "Transaction cancelled", detail)

    def _settings_view(self) -> dict:
        with self._lock:
            return {
                "events_url": self.events_url,
                "api_key_set": bool(self.api_key),  # the key itself is never shown
                "latency_ms": self.latency_ms,
                "roles": list(self.roles),
            }

    def _settings(self, call: Call) -> Response:
        return json_response(200, self._settings_view())

    def _change_settings(self, call: Call) -> Response:
        body = call.json(sandbox=True)
        events_url = body.get("events_url", self.events_url)
        api_key = body.get("api_key", self.api_key)
        latency_ms = body.get("latency_ms", self.latency_ms)
        roles = body.get("roles", self.roles)
        if not isinstance(events_url, str) or not (
            events_url == "" or events_url.startswith(("http://", "https://"))
        ):
            return sandbox_error(400, "events_url must be an http(s) URL, or empty.")
        if not isinstance(api_key, str):
            return sandbox_error(400, "api_key must be a string.")
        if not (_whole(latency_ms) and 0 <= latency_ms <= 60_000):
            return sandbox_error(400, "latency_ms must be from 0 to 60000.")
        if not (isinstance(roles, list) and all(isinstance(role, str) for role in roles)):
            return sandbox_error(400, "roles must be a list of role names.")
        with self._lock:
            self.events_url, self.api_key = events_url, api_key
            self.latency_ms, self.roles = latency_ms, roles
        return self._settings(call)


# ---------------------------------------------------------------- answers


def error(status: int, message: str, detail: str | None = None) -> Response:
    """ServiceNow's error envelope."""
    body = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return json_response(status, body)


def sandbox_error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def _no_record() -> Response:
    detail = "Record doesn't exist or ACL restricts the record retrieval"
    return error(404, "No Record found", detail)


def _fields(call: Call) -> dict[str, str]:
    """The record fields of a JSON body, as the strings ServiceNow stores."""
    try:
        body = call.json(sandbox=True)
    except Refused:
        invalid = error(400, "Exception while reading request", "The payload is not valid JSON.")
        raise Refused(invalid) from None
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in body.items()
        if isinstance(value, str | int | float | bool)
    }


def _param(call: Call, name: str) -> str:
    """A sysparm_ query parameter, which ServiceNow also takes without its prefix."""
    return call.query.get(f"sysparm_{name}", call.query.get(name, ""))


def _text(body: dict, *, required: bool = False) -> str:
    text = body.get("text", "")
    if not isinstance(text, str) or (required and not text.strip()):
        message = "text is required." if required else "text must be a string."
        raise Refused(sandbox_error(400, message))
    return text


def _journal_line(entry: dict) -> dict:
    names = ("number", "element", "value", "login_name", "sys_created_on")
    line = {name: entry[name] for name in names}
    if "attachment" in entry:
        line["value"] = entry["attachment"]["file_name"]
    return line


def _counted_fault(body: dict, endpoint: str, retry_after: int, hold_seconds: float) -> _Fault:
    status, times = body.get("status"), body.get("times", 1)
    if not _fault_status(status):
        raise Refused(sandbox_error(400, f"status must be {FAULT_STATUS_RULE}."))
    if not (_whole(times) and times >= 1):
        raise Refused(sandbox_error(400, "times must be at least 1."))
    return _Fault(endpoint, status, times, retry_after, hold_seconds)


def _random_fault(body: dict, endpoint: str, retry_after: int, hold_seconds: float) -> _RandomFault:
    rate, statuses, seed = body["rate"], body.get("statuses"), body.get("seed")
    if "times" in body or "status" in body:
        raise Refused(sandbox_error(400, 'A fault with a rate has "statuses", and no times.'))
    if not (_number(rate) and 0 < rate <= 1):
        raise Refused(sandbox_error(400, "rate must be above 0, and at most 1."))
    if not (isinstance(statuses, list) and statuses and all(map(_fault_status, statuses))):
        raise Refused(sandbox_error(400, f"statuses must be a list of {FAULT_STATUS_RULE}."))
    if not (seed is None or _whole(seed)):
        raise Refused(sandbox_error(400, "seed must be a whole number."))
    return _RandomFault(endpoint, rate, statuses, retry_after, hold_seconds, seed)


def _fault_status(value) -> bool:
    return value in (TIMEOUT, LATE) or (_whole(value) and 400 <= value <= 599)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
