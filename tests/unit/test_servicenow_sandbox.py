"""The sandbox ServiceNow over HTTP: ServiceNow's envelopes, auth and roles, queries, the
agent actions and the events they post, faults and settings."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from sandboxes.servicenow import ServiceNowSandbox

USER, PASSWORD = "twittnow.integration", "sandbox-password"
CASES = "/api/sn_customerservice/case"


@pytest.fixture
def sandbox():
    with ServiceNowSandbox(USER, PASSWORD) as running:
        yield running


class Api:
    """Calls the sandbox as the integration user (or `auth`)."""

    def __init__(self, sandbox: ServiceNowSandbox):
        self.base_url = sandbox.base_url

    def __call__(self, method: str, path: str, auth=(USER, PASSWORD), **kwargs):
        return requests.request(method, self.base_url + path, auth=auth, timeout=5, **kwargs)


@pytest.fixture
def api(sandbox):
    return Api(sandbox)


def new_case(api, **fields) -> dict:
    body = {"short_description": "DM from @jane", "contact_type": "social", **fields}
    answer = api("POST", CASES, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["result"]


class EventsEndpoint:
    """A stand-in for the service's POST /events/: keeps what it receives."""

    def __init__(self, status: int = 202):
        self.received: list[tuple[str, dict]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((self.headers["Authorization"], json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def events():
    endpoint = EventsEndpoint()
    yield endpoint
    endpoint.close()


# ---------------------------------------------------------------- the instance's APIs


def test_a_case_is_created_numbered_and_read_back_by_sys_id_or_number(api):
    created = new_case(api, correlation_id="x:dm:1", u_city="Paris", priority=3)

    assert set(created) == {"sys_id", "number"}
    assert len(created["sys_id"]) == 32 and int(created["sys_id"], 16) >= 0
    assert created["number"] == "CS0010001"
    assert new_case(api)["number"] == "CS0010002"
    by_id = api("GET", f"{CASES}/{created['sys_id']}").json()["result"]
    by_number = api("GET", f"{CASES}/{created['number']}").json()["result"]
    assert by_id == by_number
    assert by_id["state"] == "1" and by_id["active"] == "true"
    assert (by_id["correlation_id"], by_id["u_city"], by_id["priority"]) == ("x:dm:1", "Paris", "3")


def test_cases_are_queried_with_encoded_queries(api):
    first = new_case(api, correlation_id="x:dm:1")
    new_case(api, correlation_id="x:dm:2")

    def query(q, **params):
        answer = api("GET", CASES, params={"sysparm_query": q, **params})
        assert answer.status_code == 200, answer.text
        return [case["number"] for case in answer.json()["result"]]

    assert query("correlation_id=x:dm:1") == [first["number"]]
    assert query(f"number={first['number']}") == [first["number"]]
    assert query("correlation_id=nothing") == []
    assert query("ORDERBYDESCnumber", sysparm_limit=1) == ["CS0010002"]
    assert query("active=true^ORDERBYnumber", sysparm_limit=1, sysparm_offset=1) == ["CS0010002"]
    assert api("GET", CASES, params={"sysparm_query": "numberLIKECS"}).status_code == 400


def test_put_appends_comments_and_work_notes_and_changes_state(api):
    case = new_case(api)
    path = f"{CASES}/{case['sys_id']}"

    answer = api("PUT", path, json={"comments": "Any news?"})
    assert answer.status_code == 200
    assert answer.json() == {"result": case}
    api("PUT", path, json={"work_notes": "Called the carrier"})
    details = api("PUT", path, params={"sysparm_get_case_details": "true"}, json={"state": "3"})

    assert details.json()["result"]["state"] == "3"
    assert details.json()["result"]["active"] == "false"
    activities = api("GET", f"{path}/activities").json()["result"]
    assert activities["number"] == case["number"]
    assert [(e["element"], e["value"], e["login_name"]) for e in activities["entries"]] == [
        ("work_notes", "Called the carrier", USER),
        ("comments", "Any news?", USER),
    ]
    comments_only = api("GET", f"{path}/activities", params={"sysparm_activity_type": "comments"})
    assert [e["element"] for e in comments_only.json()["result"]["entries"]] == ["comments"]


def test_unknown_records_and_resources_answer_servicenow_errors(api):
    missing = api("GET", f"{CASES}/{'0' * 32}")
    assert missing.status_code == 404
    assert missing.json()["status"] == "failure"
    assert missing.json()["error"]["message"] == "No Record found"
    assert api("PUT", f"{CASES}/{'0' * 32}", json={"comments": "x"}).status_code == 404
    assert api("GET", "/api/now/consumer/nope").status_code == 404
    assert api("GET", "/api/now/nothing").status_code == 400
    assert api("GET", "/api/now/table/sys_user").status_code == 400
    not_json = api("POST", CASES, data="{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["status"] == "failure"


def test_a_consumer_with_a_social_profile_is_found_through_the_table_api(api):
    body = {
        "first_name": "Jane",
        "last_name": "Doe",
        "social_channel": "Twitter",
        "social_handle": "jane",
        "social_handle_url": "https://x.com/jane",
    }
    created = api("POST", "/api/now/consumer", json=body)
    assert created.status_code == 201
    sys_id = created.json()["result"]

    consumer = api("GET", f"/api/now/consumer/{sys_id}").json()["result"]
    assert (consumer["name"], consumer["number"]) == ("Jane Doe", "CSMR0010001")
    assert "social_handle" not in consumer  # a profile, not a consumer field
    found = api(
        "GET",
        "/api/now/table/sn_app_cs_social_social_profile",
        params={
            "sysparm_query": "channel.name=twitter^profile=JANE^consumerISNOTEMPTY",
            "sysparm_fields": "consumer,consumer.first_name,profile_url",
        },
    )
    assert found.json()["result"] == [
        {"consumer": sys_id, "consumer.first_name": "Jane", "profile_url": "https://x.com/jane"}
    ]
    by_name = api("GET", "/api/now/table/csm_consumer", params={"sysparm_query": "last_name=Doe"})
    assert [c["sys_id"] for c in by_name.json()["result"]] == [sys_id]


PROFILES = "/api/now/table/sn_app_cs_social_social_profile"


def profile_of(api, consumer_sys_id: str) -> dict:
    [profile] = api(
        "GET", PROFILES, params={"sysparm_query": f"consumer={consumer_sys_id}"}
    ).json()["result"]
    return profile


def test_a_social_profile_takes_the_x_user_id_and_a_new_handle_through_the_table_api(api, sandbox):
    body = {
        "first_name": "Jane",
        "social_channel": "Twitter",
        "social_handle": "jane",
        "social_handle_url": "https://x.com/jane",
        "social_id": "1",  # not a field the Consumer API takes: ignored
    }
    consumer = api("POST", "/api/now/consumer", json=body).json()["result"]
    profile = profile_of(api, consumer)
    assert (profile["social_id"], profile["profile"]) == ("", "jane")

    patched = api(
        "PATCH",
        f"{PROFILES}/{profile['sys_id']}",
        params={"sysparm_fields": "social_id,profile,consumer.first_name"},
        json={"social_id": "1", "sys_id": "mine"},
    )
    assert patched.status_code == 200
    assert patched.json()["result"] == {
        "social_id": "1",
        "profile": "jane",
        "consumer.first_name": "Jane",
    }
    renamed = api(
        "PUT",
        f"{PROFILES}/{profile['sys_id']}",
        json={"profile": "jane_new", "profile_url": "https://x.com/jane_new"},
    ).json()["result"]
    assert (renamed["sys_id"], renamed["social_id"], renamed["profile"]) == (
        profile["sys_id"],
        "1",
        "jane_new",
    )
    by_x_user_id = api(
        "GET", PROFILES, params={"sysparm_query": "channel.name=Twitter^social_id=1"}
    ).json()["result"]
    assert [found["consumer"] for found in by_x_user_id] == [consumer]
    [shown] = [c for c in sandbox_overview(api)["consumers"] if c["sys_id"] == consumer]
    assert shown["social_profiles"] == [
        {
            "sys_id": profile["sys_id"],
            "channel": "Twitter",
            "social_id": "1",
            "handle": "jane_new",
            "url": "https://x.com/jane_new",
        }
    ]


def test_an_unknown_social_profile_is_not_found_and_other_tables_take_no_patch(api):
    assert api("PATCH", f"{PROFILES}/{'0' * 32}", json={"social_id": "1"}).status_code == 404
    assert api("PATCH", f"/api/now/table/csm_consumer/{'0' * 32}", json={}).status_code == 400


def test_a_case_dot_walks_to_its_social_profile(api):
    body = {
        "first_name": "Jane",
        "social_channel": "Twitter",
        "social_handle": "jane",
        "social_handle_url": "https://x.com/jane",
    }
    consumer = api("POST", "/api/now/consumer", json=body).json()["result"]
    profile = profile_of(api, consumer)
    case = new_case(api, consumer=consumer, sn_app_cs_social_social_profile=profile["sys_id"])

    [found] = api(
        "GET",
        "/api/now/table/sn_customerservice_case",
        params={
            "sysparm_query": f"sys_id={case['sys_id']}",
            "sysparm_fields": "number,sn_app_cs_social_social_profile.profile",
        },
    ).json()["result"]
    assert found == {"number": case["number"], "sn_app_cs_social_social_profile.profile": "jane"}


def sandbox_overview(api) -> dict:
    return requests.get(f"{api.base_url}/sandbox", timeout=5).json()


def test_attachments_are_kept_on_the_case(api, sandbox):
    case = new_case(api)
    params = {
        "table_name": "sn_customerservice_case",
        "table_sys_id": case["sys_id"],
        "file_name": "label.jpg",
    }

    answer = api(
        "POST",
        "/api/now/attachment/file",
        params=params,
        data=b"\xff\xd8\xff",
        headers={"Content-Type": "image/jpeg"},
    )

    assert answer.status_code == 201, answer.text
    attachment = answer.json()["result"]
    assert (attachment["file_name"], attachment["content_type"], attachment["size_bytes"]) == (
        "label.jpg",
        "image/jpeg",
        "3",
    )
    entries = api("GET", f"{CASES}/{case['sys_id']}/activities").json()["result"]["entries"]
    assert entries[0]["element"] == "attachment"
    assert entries[0]["attachment"]["sys_id"] == attachment["sys_id"]
    wrong = api(
        "POST",
        "/api/now/attachment/file",
        params={**params, "table_sys_id": "0" * 32},
        data=b"x",
        headers={"Content-Type": "text/plain"},
    )
    assert wrong.status_code == 400


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("someone", PASSWORD), ("", "")])
def test_every_api_call_needs_the_integration_users_credentials(api, auth):
    answer = api("GET", CASES, auth=auth)

    assert answer.status_code == 401
    assert answer.json() == {
        "error": {
            "message": "User Not Authenticated",
            "detail": "Required to provide Auth information",
        },
        "status": "failure",
    }


def test_a_user_without_the_role_is_refused(api, sandbox):
    requests.put(f"{sandbox.base_url}/sandbox/settings", json={"roles": ["itil"]}, timeout=5)

    answer = api("POST", "/api/now/consumer", json={"first_name": "J"})

    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == "User Not Authorized"


# ---------------------------------------------------------------- acting as an agent


def test_agent_actions_post_events_the_integration_users_comments_do_not(api, sandbox, events):
    settings = {"events_url": events.url, "api_key": "developer-key"}
    assert requests.put(f"{sandbox.base_url}/sandbox/settings", json=settings, timeout=5).ok
    case = new_case(api)
    api("PUT", f"{CASES}/{case['sys_id']}", json={"comments": "From the customer"})
    assert events.received == []

    base = f"{sandbox.base_url}/sandbox/cases/{case['number']}"
    comment = requests.post(f"{base}/comment", json={"text": "We are on it"}, timeout=5)
    resolve = requests.post(f"{base}/resolve", json={"text": "Refunded"}, timeout=5)
    close = requests.post(f"{base}/close", json={}, timeout=5)

    assert [answer.status_code for answer in (comment, resolve, close)] == [200, 200, 200]
    assert comment.json()["event"]["status"] == 202
    sent = [(auth, event["type"], event["message"]) for auth, event in events.received]
    assert sent == [
        ("Token developer-key", "comment", "We are on it"),
        ("Token developer-key", "resolved", "Refunded"),
        ("Token developer-key", "closed", ""),
    ]
    ids = {event["event_id"] for _, event in events.received}
    assert len(ids) == 3
    assert all(
        (event["case"], event["number"]) == (case["sys_id"], case["number"])
        for _, event in events.received
    )
    record = api("GET", f"{CASES}/{case['sys_id']}").json()["result"]
    assert (record["state"], record["active"]) == ("3", "false")
    again = requests.post(f"{base}/comment", json={"text": "Hello?"}, timeout=5)
    assert again.status_code == 409


def test_without_an_events_url_nothing_is_sent_and_the_overview_says_so(api, sandbox):
    case = new_case(api)

    answer = requests.post(
        f"{sandbox.base_url}/sandbox/cases/{case['number']}/comment", json={"text": "Hi"}, timeout=5
    )

    assert answer.json()["event"]["status"] is None
    assert "events_url" in answer.json()["event"]["error"]
    overview = requests.get(f"{sandbox.base_url}/sandbox", timeout=5).json()
    assert overview["cases"][0]["number"] == case["number"]
    assert [line["value"] for line in overview["cases"][0]["journal"]] == ["Hi"]
    assert overview["journal"][0]["login_name"] == "Beth Anglin"
    assert len(overview["events"]) == 1


def test_an_unreachable_events_url_is_recorded(api, sandbox):
    requests.put(
        f"{sandbox.base_url}/sandbox/settings",
        json={"events_url": "http://127.0.0.1:9/events/", "api_key": "k"},
        timeout=5,
    )
    case = new_case(api)

    answer = requests.post(
        f"{sandbox.base_url}/sandbox/cases/{case['number']}/resolve", json={}, timeout=5
    )

    assert answer.status_code == 200
    assert answer.json()["event"]["status"] is None
    assert "could not reach" in answer.json()["event"]["error"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/sandbox/cases/CS0000000/comment", {"text": "x"}, 404),
        ("/sandbox/cases/{number}/comment", {}, 400),
        ("/sandbox/cases/{number}/comment", {"text": "  "}, 400),
        ("/sandbox/cases/{number}/resolve", {"text": 3}, 400),
    ],
)
def test_agent_actions_refuse_bad_requests(api, sandbox, path, body, status):
    case = new_case(api)

    answer = requests.post(
        sandbox.base_url + path.format(number=case["number"]), json=body, timeout=5
    )

    assert answer.status_code == status


# ---------------------------------------------------------------- faults and settings


def test_faults_fail_their_endpoint_for_the_times_asked(api, sandbox):
    fault = {"endpoint": "case", "status": 429, "times": 2, "retry_after": 7}
    added = requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)
    assert added.status_code == 201

    assert api("POST", "/api/now/consumer", json={}).status_code == 201  # another endpoint
    throttled = api("GET", CASES)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["status"] == "failure"
    assert api("GET", CASES).status_code == 429
    assert api("GET", CASES).status_code == 200


