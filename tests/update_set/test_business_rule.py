"""update_set/business_rule.js under Node, as an instance runs it: the condition while the
update is saved, then the script as an async job on the saved case. Each test is one
update an agent (or the integration user) makes, and checks what reaches POST /events/."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.update_set.harness import run_rule

API_KEY = "twk_0123456789abcdef"
ENDPOINT = "https://abc.execute-api.us-east-1.amazonaws.com/prod"
INTEGRATION_USER = "twittnow.integration"
AGENT = "beth.agent"
CASE_ID = "9d6e1ab2c3f44e0f8a1b2c3d4e5f6a7b"
RESOLVED, CLOSED = "6", "3"


def scenario(*, fields=None, user=AGENT, **overrides) -> dict:
    """An open case whose last entry is the customer's message, and `user` saving `fields`."""
    return {
        "case": {
            "sys_id": CASE_ID,
            "number": "CS0001005",
            "state": "10",
            "close_notes": "",
            "sys_mod_count": "4",
            "sys_updated_by": INTEGRATION_USER,
            "journal": [
                {"field": "comments", "user": INTEGRATION_USER, "text": "My router is down"},
            ],
        },
        "update": {"user": user, "fields": fields or {}},
        "users": {AGENT: "Beth Agent", INTEGRATION_USER: "Twittnow Integration"},
        "properties": {
            "twittnow.events_endpoint": ENDPOINT,
            "twittnow.api_key": API_KEY,
            "twittnow.integration_user": INTEGRATION_USER,
        },
        "http": {"status": 202, "body": '{"status": "accepted"}'},
        **overrides,
    }


def run(case_scenario: dict) -> dict:
    """The rule's outcome; whatever happened, the API key is nowhere in the logs."""
    outcome = run_rule(case_scenario)
    assert API_KEY not in json.dumps(outcome["logs"])
    assert not [log for log in outcome["logs"] if log["level"] == "uncaught"], outcome["logs"]
    return outcome


def sent_event(outcome: dict) -> dict:
    """The one request the rule sent, checked for the API's shape; its JSON body."""
    (request,) = outcome["requests"]
    assert request["endpoint"] == f"{ENDPOINT}/events/"
    assert request["method"].upper() == "POST"
    assert request["headers"]["Authorization"] == f"Token {API_KEY}"
    assert request["headers"]["Content-Type"] == "application/json"
    event = json.loads(request["body"])
    # The shape the sandbox ServiceNow sends, and POST /events/ takes.
    assert set(event) == {"case", "number", "message", "type", "event_id"}
    assert (event["case"], event["number"]) == (CASE_ID, "CS0001005")
    return event


def levels(outcome: dict) -> list[str]:
    return [log["level"] for log in outcome["logs"]]


# ---------------------------------------------------------------- what is sent


def test_an_agents_comment_is_sent_without_its_journal_header():
    outcome = run(scenario(fields={"comments": "Hello!\nPlease restart the router."}))
    assert outcome["condition"] is True
    assert sent_event(outcome) == {
        "case": CASE_ID,
        "number": "CS0001005",
        "message": "Hello!\nPlease restart the router.",
        "type": "comment",
        "event_id": f"{CASE_ID}:5",
    }
    assert outcome["logs"] == []


def test_a_comment_with_a_state_change_other_than_resolving_is_a_comment():
    outcome = run(scenario(fields={"comments": "Looking into it", "state": "18"}))
    assert sent_event(outcome)["type"] == "comment"
    assert sent_event(outcome)["message"] == "Looking into it"


def test_resolving_sends_the_resolution_notes():
    fields = {"state": RESOLVED, "close_notes": "Replaced the router", "comments": "Done!"}
    event = sent_event(run(scenario(fields=fields)))
    assert (event["type"], event["message"]) == ("resolved", "Replaced the router")


def test_resolving_without_notes_sends_the_agents_comment_of_that_update():
    event = sent_event(run(scenario(fields={"state": RESOLVED, "comments": "Fixed for you"})))
    assert (event["type"], event["message"]) == ("resolved", "Fixed for you")


def test_resolving_without_notes_or_comment_never_sends_the_customers_own_words():
    event = sent_event(run(scenario(fields={"state": RESOLVED})))
    assert (event["type"], event["message"]) == ("resolved", "")


def test_closing_sends_type_closed():
    fields = {"state": CLOSED, "close_notes": "Closed after no reply"}
    event = sent_event(run(scenario(fields=fields)))
    assert (event["type"], event["message"]) == ("closed", "Closed after no reply")


def test_closing_a_resolved_case_is_sent_too():
    resolved = scenario(fields={"state": CLOSED})
    resolved["case"].update(state=RESOLVED, close_notes="Replaced the router")
    event = sent_event(run(resolved))
    assert (event["type"], event["message"]) == ("closed", "Replaced the router")


@pytest.mark.parametrize("endpoint", [ENDPOINT, f"{ENDPOINT}/", f"{ENDPOINT}//"])
def test_the_endpoint_may_end_with_a_slash(endpoint):
    case_scenario = scenario(fields={"comments": "Hi"})
    case_scenario["properties"]["twittnow.events_endpoint"] = endpoint
    sent_event(run(case_scenario))


