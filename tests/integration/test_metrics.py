"""The flows count what happens in CloudWatch metrics (embedded metric format on stdout):
deliveries received, events queued, messages processed, cases created, replies delivered
and failures by kind."""

import json

import pytest

from tests.api.client import ApiClient
from tests.api.desks import close_desk, drained, open_desk, post_delivery


@pytest.fixture
def metrics_shown(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


def emitted(output: str) -> dict[str, float]:
    """Every metric in the EMF lines of `output`, summed by name (and kind for failures)."""
    totals: dict[str, float] = {}
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Twittnow"
        for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name = definition["Name"]
            key = f"{name}:{record['kind']}" if name == "Failures" else name
            values = record[name] if isinstance(record[name], list) else [record[name]]
            totals[key] = totals.get(key, 0) + sum(values)
    return totals


def test_a_dm_that_opens_a_case_is_counted(stack_environment, metrics_shown, capfd):
    stack = stack_environment
    api = ApiClient(stack, over_http=False)
    api.admin_token = api.login(stack.admin_username, stack.admin_password)
    desk = open_desk(api)
    try:
        desk.servicenow_fault(endpoint="case", status=503, times=1)
        desk.customer_dm("metrics_jane", "Hello?")
        drained(stack)
    finally:
        close_desk(desk)

    counted = emitted(capfd.readouterr().out)

    # At least: the session's stack may finish other tests' delayed retries meanwhile.
    assert counted["DeliveriesReceived"] >= 1
    assert counted["EventsQueued"] >= 1
    assert counted["CasesCreated"] >= 1
    assert counted["MessagesProcessed"] >= 1
    assert counted["Failures:ServiceNowUnavailable"] >= 1


def test_a_delivery_not_shaped_like_xs_is_counted_for_its_alarm(
    stack_environment, metrics_shown, capfd
):
    stack = stack_environment
    api = ApiClient(stack, over_http=False)
    api.admin_token = api.login(stack.admin_username, stack.admin_password)
    desk = open_desk(api)
    try:
        account = desk.x_account.id
        reply = post_delivery(api, {"for_user_id": account, "direct_message_events": [42]})
        assert reply.status == 200 and reply.body == {"queued": 0}
    finally:
        close_desk(desk)

    counted = emitted(capfd.readouterr().out)

    assert counted["DeliveriesMalformed"] >= 1
