"""The ServiceNow client's consumer, case, journal and attachment calls: what each sends,
how it reads the answer, and the typed errors each raises."""

import json

import pytest
import requests
import responses
from responses import matchers

from twittnow.clients.servicenow import (
    Activity,
    Case,
    CaseState,
    Consumer,
    ServiceNowBadCredentials,
    ServiceNowClient,
    ServiceNowError,
    ServiceNowMissingRole,
    ServiceNowNotFound,
    ServiceNowThrottled,
    ServiceNowUnavailable,
    ServiceNowUnsafeValue,
    SocialProfile,
)

INSTANCE = "https://dev12345.service-now.com"
CASE_URL = f"{INSTANCE}/api/sn_customerservice/case"
CONSUMER_URL = f"{INSTANCE}/api/now/consumer"
PROFILE_URL = f"{INSTANCE}/api/now/table/sn_app_cs_social_social_profile"
ATTACHMENT_URL = f"{INSTANCE}/api/now/attachment/file"
CASE_ID = "0397c743db436f0057c3fd441d96197f"
CONSUMER_ID = "cd97ef1ddb8bc7006b7a9646db9619ac"
PROFILE_ID = "5a1e4b0bdb8bc7006b7a9646db9619f1"
X_USER_ID = "1146654567674912769"
PROFILE_FIELDS = (
    "sys_id,social_id,profile,profile_url,consumer,consumer.first_name,consumer.last_name"
)
PROFILE_RECORD = {
    "sys_id": PROFILE_ID,
    "social_id": X_USER_ID,
    "profile": "jane",
    "profile_url": "https://x.com/jane",
    "consumer": CONSUMER_ID,
    "consumer.first_name": "Jane",
    "consumer.last_name": "Doe",
}
JANES_PROFILE = SocialProfile(
    PROFILE_ID, X_USER_ID, "jane", "https://x.com/jane", Consumer(CONSUMER_ID, "Jane", "Doe")
)
PASSWORD = "s3cret-Pa55word!"
CASE_RECORD = {
    "sys_id": CASE_ID,
    "number": "CS0001005",
    "state": "10",
    "active": "true",
    "correlation_id": "x:dm:1790",
    "short_description": "DM from @jane",
    "consumer": CONSUMER_ID,
    "contact_type": "social",
}


@pytest.fixture
def instance():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def client():
    return ServiceNowClient(INSTANCE, "twittnow.integration", PASSWORD)


def sent_json(call) -> dict:
    return json.loads(call.request.body)


# ---------------------------------------------------------------- consumers


def test_create_consumer_posts_the_names_and_the_social_profile(instance, client):
    instance.post(CONSUMER_URL, status=201, json={"result": CONSUMER_ID})

    consumer = client.create_consumer(
        "Jane", "Doe", "Twitter", "jane", "https://x.com/jane", email="jane@example.com"
    )

    assert consumer == Consumer(CONSUMER_ID, "Jane", "Doe")
    assert sent_json(instance.calls[0]) == {
        "first_name": "Jane",
        "last_name": "Doe",
        "social_channel": "Twitter",
        "social_handle": "jane",
        "social_handle_url": "https://x.com/jane",
        "email": "jane@example.com",
    }


def test_get_consumer_reads_the_record(instance, client):
    record = {"sys_id": CONSUMER_ID, "first_name": "Jane", "last_name": "Doe", "number": "CSMR1"}
    instance.get(f"{CONSUMER_URL}/{CONSUMER_ID}", json={"result": record})

    assert client.get_consumer(CONSUMER_ID) == Consumer(CONSUMER_ID, "Jane", "Doe")


def profile_query(query: str) -> dict:
    return {
        "sysparm_query": f"{query}^consumerISNOTEMPTY^ORDERBYsys_created_on",
        "sysparm_fields": PROFILE_FIELDS,
        "sysparm_exclude_reference_link": "true",
        "sysparm_limit": "1",
    }


