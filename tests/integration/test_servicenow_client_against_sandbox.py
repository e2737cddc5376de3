"""The ServiceNow client against a running sandbox ServiceNow: every call, the agent's side
seen through the client, and the sandbox's refusals and faults as the client's typed errors."""

import pytest
import requests

from sandboxes.servicenow import ServiceNowSandbox
from twittnow.clients.servicenow import (
    CaseState,
    ServiceNowBadCredentials,
    ServiceNowClient,
    ServiceNowMissingRole,
    ServiceNowNotFound,
    ServiceNowThrottled,
    ServiceNowUnavailable,
)

USER, PASSWORD = "twittnow.integration", "integration-password"


@pytest.fixture
def sandbox():
    with ServiceNowSandbox(USER, PASSWORD) as running:
        yield running


@pytest.fixture
def client(sandbox):
    return ServiceNowClient(sandbox.base_url, USER, PASSWORD, timeout=5)


def sandbox_call(sandbox, method: str, path: str, **body) -> dict:
    answer = requests.request(method, sandbox.base_url + path, json=body, timeout=5)
    assert answer.ok, answer.text
    return answer.json()


def test_a_customer_becomes_a_consumer_with_a_case_and_a_conversation(client, sandbox):
    client.check_case_api()
    assert client.find_social_profile("Twitter", "1001") is None

    consumer = client.create_consumer("Jane", "Doe", "Twitter", "jane", "https://x.com/jane")
    assert client.get_consumer(consumer.sys_id) == consumer
    profile = client.social_profile_of(consumer.sys_id, "Twitter")
    assert (profile.handle, profile.social_id, profile.consumer) == ("jane", "", consumer)
    assert client.social_profile_of(consumer.sys_id, "Facebook") is None
    assert client.find_social_profile("Twitter", "1001") is None  # no X user id on it yet

    linked = client.set_social_profile(profile.sys_id, social_id="1001")
    assert client.find_social_profile("Twitter", "1001") == linked
    assert (linked.sys_id, linked.social_id, linked.consumer) == (profile.sys_id, "1001", consumer)
    assert client.find_social_profile("Facebook", "1001") is None
    renamed = client.set_social_profile(
        profile.sys_id, profile="jane_new", profile_url="https://x.com/jane_new"
    )
    assert (renamed.handle, renamed.url, renamed.social_id) == (
        "jane_new",
        "https://x.com/jane_new",
        "1001",
    )

    case = client.create_case(
        "DM from @jane",
        "My order is late",
        consumer.sys_id,
        correlation_id="x:dm:1790",
        u_city="Paris",
        sn_app_cs_social_social_profile=profile.sys_id,
    )
    assert case.number.startswith("CS") and case.is_open
    assert client.get_case(case.sys_id) == case
    assert client.get_case(case.number) == case
    assert client.find_case_by_correlation_id("x:dm:1790") == case
    assert client.find_case_by_correlation_id("x:dm:0") is None

    client.add_comment(case.sys_id, "Any news?")
    client.add_work_note(case.sys_id, "Delivery to X failed: rate limited")
    attachment = client.attach_file(case.sys_id, "photo.jpg", "image/jpeg", b"\xff\xd8\xff")
    assert len(attachment) == 32

    sandbox_call(sandbox, "POST", f"/sandbox/cases/{case.number}/comment", text="On it")
    activities = client.case_activities(case.sys_id)
    assert [(a.kind, a.text, a.author) for a in activities] == [
        ("comments", "On it", "Beth Anglin"),
        ("attachment", "photo.jpg", USER),
        ("work_notes", "Delivery to X failed: rate limited", USER),
        ("comments", "Any news?", USER),
    ]


def test_resolving_or_closing_the_case_ends_it_for_the_client(client, sandbox):
    consumer = client.create_consumer("Jane", "Doe", "Twitter", "jane", "https://x.com/jane")
    resolved = client.create_case("a", "b", consumer.sys_id, correlation_id="x:dm:1")
    closed = client.create_case("a", "b", consumer.sys_id, correlation_id="x:dm:2")

    sandbox_call(sandbox, "POST", f"/sandbox/cases/{resolved.number}/resolve", text="Refunded")
    sandbox_call(sandbox, "POST", f"/sandbox/cases/{closed.number}/close")

    assert client.get_case(resolved.number).state == CaseState.RESOLVED
    assert not client.get_case(resolved.number).is_open
    assert client.get_case(resolved.number).active  # waits for the customer to accept
    assert (client.get_case(closed.number).state, client.get_case(closed.number).active) == (
        CaseState.CLOSED,
        False,
    )


def test_a_retried_create_finds_the_case_it_made(client):
    consumer = client.create_consumer("Jane", "Doe", "Twitter", "jane", "https://x.com/jane")
    first = client.create_case("a", "b", consumer.sys_id, correlation_id="x:dm:42")

    assert client.find_case_by_correlation_id("x:dm:42") == first


def test_unknown_records_are_not_found(client):
    with pytest.raises(ServiceNowNotFound):
        client.get_case("0" * 32)
    with pytest.raises(ServiceNowNotFound):
        client.get_case("CS0000000")
    with pytest.raises(ServiceNowNotFound):
        client.get_consumer("0" * 32)
    with pytest.raises(ServiceNowNotFound):
        client.add_comment("0" * 32, "lost")


def test_wrong_credentials_and_missing_roles(sandbox, client):
    wrong = ServiceNowClient(sandbox.base_url, USER, "not-the-password", timeout=5)
    with pytest.raises(ServiceNowBadCredentials) as failure:
        wrong.find_case_by_correlation_id("x")
    assert failure.value.message == "User Not Authenticated"
    assert "not-the-password" not in repr(failure.value.args)

    sandbox_call(sandbox, "PUT", "/sandbox/settings", roles=[])
    with pytest.raises(ServiceNowMissingRole):
        client.create_consumer("J", "D", "Twitter", "j", "https://x.com/j")


def test_throttling_and_server_faults_are_typed(sandbox, client):
    fault = {"endpoint": "consumer", "status": 429, "retry_after": 12}
    sandbox_call(sandbox, "POST", "/sandbox/faults", **fault)
    with pytest.raises(ServiceNowThrottled) as throttled:
        client.find_social_profile("Twitter", "1001")
    assert throttled.value.retry_after_seconds == 12

    sandbox_call(sandbox, "POST", "/sandbox/faults", endpoint="case", status=503)
    with pytest.raises(ServiceNowUnavailable) as unavailable:
        client.check_case_api()
    assert unavailable.value.retryable

    sandbox_call(sandbox, "POST", "/sandbox/faults", endpoint="*", status=500)
    with pytest.raises(ServiceNowUnavailable):
        client.create_consumer("J", "D", "Twitter", "j", "https://x.com/j")
    # Each fault is used up: the calls work again.
    client.check_case_api()
    consumer = client.create_consumer("J", "D", "Twitter", "j", "https://x.com/j")
    assert client.social_profile_of(consumer.sys_id, "Twitter").consumer == consumer


def test_a_timeout_fault_is_unavailable_within_the_clients_timeout(sandbox):
    client = ServiceNowClient(sandbox.base_url, USER, PASSWORD, timeout=0.3)
    case = client.create_case("a", "b", "", correlation_id="x:1")
    sandbox_call(sandbox, "POST", "/sandbox/faults", endpoint="attachment", status="timeout")

    with pytest.raises(ServiceNowUnavailable) as failure:
        client.attach_file(case.sys_id, "f.txt", "text/plain", b"x")
    assert "did not answer within 0.3 seconds" in failure.value.message
