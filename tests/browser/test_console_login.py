"""Logging in and out of the console: the token kept for the tab's session only, its
expiry shown, the login throttle's message and wait shown as the API gives them."""

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_the_session_lives_in_the_tab_and_ends_at_log_out(console, new_tenant, api):
    page = console.page
    console.open()
    expect(page.get_by_role("heading", name="Log in to Twittnow")).to_be_visible()
    console.screenshot("login")
    console.assert_accessible()

    console.log_in(new_tenant.username, new_tenant.password)
    stored = page.evaluate("() => JSON.parse(sessionStorage.getItem('twittnow.session'))")
    assert stored["user"]["username"] == new_tenant.username
    assert page.evaluate("() => localStorage.length") == 0
    expect(page.locator(".expiry time")).to_have_attribute("datetime", stored["expiry"])
    page.reload()  # the tab keeps its session
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    revoked = api.get("/custom-fields/", token=stored["token"])
    assert revoked.status == 401  # the token is revoked, not only forgotten


def test_a_revoked_session_sends_the_person_back_to_log_in(console, new_tenant, api):
    console.log_in(new_tenant.username, new_tenant.password)
    stored = console.page.evaluate("() => JSON.parse(sessionStorage.getItem('twittnow.session'))")
    assert api.post("/auth/logout/", token=stored["token"]).status == 204

    console.page.get_by_role("link", name="Conversations").click()
    expect(console.page.get_by_role("heading", name="Log in to Twittnow")).to_be_visible()
    expect(console.page.get_by_role("status")).to_contain_text("Log in again.")


def test_the_login_throttle_shows_its_message_and_wait(console):
    page = console.page
    console.open()
    username = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_label("Username (e-mail)").fill(username)
    page.get_by_label("Password").fill("wrong password")
    button = page.get_by_role("button", name="Log in")
    alert = page.get_by_role("alert")
    for _ in range(5):
        button.click()
        expect(alert).to_contain_text("Request id")
        expect(button).to_be_enabled()
    button.click()

    expect(alert).to_contain_text("Too many failed logins")
    expect(alert.locator(".retry")).to_have_text(re.compile(r"Wait \d+ seconds"))
    expect(button).to_be_disabled()
    console.screenshot("login-throttled")