def test_a_consumer_is_found_by_the_x_user_id_on_its_social_profile(instance, client):
    instance.get(
        PROFILE_URL,
        json={"result": [PROFILE_RECORD]},
        match=[
            matchers.query_param_matcher(
                profile_query(f"channel.name=Twitter^social_id={X_USER_ID}")
            )
        ],
    )

    assert client.find_social_profile("Twitter", X_USER_ID) == JANES_PROFILE


def test_a_profile_with_another_x_user_id_is_none(instance, client):
    """An instance without the social_id field ignores its condition and answers the
    oldest Twitter profile: someone else's."""
    instance.get(PROFILE_URL, json={"result": [{**PROFILE_RECORD, "social_id": ""}]})

    assert client.find_social_profile("Twitter", X_USER_ID) is None


def test_no_profile_with_the_x_user_id_is_none(instance, client):
    instance.get(PROFILE_URL, json={"result": []})

    assert client.find_social_profile("Twitter", "2244994945") is None


def test_an_empty_x_user_id_finds_nothing_rather_than_every_profile_without_one(instance, client):
    with pytest.raises(ServiceNowUnsafeValue):
        client.find_social_profile("Twitter", "")
    assert not instance.calls


def test_a_consumers_profile_on_a_channel_is_read_by_its_consumer(instance, client):
    instance.get(
        PROFILE_URL,
        json={"result": [PROFILE_RECORD]},
        match=[
            matchers.query_param_matcher(
                profile_query(f"consumer={CONSUMER_ID}^channel.name=Twitter")
            )
        ],
    )

    assert client.social_profile_of(CONSUMER_ID, "Twitter") == JANES_PROFILE


def test_set_social_profile_patches_the_fields_and_answers_the_profile(instance, client):
    renamed = {**PROFILE_RECORD, "profile": "jane_new", "profile_url": "https://x.com/jane_new"}
    instance.patch(
        f"{PROFILE_URL}/{PROFILE_ID}",
        json={"result": renamed},
        match=[
            matchers.query_param_matcher(
                {"sysparm_fields": PROFILE_FIELDS, "sysparm_exclude_reference_link": "true"}
            ),
            matchers.json_params_matcher(
                {"profile": "jane_new", "profile_url": "https://x.com/jane_new"}
            ),
        ],
    )

    profile = client.set_social_profile(
        PROFILE_ID, profile="jane_new", profile_url="https://x.com/jane_new"
    )

    assert (profile.handle, profile.url, profile.social_id) == (
        "jane_new",
        "https://x.com/jane_new",
        X_USER_ID,
    )


UNSAFE_QUERY_VALUES = [
    "jane^ORconsumerISNOTEMPTY",  # another condition
    "CS0010001^ORnumber=CS0010002",
    "x^NQactive=true",  # another query
    "^",
    "javascript:gs.getUserID()",  # run by the instance
    "JavaScript:gs.getUserID",
    "",  # "number=" would match the records without one
    "jane doe",
    "jane\n",
    "jane\x00",
    "ja%5Ene",
    "jane,joe",
    "jané",
]
QUERY_CALLS = {
    "find_social_profile by id": lambda c, value: c.find_social_profile("Twitter", value),
    "find_social_profile by channel": lambda c, value: c.find_social_profile(value, "1"),
    "social_profile_of by channel": lambda c, value: c.social_profile_of(CONSUMER_ID, value),
    "find_case_by_correlation_id": lambda c, value: c.find_case_by_correlation_id(value),
}


@pytest.mark.parametrize("value", UNSAFE_QUERY_VALUES)
@pytest.mark.parametrize("call_name", QUERY_CALLS)
def test_a_query_value_cannot_change_the_query(instance, client, call_name, value):
    with pytest.raises(ServiceNowUnsafeValue) as failure:
        QUERY_CALLS[call_name](client, value)
    assert not instance.calls
    assert not failure.value.retryable
    assert failure.value.status_code is None


@pytest.mark.parametrize("value", UNSAFE_QUERY_VALUES)
def test_a_case_number_that_would_change_the_query_is_not_found_without_a_call(
    instance, client, value
):
    with pytest.raises(ServiceNowNotFound) as failure:
        client.get_case(value)
    assert not instance.calls
    assert failure.value.status_code is None


