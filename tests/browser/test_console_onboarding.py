"""A new tenant sets itself up in the console: ServiceNow verified, X connected through the
sandbox X's authorize page, a custom field, an API key, the update set's properties."""

import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_a_new_tenant_onboards_through_the_console(console, new_tenant, local_stack, api):
    page = console.page
    servicenow = local_stack.servicenow_sandbox
    console.log_in(new_tenant.username, new_tenant.password)

    expect(page.get_by_role("heading", name="Set up Acme Console")).to_be_visible()
    expect(page.locator(".expiry time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    console.screenshot("setup-new-tenant")
    console.assert_accessible()

    # 1. ServiceNow: saved, then verified with the instance's own answer.
    step = page.get_by_role("region", name="ServiceNow instance")
    step.get_by_label("Instance URL").fill(servicenow.base_url)
    step.get_by_label("Integration user").fill(servicenow.admin_user)
    step.get_by_label("Password").fill(servicenow.admin_password)
    step.get_by_role("button", name="Save").click()
    expect(step.locator(".state")).to_have_text("Saved, not verified")
    expect(step.get_by_label("Password")).to_have_value("")  # never shown back
    step.get_by_role("button", name="Verify").click()
    expect(step.locator(".state")).to_have_text("Verified")
    expect(step.get_by_role("status")).to_contain_text("checked")

    # 2. X: the sandbox X's authorize page, then the callback sends the browser back to the
    # console by itself (no page of its own), the code in the fragment.
    account = f"acme_{uuid.uuid4().hex[:8]}"
    x_step = page.get_by_role("region", name="X account")
    x_step.get_by_role("button", name="Connect X").click()
    page.wait_for_url(f"{local_stack.x_sandbox.base_url}/**")
    page.get_by_label("Sign in as @").fill(account)
    with page.expect_response(re.compile(r"/twitter-callback\?")) as callback:
        page.get_by_role("button", name="Authorize app").click()
    assert callback.value.status == 303
    page.wait_for_url(re.compile(r"/console/#/connect-x\?confirmation="))
    expect(page.get_by_role("heading", name="Connect the X account")).to_be_visible()
    expect(page.get_by_text(f"@{account} will be connected to Acme Console")).to_be_visible()
    console.screenshot("connect-x")
    console.assert_accessible()
    page.get_by_role("button", name=f"Connect @{account}").click()
    expect(page.get_by_role("status")).to_contain_text(f"@{account} is connected.")
    assert "confirmation" not in page.url  # the used code is out of the address bar
    page.get_by_role("link", name="Back to the setup").click()
    expect(x_step.locator(".account")).to_contain_text(f"@{account}")
    expect(x_step.locator(".state")).to_have_text("Connected")

    # 3. A custom field, its question edited.
    fields = page.get_by_role("region", name="Custom fields")
    fields.get_by_label("Field name").fill("City")
    fields.get_by_label("Question the bot asks").fill("Which city?")
    fields.get_by_role("button", name="Add field").click()
    expect(fields.get_by_role("status")).to_have_text("Added City.")
    question = fields.get_by_label("Question for City")
    expect(question).to_have_value("Which city?")
    question.fill("Which city do you live in?")
    fields.get_by_role("button", name="Save question").click()
    expect(fields.get_by_role("status")).to_have_text("Saved the question for City.")
    expect(fields.get_by_label("Question for City")).to_have_value("Which city do you live in?")
    fields.get_by_label("Field name").fill("Order")
    fields.get_by_label("Question the bot asks").fill("Which order?")
    fields.get_by_role("button", name="Add field").click()
    expect(fields.locator(".state")).to_have_text("2 asked")
    fields.get_by_role("form", name="Custom field Order").get_by_role(
        "button", name="Delete"
    ).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(fields.get_by_role("status")).to_have_text("Deleted Order.")
    expect(fields.locator(".state")).to_have_text("1 asked")
    expect(fields.get_by_label("Question for Order")).to_have_count(0)

    # 4. The API key: a warning, a confirmation, the key shown once.
    key_step = page.get_by_role("region", name="Developer API key")
    expect(key_step).to_contain_text("the previous key stops working at once")
    key_step.get_by_role("button", name="Generate key").click()
    page.get_by_role("dialog").get_by_role("button", name="Generate").click()
    key = key_step.get_by_label("Your new developer API key (shown once: copy it now)")
    expect(key).not_to_have_value("")
    api_key = key.input_value()

    # 5. The update set's properties, with this tenant's values.
    update_set = page.get_by_role("region", name="ServiceNow update set")
    expect(update_set.locator("dd").nth(0)).to_contain_text(local_stack.base_url)
    expect(update_set.locator("dd").nth(1)).to_contain_text(api_key)
    expect(update_set.locator("dd").nth(2)).to_contain_text(servicenow.admin_user)
    download = update_set.get_by_role("link", name="Download the update set (XML)")
    xml = requests.get(
        f"{local_stack.base_url}/console/{download.get_attribute('href')}", timeout=10
    )
    assert xml.headers["Content-Type"] == "application/xml"
    assert "Twittnow" in xml.text
    console.screenshot("setup-done")
    console.assert_accessible()

    # What the page did, the API shows: the console calls nothing else.
    tenant_token = api.login(new_tenant.username, new_tenant.password)
    [details] = api.get("/servicenow-details/", token=tenant_token).body["results"]
    assert details["status"] == "ok"
    [connection] = api.get("/twitter-details/", token=tenant_token).body["results"]
    assert (connection["screen_name"], connection["status"]) == (account, "connected")
    [custom_field] = api.get("/custom-fields/", token=tenant_token).body["results"]
    assert custom_field["message"] == "Which city do you live in?"
    event = api.post("/events/", token=api_key, json={"number": "CS0000000", "message": "Hi"})
    assert event.status == 404, event.body  # the key is taken; no such case

    # Disconnecting asks first.
    x_step.get_by_role("button", name="Disconnect").click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()
    expect(x_step.locator(".state")).to_have_text("To do")
    expect(x_step.get_by_role("button", name="Connect X")).to_be_visible()
    assert api.get("/twitter-details/", token=tenant_token).body["results"] == []


def test_declining_on_x_comes_back_to_the_console_with_the_reason(
    console, new_tenant, api, local_stack
):
    page = console.page
    console.log_in(new_tenant.username, new_tenant.password)
    x_step = page.get_by_role("region", name="X account")
    x_step.get_by_role("button", name="Connect X").click()
    page.get_by_role("link", name="Cancel").click()

    expect(page.get_by_role("heading", name="X account not connected")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The authorization was declined on X.")
    assert "error" not in page.url  # out of the address bar and the history
    console.screenshot("connect-x-declined")
    console.assert_accessible()
    page.get_by_role("link", name="Back to the setup").click()
    expect(x_step.locator(".state")).to_have_text("To do")
    token = api.login(new_tenant.username, new_tenant.password)
    assert api.get("/twitter-details/", token=token).body["results"] == []

    # The console words the reason itself: a crafted link cannot make it say anything.
    for code in ("Call+555+now", "constructor"):
        page.goto(f"{local_stack.base_url}/console/#/connect-x?error={code}")
        expect(page.get_by_role("alert")).to_contain_text("X did not connect the account.")
        expect(page.get_by_role("alert")).not_to_contain_text("555")


def test_the_callbacks_link_asks_to_log_in_then_connects(console, new_tenant, api):
    """Another tab, or another browser, than the one that started: log in, then confirm."""
    token = api.login(new_tenant.username, new_tenant.password)
    auth_url = api.get("/get-auth-url", token=token).body["auth_url"]
    account = f"acme_{uuid.uuid4().hex[:8]}"
    approved = requests.get(f"{auth_url}&approve={account}", allow_redirects=False, timeout=10)
    page = console.page

    page.goto(approved.headers["Location"])
    page.get_by_role("link", name="Finish in the Twittnow console").click()
    expect(page.get_by_role("heading", name="Log in to Twittnow")).to_be_visible()
    expect(page.get_by_text(f"@{account} will be connected to Acme Console")).to_be_visible()
    page.get_by_label("Username (e-mail)").fill(new_tenant.username)
    page.get_by_label("Password").fill(new_tenant.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name=f"Connect @{account}").click()

    expect(page.get_by_role("status")).to_contain_text(f"@{account} is connected.")
    [connection] = api.get("/twitter-details/", token=token).body["results"]
    assert connection["screen_name"] == account
