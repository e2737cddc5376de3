"""Swagger UI at /docs renders the API's document offline: its files come from the stack,
and the page's policy admits nothing else (the console fixture fails on any request off
loopback and on any console error, CSP violations included)."""

import pytest
import requests
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_swagger_ui_renders_the_document_from_the_stack_alone(console):
    page = console.page
    page.goto("/docs")

    expect(page.get_by_role("heading", name="Twittnow API")).to_be_visible()
    expect(page.get_by_text("/auth/login/").first).to_be_visible()
    console.screenshot("docs")


def test_the_console_is_served_with_its_policy_and_comes_back_to_its_folder(local_stack):
    redirected = requests.get(f"{local_stack.base_url}/console", timeout=10)

    assert redirected.url == f"{local_stack.base_url}/console/"
    assert redirected.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in redirected.headers["Content-Security-Policy"]
    assert redirected.headers["Cache-Control"] == "no-cache"