@pytest.mark.parametrize(
    "value", ["jane_doe", "twittnow:0f3a:1790", "x:dm:1790", "CS0001005", "a.b@c-d"]
)
def test_the_values_looked_up_are_sent_as_they_are(instance, client, value):
    instance.get(
        CASE_URL,
        json={"result": []},
        match=[
            matchers.query_param_matcher(
                {
                    "sysparm_query": f"correlation_id={value}^ORDERBYDESCsys_created_on",
                    "sysparm_limit": "1",
                }
            )
        ],
    )

    assert client.find_case_by_correlation_id(value) is None


# ---------------------------------------------------------------- cases


def test_create_case_posts_the_case_and_answers_it_new_and_open(instance, client):
    instance.post(CASE_URL, status=201, json={"result": {"sys_id": CASE_ID, "number": "CS0001005"}})

    case = client.create_case(
        "DM from @jane",
        "My order is late",
        CONSUMER_ID,
        correlation_id="x:dm:1790",
        u_city="Paris",
    )

    assert case == Case(
        CASE_ID, "CS0001005", CaseState.NEW, True, "x:dm:1790", "DM from @jane", CONSUMER_ID
    )
    assert case.is_open
    assert sent_json(instance.calls[0]) == {
        "short_description": "DM from @jane",
        "description": "My order is late",
        "consumer": CONSUMER_ID,
        "contact_type": "social",
        "correlation_id": "x:dm:1790",
        "u_city": "Paris",
    }


def test_get_case_by_sys_id_reads_the_record(instance, client):
    instance.get(f"{CASE_URL}/{CASE_ID}", json={"result": CASE_RECORD})

    case = client.get_case(CASE_ID)

    assert case == Case(CASE_ID, "CS0001005", "10", True, "x:dm:1790", "DM from @jane", CONSUMER_ID)


def test_get_case_by_number_queries_it(instance, client):
    instance.get(
        CASE_URL,
        json={"result": [CASE_RECORD]},
        match=[
            matchers.query_param_matcher(
                {
                    "sysparm_query": "number=CS0001005^ORDERBYDESCsys_created_on",
                    "sysparm_limit": "1",
                }
            )
        ],
    )

    assert client.get_case("CS0001005").sys_id == CASE_ID


def test_get_case_by_an_unknown_number_is_not_found(instance, client):
    instance.get(CASE_URL, json={"result": []})

    with pytest.raises(ServiceNowNotFound) as failure:
        client.get_case("CS9999999")
    assert failure.value.status_code == 404


def test_an_expanded_consumer_reference_is_read_as_its_sys_id(instance, client):
    record = {**CASE_RECORD, "consumer": {"sys_id": CONSUMER_ID, "name": "Jane Doe"}}
    instance.get(f"{CASE_URL}/{CASE_ID}", json={"result": record})

    assert client.get_case(CASE_ID).consumer_sys_id == CONSUMER_ID


def test_find_case_by_correlation_id_queries_the_newest(instance, client):
    instance.get(
        CASE_URL,
        json={"result": [CASE_RECORD]},
        match=[
            matchers.query_param_matcher(
                {
                    "sysparm_query": "correlation_id=x:dm:1790^ORDERBYDESCsys_created_on",
                    "sysparm_limit": "1",
                }
            )
        ],
    )

    assert client.find_case_by_correlation_id("x:dm:1790").number == "CS0001005"


def test_find_case_by_correlation_id_answers_none_when_there_is_none(instance, client):
    instance.get(CASE_URL, json={"result": []})

    assert client.find_case_by_correlation_id("x:dm:1") is None