def test_a_table_query_fails_with_its_tables_endpoint(api, sandbox):
    fault = {"endpoint": "consumer", "status": 503}
    requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    assert api("GET", "/api/now/table/sn_customerservice_case").status_code == 200
    assert api("GET", "/api/now/table/sn_app_cs_social_social_profile").status_code == 503


def test_faults_are_listed_and_cleared(api, sandbox):
    url = f"{sandbox.base_url}/sandbox/faults"
    requests.post(url, json={"status": 500, "times": 3}, timeout=5)

    assert requests.get(url, timeout=5).json()["faults"] == [
        {"endpoint": "*", "status": 500, "times": 3, "retry_after": 30, "hold_seconds": 30}
    ]
    assert requests.delete(url, timeout=5).json() == {"faults": []}
    assert api("GET", CASES).status_code == 200


def test_a_timeout_fault_holds_the_call(api, sandbox):
    requests.post(
        f"{sandbox.base_url}/sandbox/faults",
        json={"endpoint": "attachment", "status": "timeout"},
        timeout=5,
    )

    with pytest.raises(requests.Timeout):
        requests.post(
            f"{sandbox.base_url}/api/now/attachment/file", auth=(USER, PASSWORD), timeout=0.3
        )


def test_a_timeout_fault_holds_as_long_as_asked_and_does_nothing(api, sandbox):
    fault = {"endpoint": "case", "status": "timeout", "hold_seconds": 0.3}
    requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    started = time.monotonic()
    answer = api("POST", CASES, json={"short_description": "held"})

    assert answer.status_code == 503 and time.monotonic() - started >= 0.3
    assert api("GET", CASES).json()["result"] == []


