"""Every change of a tenant's X connection is in the audit log (GET /audit/): connected and
revoked by the tenant, broken because the account revoked the app on X (actor "X") or
because X refused its token (actor "system"), and connected again when X takes the token
once more (actor "system")."""

import time
import uuid

import boto3
import pytest
import requests

from tests.api.client import all_pages
from tests.api.desks import close_desk, drained, open_desk

STATUS_FIELDS = ["status", "status_detail"]


@pytest.fixture
def desk(api, tenant):
    desk = open_desk(api, tenant)
    yield desk
    close_desk(desk)


def connection_entries(api, tenant_id: str) -> list[dict]:
    """The tenant's X connection entries, newest first."""
    entries = all_pages(api, f"/audit/?page_size=200&user_id={tenant_id}", api.admin_token)
    return [entry for entry in entries if entry["resource_type"] == "x_connection"]


def wait_for_status(desk, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (details := desk.x_details())["status"] != status:
        assert time.monotonic() < deadline, details
        time.sleep(0.2)
    return details


def test_connecting_and_revoking_are_recorded_as_done_by_the_tenant(api, tenant, desk):
    connection_id = desk.x_details()["id"]
    assert api.delete("/twitter-revoke/", token=tenant.token).status == 204

    revoked, connected = connection_entries(api, tenant.id)
    assert (revoked["action"], connected["action"]) == (
        "x_connection.revoked",
        "x_connection.connected",
    )
    for entry in (revoked, connected):
        assert (entry["user"], entry["user_id"]) == (tenant.username, tenant.id)
        assert (entry["resource_id"], entry["tenant_id"]) == (connection_id, tenant.id)
        assert entry["ip_address"]
    assert connected["changed_fields"] == ["access_token", "screen_name", "x_user_id"]


def test_a_revoke_on_x_is_recorded_as_done_by_x(api, tenant, desk):
    connection_id = desk.x_details()["id"]
    answer = requests.post(f"{desk.x_url}/sandbox/accounts/{desk.account}/revoke", timeout=30)
    assert answer.ok, answer.text
    drained(api.stack)

    assert desk.x_details()["status"] == "broken"
    broken, connected = connection_entries(api, tenant.id)
    assert connected["action"] == "x_connection.connected"
    assert broken["action"] == "x_connection.broken"
    assert (broken["user"], broken["user_id"], broken["ip_address"]) == ("X", None, "")
    assert (broken["resource_id"], broken["tenant_id"]) == (connection_id, tenant.id)
    assert broken["changed_fields"] == STATUS_FIELDS


def test_a_401_breaks_the_connection_a_later_send_restores_it_and_both_are_recorded(in_process_api):
    """A broken connection still sends: the next DM X takes shows it connected again. (One
    transport only: the message that met the 401 waits 5 minutes on the queue, and SQS
    empties a queue once a minute at most.)"""
    api = in_process_api
    desk = open_desk(api)
    connection_id = desk.x_details()["id"]
    fault = requests.post(
        f"{desk.x_url}/sandbox/faults",
        # Twice: an OAuth 2.0 connection renews its token on a 401 and tries once more.
        json={"endpoint": "dm", "status": 401, "times": 2},
        timeout=10,
    )
    assert fault.status_code == 201, fault.text
    try:
        desk.customer_dm(
            f"first_{uuid.uuid4().hex[:8]}", "Hello?"
        )  # its acknowledgement meets the 401
        assert "connect the account again" in wait_for_status(desk, "broken")["status_detail"]

        second = f"second_{uuid.uuid4().hex[:8]}"
        desk.customer_dm(second, "Anyone there?")  # its acknowledgement goes through
        assert wait_for_status(desk, "connected")["status_detail"] == ""
        assert any("We opened case" in item["text"] for item in desk.sent_to(second))
    finally:
        close_desk(desk)
        empty_inbound_queue(api.stack)

    restored, broken, connected = connection_entries(api, desk.tenant_id)
    assert [entry["action"] for entry in (restored, broken, connected)] == [
        "x_connection.restored",
        "x_connection.broken",
        "x_connection.connected",
    ]
    for entry in (restored, broken):
        assert (entry["user"], entry["user_id"], entry["ip_address"]) == ("system", None, "")
        assert (entry["resource_id"], entry["tenant_id"]) == (connection_id, desk.tenant_id)
        assert entry["changed_fields"] == STATUS_FIELDS


def empty_inbound_queue(stack) -> None:
    """Drops the message that met the 401 (it would come back in 5 minutes); this worker's
    tests run one at a time, so no other test's message is there. SQS refuses a second
    purge within a minute: another test's may have just run."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)
    deadline = time.monotonic() + 70
    while True:
        try:
            sqs.purge_queue(QueueUrl=stack.environment.values["INBOUND_QUEUE_URL"])
            return
        except sqs.exceptions.PurgeQueueInProgress:
            assert time.monotonic() < deadline
            time.sleep(5)


def test_the_connection_entries_can_be_filtered_by_action(api, tenant, desk):
    requests.post(
        f"{desk.x_url}/sandbox/accounts/{desk.account}/revoke", timeout=30
    ).raise_for_status()
    drained(api.stack)
    listed = all_pages(api, "/audit/?page_size=200&action=x_connection.broken", api.admin_token)
    assert [entry["tenant_id"] for entry in listed].count(tenant.id) == 1