@pytest.mark.parametrize(
    ("state", "active", "is_open"),
    [
        (CaseState.NEW, "true", True),
        (CaseState.OPEN, "true", True),
        (CaseState.AWAITING_INFO, "true", True),
        # Resolved cases stay active until the customer accepts: no longer open to us.
        (CaseState.RESOLVED, "true", False),
        (CaseState.CLOSED, "false", False),
        (CaseState.CANCELLED, "false", False),
    ],
)
def test_a_case_is_open_unless_resolved_closed_or_cancelled(
    instance, client, state, active, is_open
):
    instance.get(
        f"{CASE_URL}/{CASE_ID}", json={"result": {**CASE_RECORD, "state": state, "active": active}}
    )

    case = client.get_case(CASE_ID)

    assert case.is_open is is_open
    assert case.active is (active == "true")


@pytest.mark.parametrize(
    ("method", "field"), [("add_comment", "comments"), ("add_work_note", "work_notes")]
)
def test_journal_entries_are_put_on_the_case_which_answers_its_state(
    instance, client, method, field
):
    instance.put(
        f"{CASE_URL}/{CASE_ID}",
        json={"result": {**CASE_RECORD, "state": "6"}},
        match=[
            matchers.json_params_matcher({field: "Any news?"}),
            matchers.query_param_matcher({"get_case_details": "true"}),
        ],
    )

    case = getattr(client, method)(CASE_ID, "Any news?")

    assert (case.sys_id, case.state, case.is_open) == (CASE_ID, "6", False)


def test_case_activities_reads_the_activity_stream(instance, client):
    entries = [
        {
            "sys_id": "600b6e4adb241010d045232d1396196a",
            "element": "comments",
            "value": "Can you send a photo?",
            "name": "John Jason",
            "login_name": "John Jason",
            "sys_created_on": "2020-05-04 21:15:44",
        },
        {
            "sys_id": "700b6e4adb241010d045232d1396196a",
            "element": "attachment",
            "attachment": {"file_name": "label.jpg", "content_type": "image/jpeg"},
            "name": "twittnow.integration",
            "sys_created_on": "2020-05-04 21:10:00",
        },
    ]
    instance.get(
        f"{CASE_URL}/{CASE_ID}/activities",
        json={"result": {"number": "CS0001005", "entries": entries}},
    )

    assert client.case_activities(CASE_ID) == [
        Activity(
            "600b6e4adb241010d045232d1396196a",
            "comments",
            "Can you send a photo?",
            "John Jason",
            "2020-05-04 21:15:44",
        ),
        Activity(
            "700b6e4adb241010d045232d1396196a",
            "attachment",
            "label.jpg",
            "twittnow.integration",
            "2020-05-04 21:10:00",
        ),
    ]


def test_attach_file_posts_the_raw_bytes_with_their_type(instance, client):
    instance.post(
        ATTACHMENT_URL,
        status=201,
        json={"result": {"sys_id": "a" * 32, "file_name": "label.jpg"}},
        match=[
            matchers.query_param_matcher(
                {
                    "table_name": "sn_customerservice_case",
                    "table_sys_id": CASE_ID,
                    "file_name": "label.jpg",
                }
            ),
            matchers.header_matcher({"Content-Type": "image/jpeg"}),
        ],
    )

    assert client.attach_file(CASE_ID, "label.jpg", "image/jpeg", b"\xff\xd8\xff") == "a" * 32
    assert instance.calls[0].request.body == b"\xff\xd8\xff"


PATH_CALLS = {
    "get_consumer": lambda c, value: c.get_consumer(value),
    "add_comment": lambda c, value: c.add_comment(value, "t"),
    "add_work_note": lambda c, value: c.add_work_note(value, "t"),
    "case_activities": lambda c, value: c.case_activities(value),
}


@pytest.mark.parametrize(
    "value",
    # requests resolves "." and ".." ("/case/.." is the case API's parent); a proxy or the
    # instance may decode "%2F".
    [
        "..",
        ".",
        "../case",
        "a/b",
        "%2e%2e",
        "..%2Fcase",
        "",
        CASE_ID.upper(),
        CASE_ID + "0",
        CASE_ID[:-1] + "?",
    ],
)
@pytest.mark.parametrize("call_name", PATH_CALLS)
def test_only_a_sys_id_goes_in_a_path(instance, client, call_name, value):
    with pytest.raises(ServiceNowNotFound):
        PATH_CALLS[call_name](client, value)
    assert not instance.calls


