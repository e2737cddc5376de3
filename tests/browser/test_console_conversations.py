"""A tenant watches its conversations in the console: a customer's DM on the sandbox X
appears with its case, the agent's reply in the sandbox ServiceNow shows delivered, and a
reply X refuses shows failed with its reason, all while the page refreshes itself."""

import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.api.client import Tenant
from tests.api.desks import close_desk, drained, open_desk

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def tenant_desk(api, new_tenant, local_stack):
    """The new tenant set up through the API, its agents' replies reaching /events/."""
    tenant = Tenant(
        new_tenant.id,
        new_tenant.username,
        new_tenant.password,
        api.login(new_tenant.username, new_tenant.password),
    )
    desk = open_desk(api, tenant)
    key = api.post("/api-key/", token=tenant.token).body["token"]
    settings = {"events_url": f"{local_stack.base_url}/events/", "api_key": key}
    assert requests.put(f"{desk.servicenow_url}/sandbox/settings", json=settings, timeout=10).ok
    yield desk
    requests.put(f"{desk.servicenow_url}/sandbox/settings", json={"events_url": ""}, timeout=10)
    close_desk(desk)


def agent_comments(desk, case_number: str, text: str) -> None:
    answer = requests.post(
        f"{desk.servicenow_url}/sandbox/cases/{case_number}/comment",
        json={"text": text},
        timeout=30,
    )
    assert answer.ok, answer.text


def test_a_conversation_its_case_and_its_replies_in_the_console(
    console, tenant_desk, new_tenant, local_stack
):
    desk, page = tenant_desk, console.page
    customer = f"jane_{uuid.uuid4().hex[:8]}"
    desk.customer_dm(customer, "My order is late")
    drained(local_stack)
    [case] = desk.cases_of(customer)

    console.log_in(new_tenant.username, new_tenant.password)
    page.get_by_role("link", name="Conversations").click()
    row = page.locator("tbody tr", has_text=f"@{customer}")
    expect(row).to_contain_text("DM")
    expect(row).to_contain_text("open")
    case_link = row.get_by_role("link", name=case["number"])
    expect(case_link).to_have_attribute(
        "href",
        f"{desk.servicenow_url}/nav_to.do?uri=sn_customerservice_case.do%3Fsys_id%3D{case['sys_id']}",
    )
    console.screenshot("conversations")
    console.assert_accessible()

    row.get_by_role("link", name=f"@{customer}").click()
    expect(page.get_by_role("heading", name=f"Conversation with @{customer}")).to_be_visible()
    inbound = page.locator(".message.inbound", has_text="My order is late")
    expect(inbound).to_contain_text("Customer")
    expect(inbound.locator(".badge")).to_have_text("case created")

    # The agent answers in ServiceNow: the open thread shows the reply delivered.
    agent_comments(desk, case["number"], "We are on it")
    drained(local_stack)
    delivered = page.locator(".message.outbound", has_text="We are on it")
    expect(delivered.locator(".badge")).to_have_text("delivered")
    expect(delivered).to_contain_text("Agent")

    # X refuses the next one: failed, with the reason.
    fault = {"endpoint": "dm", "status": 400, "times": 1}
    assert requests.post(f"{desk.x_url}/sandbox/faults", json=fault, timeout=10).ok
    agent_comments(desk, case["number"], "Can you send us a photo?")
    drained(local_stack)
    failed = page.locator(".message.outbound", has_text="Can you send us a photo?")
    expect(failed.locator(".badge")).to_have_text("failed")
    [reply] = [m for m in desk.messages_with(customer) if m["text"] == "Can you send us a photo?"]
    expect(failed.locator(".reason")).to_have_text(f" {reply['status_detail']}")
    console.screenshot("conversation-thread")
    console.assert_accessible()

    # The list's filter keeps the conversations with a failed message, each with its
    # count: the API filters (?failed=true), no thread is read for it.
    fine = f"joe_{uuid.uuid4().hex[:8]}"
    desk.customer_dm(fine, "All good")
    drained(local_stack)
    page.get_by_role("link", name="← All conversations").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(row).to_contain_text("1 failed")
    expect(page.locator("tbody tr", has_text=f"@{fine}")).to_contain_text("None")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    with page.expect_response(lambda response: "failed=true" in response.url) as filtered:
        page.get_by_label("Only conversations with a failed message").check()
    assert filtered.value.status == 200
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text(f"@{customer}")
    expect(page.locator("tbody tr")).to_contain_text("1 failed")
    assert not [url for url in asked if "/messages/" in url], asked
    console.screenshot("conversations-failed")
    console.assert_accessible()


def test_a_tenant_without_conversations_is_told_where_they_come_from(console, new_tenant):
    console.log_in(new_tenant.username, new_tenant.password)
    console.page.get_by_role("link", name="Conversations").click()
    expect(console.page.get_by_text("No conversations yet")).to_be_visible()
    console.page.get_by_label("Only conversations with a failed message").check()
    expect(console.page.get_by_text("No conversation has a failed message.")).to_be_visible()