def test_a_late_fault_does_the_call_and_answers_after_the_client_gave_up(api, sandbox):
    fault = {"endpoint": "case", "status": "late", "hold_seconds": 2}
    requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    with pytest.raises(requests.Timeout):
        requests.post(
            sandbox.base_url + CASES,
            auth=(USER, PASSWORD),
            json={"short_description": "late"},
            timeout=0.3,
        )

    [case] = api("GET", CASES).json()["result"]
    assert case["short_description"] == "late"


def random_fault(sandbox, **fault) -> dict:
    body = {"endpoint": "case", "rate": 0.5, "statuses": [429, 500], "retry_after": 1, **fault}
    added = requests.post(f"{sandbox.base_url}/sandbox/faults", json=body, timeout=5)
    assert added.status_code == 201, added.text
    return added.json()["faults"][-1]


def test_a_fault_with_a_rate_fails_that_share_of_calls_until_cleared(api, sandbox):
    assert random_fault(sandbox, seed=7) == {
        "endpoint": "case",
        "rate": 0.5,
        "statuses": [429, 500],
        "retry_after": 1,
        "hold_seconds": 30,
        "seed": 7,
        "failed": 0,
    }

    answers = [api("GET", CASES) for _ in range(100)]
    others = [api("GET", "/api/now/consumer") for _ in range(10)]

    statuses = [answer.status_code for answer in answers]
    assert 30 <= statuses.count(200) <= 70
    assert set(statuses) == {200, 429, 500}
    assert all(a.headers["Retry-After"] == "1" for a in answers if a.status_code == 429)
    assert {answer.status_code for answer in others} == {200}
    [listed] = requests.get(f"{sandbox.base_url}/sandbox/faults", timeout=5).json()["faults"]
    assert listed["failed"] == 100 - statuses.count(200)
    requests.delete(f"{sandbox.base_url}/sandbox/faults", timeout=5)
    assert {api("GET", CASES).status_code for _ in range(20)} == {200}