# ---------------------------------------------------------------- errors on every call

CALLS = {
    "create_consumer": (
        "POST",
        CONSUMER_URL,
        lambda c: c.create_consumer("J", "D", "Twitter", "j", "https://x.com/j"),
    ),
    "get_consumer": ("GET", f"{CONSUMER_URL}/{CONSUMER_ID}", lambda c: c.get_consumer(CONSUMER_ID)),
    "find_social_profile": (
        "GET",
        PROFILE_URL,
        lambda c: c.find_social_profile("Twitter", X_USER_ID),
    ),
    "social_profile_of": (
        "GET",
        PROFILE_URL,
        lambda c: c.social_profile_of(CONSUMER_ID, "Twitter"),
    ),
    "set_social_profile": (
        "PATCH",
        f"{PROFILE_URL}/{PROFILE_ID}",
        lambda c: c.set_social_profile(PROFILE_ID, social_id=X_USER_ID),
    ),
    "create_case": (
        "POST",
        CASE_URL,
        lambda c: c.create_case("s", "d", CONSUMER_ID, correlation_id="c"),
    ),
    "get_case": ("GET", f"{CASE_URL}/{CASE_ID}", lambda c: c.get_case(CASE_ID)),
    "get_case_by_number": ("GET", CASE_URL, lambda c: c.get_case("CS0001005")),
    "find_case_by_correlation_id": ("GET", CASE_URL, lambda c: c.find_case_by_correlation_id("c")),
    "add_comment": ("PUT", f"{CASE_URL}/{CASE_ID}", lambda c: c.add_comment(CASE_ID, "t")),
    "add_work_note": ("PUT", f"{CASE_URL}/{CASE_ID}", lambda c: c.add_work_note(CASE_ID, "t")),
    "case_activities": (
        "GET",
        f"{CASE_URL}/{CASE_ID}/activities",
        lambda c: c.case_activities(CASE_ID),
    ),
    "attach_file": (
        "POST",
        ATTACHMENT_URL,
        lambda c: c.attach_file(CASE_ID, "f.txt", "text/plain", b"x"),
    ),
}
ERROR_ANSWERS = [
    (401, {}, ServiceNowBadCredentials),
    (403, {}, ServiceNowMissingRole),
    (404, {}, ServiceNowNotFound),
    (400, {}, ServiceNowError),
    (429, {"Retry-After": "7"}, ServiceNowThrottled),
    (500, {}, ServiceNowUnavailable),
    (503, {}, ServiceNowUnavailable),
]


@pytest.mark.parametrize("call_name", CALLS)
@pytest.mark.parametrize(("status", "headers", "error_class"), ERROR_ANSWERS)
def test_every_call_maps_errors_to_typed_errors(
    instance, client, call_name, status, headers, error_class
):
    method, url, call = CALLS[call_name]
    body = {"error": {"message": f"Refused {PASSWORD}", "detail": "why"}, "status": "failure"}
    instance.add(method, url, status=status, headers=headers, json=body)

    with pytest.raises(ServiceNowError) as failure:
        call(client)

    error = failure.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message == "Refused ***"
    if status == 429:
        assert error.retry_after_seconds == 7


@pytest.mark.parametrize("call_name", CALLS)
def test_every_call_maps_a_timeout_to_unavailable(instance, client, call_name):
    method, url, call = CALLS[call_name]
    instance.add(method, url, body=requests.ReadTimeout("timed out"))

    with pytest.raises(ServiceNowUnavailable):
        call(client)


@pytest.mark.parametrize(
    "call_name",
    [name for name in CALLS if name not in ("add_comment", "add_work_note")],
)
@pytest.mark.parametrize("result", [None, 42, [1], [{"sys_id": "x"}, 2]])
def test_an_answer_without_the_expected_result_is_unavailable(instance, client, call_name, result):
    method, url, call = CALLS[call_name]
    instance.add(method, url, json={"result": result})

    with pytest.raises(ServiceNowUnavailable) as failure:
        call(client)
    assert "without the expected result" in failure.value.message