def test_the_event_id_is_the_same_for_a_rerun_and_new_for_the_next_change():
    first = scenario(fields={"comments": "One"})
    second = scenario(fields={"comments": "Two"})
    second["case"]["sys_mod_count"] = "5"
    ids = [sent_event(run(s))["event_id"] for s in (first, first, second)]
    assert ids == [f"{CASE_ID}:5", f"{CASE_ID}:5", f"{CASE_ID}:6"]


# ---------------------------------------------------------------- what is not sent


def test_the_integration_users_comments_are_never_sent_back():
    outcome = run(scenario(user=INTEGRATION_USER, fields={"comments": "Still down"}))
    assert outcome == {"condition": False, "requests": [], "logs": []}


def test_a_work_note_alone_is_not_sent():
    outcome = run(scenario(fields={"work_notes": "Customer is a VIP"}))
    assert outcome == {"condition": False, "requests": [], "logs": []}


def test_other_field_changes_are_not_sent():
    outcome = run(scenario(fields={"priority": "2", "state": "18"}))
    assert outcome == {"condition": False, "requests": [], "logs": []}


def test_a_comment_on_a_case_already_resolved_is_not_sent():
    # The job could not tell it from the resolution itself (an async script sees no
    # changes), so the condition leaves it out: the README says to reopen the case first.
    case_scenario = scenario(fields={"comments": "Did that work?"})
    case_scenario["case"].update(state=RESOLVED, close_notes="Replaced the router")
    assert run(case_scenario)["condition"] is False


def test_a_customer_message_landing_before_the_job_is_not_echoed():
    case_scenario = scenario(
        fields={"comments": "Please restart it"},
        later_update={"user": INTEGRATION_USER, "fields": {"comments": "Thanks!"}},
    )
    outcome = run(case_scenario)
    assert outcome["condition"] is True
    assert outcome["requests"] == []
    assert levels(outcome) == ["warn"]
    assert "CS0001005" in outcome["logs"][0]["message"]


@pytest.mark.parametrize("empty", ["twittnow.events_endpoint", "twittnow.api_key"])
@pytest.mark.parametrize("how", ["empty", "missing"])
def test_nothing_is_sent_without_endpoint_and_key(empty, how):
    case_scenario = scenario(fields={"comments": "Hi"})
    if how == "empty":
        case_scenario["properties"][empty] = ""
    else:
        del case_scenario["properties"][empty]
    outcome = run(case_scenario)
    assert outcome["requests"] == []
    assert levels(outcome) == ["warn"]
    assert empty in outcome["logs"][0]["message"]


# ---------------------------------------------------------------- failures


def test_an_error_answer_is_logged_without_the_key():
    body = json.dumps({"error": "Internal error", "code": "INTERNAL_ERROR", "request_id": "r-1"})
    outcome = run(scenario(fields={"comments": "Hi"}, http={"status": 500, "body": body}))
    sent_event(outcome)
    assert levels(outcome) == ["error"]
    message = outcome["logs"][0]["message"]
    assert "500" in message and "CS0001005" in message and "r-1" in message


def test_an_unreachable_api_is_logged():
    http = {"status": 0, "body": "", "error": "Connection refused"}
    outcome = run(scenario(fields={"comments": "Hi"}, http=http))
    assert levels(outcome) == ["error"]
    assert "Connection refused" in outcome["logs"][0]["message"]


def test_an_exception_from_execute_is_logged_without_the_key():
    http = {"throw": f"Request with header Authorization: Token {API_KEY} timed out"}
    outcome = run(scenario(fields={"comments": "Hi"}, http=http))
    assert len(outcome["requests"]) == 1
    assert levels(outcome) == ["error"]
    assert "timed out" in outcome["logs"][0]["message"]


def test_an_answer_echoing_the_key_is_logged_without_it():
    http = {"status": 401, "body": f"bad token {API_KEY}"}
    outcome = run(scenario(fields={"comments": "Hi"}, http=http))
    assert levels(outcome) == ["error"]
    assert "[api key]" in outcome["logs"][0]["message"]


# ---------------------------------------------------------------- sending for real


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in for POST /events/: keeps what it received, answers 202."""

    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer = b'{"status": "accepted"}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def events_api():
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.received
    server.shutdown()
    server.server_close()


def test_send_delivers_the_request_and_reports_the_real_answer(events_api):
    base_url, received = events_api
    case_scenario = scenario(fields={"comments": "Hi there"}, send=True)
    case_scenario["properties"]["twittnow.events_endpoint"] = f"{base_url}/prod/"
    outcome = run(case_scenario)
    (request,) = outcome["requests"]
    assert (request["status"], json.loads(request["response_body"])) == (
        202,
        {"status": "accepted"},
    )
    (delivered,) = received
    assert delivered["path"] == "/prod/events/"
    assert delivered["headers"]["Authorization"] == f"Token {API_KEY}"
    assert json.loads(delivered["body"]) == json.loads(request["body"])
    assert json.loads(delivered["body"])["message"] == "Hi there"
    assert outcome["logs"] == []


def test_send_to_an_unreachable_api_is_logged():
    closed_port = scenario(fields={"comments": "Hi"}, send=True)
    closed_port["properties"]["twittnow.events_endpoint"] = "http://127.0.0.1:9"
    outcome = run(closed_port)
    (request,) = outcome["requests"]
    assert request["status"] == 0 and request["error"]
    assert levels(outcome) == ["error"]