def test_the_same_seed_fails_the_same_calls(api, sandbox):
    runs = []
    for _ in range(2):
        random_fault(sandbox, seed=7, statuses=[429, 500, 503])
        runs.append([api("GET", CASES).status_code for _ in range(40)])
        requests.delete(f"{sandbox.base_url}/sandbox/faults", timeout=5)

    assert runs[0] == runs[1]


def test_a_fault_with_a_rate_counts_right_under_concurrent_calls(api, sandbox):
    random_fault(sandbox)
    statuses: list[int] = []

    def calls() -> None:
        statuses.extend(api("GET", CASES).status_code for _ in range(25))

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [listed] = requests.get(f"{sandbox.base_url}/sandbox/faults", timeout=5).json()["faults"]
    assert len(statuses) == 200 and listed["failed"] == 200 - statuses.count(200)


@pytest.mark.parametrize(
    "fault",
    [
        {"endpoint": "tweets", "status": 500},
        {"status": 200},
        {"status": "slow"},
        {"status": 500, "times": 0},
        {"status": 429, "retry_after": -1},
        {"status": "timeout", "hold_seconds": -1},
        {"status": "timeout", "hold_seconds": "1"},
        {"rate": 0, "statuses": [500]},
        {"rate": 1.5, "statuses": [500]},
        {"rate": True, "statuses": [500]},
        {"rate": 0.3, "statuses": []},
        {"rate": 0.3, "statuses": [200]},
        {"rate": 0.3, "statuses": "429"},
        {"rate": 0.3, "statuses": [500], "times": 2},
        {"rate": 0.3, "statuses": [500], "seed": "7"},
    ],
)
def test_invalid_faults_are_refused(sandbox, fault):
    answer = requests.post(f"{sandbox.base_url}/sandbox/faults", json=fault, timeout=5)

    assert answer.status_code == 400


def test_latency_delays_every_api_call(api, sandbox):
    requests.put(f"{sandbox.base_url}/sandbox/settings", json={"latency_ms": 150}, timeout=5)

    started = time.monotonic()
    api("GET", CASES)

    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    "settings",
    [
        {"events_url": "ftp://x"},
        {"api_key": 5},
        {"latency_ms": -1},
        {"latency_ms": True},
        {"roles": "csm_ws_integration"},
    ],
)
def test_invalid_settings_are_refused(sandbox, settings):
    answer = requests.put(f"{sandbox.base_url}/sandbox/settings", json=settings, timeout=5)

    assert answer.status_code == 400


def test_settings_never_show_the_api_key(sandbox):
    url = f"{sandbox.base_url}/sandbox/settings"
    settings = {"events_url": "http://127.0.0.1:3000/events/", "api_key": "k3y"}
    requests.put(url, json=settings, timeout=5)

    shown = requests.get(url, timeout=5).json()

    assert shown == {
        "events_url": "http://127.0.0.1:3000/events/",
        "api_key_set": True,
        "latency_ms": 0,
        "roles": ["csm_ws_integration"],
    }
    assert "k3y" not in requests.get(f"{sandbox.base_url}/sandbox", timeout=5).text
