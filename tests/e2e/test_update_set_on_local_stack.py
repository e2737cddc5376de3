"""The update set's business rule, run under Node as an instance runs it, sends an agent's
comment to the local stack's /events/, which accepts it, and the customer gets it on X."""

import pytest

from tests.api.desks import Desk, drained
from tests.update_set.harness import run_rule

pytestmark = pytest.mark.e2e


def test_the_business_rules_request_is_accepted_and_reaches_the_customer(
    local_stack, desk: Desk, customer
):
    desk.customer_dm(customer, "My router is down.")
    drained(local_stack)
    [case] = desk.cases_of(customer)
    api_key = desk.api.post("/api-key/", token=desk.token).body["token"]
    integration_user = local_stack.servicenow_sandbox.admin_user

    outcome = run_rule(
        {
            "case": {
                "sys_id": case["sys_id"],
                "number": case["number"],
                "state": "10",
                "close_notes": "",
                "sys_mod_count": "3",
                "sys_updated_by": integration_user,
                "journal": [
                    {"field": "comments", "user": integration_user, "text": "My router is down."}
                ],
            },
            "update": {"user": "beth.agent", "fields": {"comments": "Please restart it."}},
            "users": {"beth.agent": "Beth Agent", integration_user: "Twittnow Integration"},
            "properties": {
                "twittnow.events_endpoint": local_stack.base_url + "/",
                "twittnow.api_key": api_key,
                "twittnow.integration_user": integration_user,
            },
            "send": True,
        }
    )
    drained(local_stack)

    [request] = outcome["requests"]
    assert request["status"] == 202, request
    assert outcome["logs"] == []
    assert desk.sent_to(customer)[-1]["text"] == "Please restart it."
