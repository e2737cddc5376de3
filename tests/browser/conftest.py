"""The console in a real browser: Playwright driving Debian's chromium (/usr/bin/chromium,
which .ci/run installs where missing; Playwright downloads no browser), against this test
process's local stack with both sandboxes.

Every page a test opens is watched: a request to anything but the stack and its sandboxes
(all on loopback), a console error or a Content-Security-Policy violation fails the test.
Screenshots go to artifacts/browser/ (gitignored), one per page and width."""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.api.client import ApiClient, Tenant
from tests.api.desks import Desk, close_desk, open_desk
from tests.conftest import started_stack

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
LOOPBACK = {"localhost", "127.0.0.1"}
EXPECTED_API_ERROR = re.compile(
    r"Failed to load resource: the server responded with a status of 4\d\d"
)
# Playwright's own waits (a locator's, expect's): the console refreshes every 5 seconds.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(autouse=True)
def _local_stack_environment(stack_environment):
    yield


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """The browser tests' own stack: by the end of the suite, the one the other tests share
    holds hundreds of tenants and accounts, whose lists the console's pages would wait on."""
    yield from started_stack(tmp_path_factory)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "The browser tests drive Debian's chromium: apt-get install -y chromium "
            "(.ci/run installs it where missing)."
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield launched
    launched.close()


@dataclass
class Watched:
    """What a page did that a test must not let pass."""

    outside_requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def console(browser, local_stack) -> Iterator["Console"]:
    context = browser.new_context(viewport=DESKTOP, base_url=local_stack.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = Watched()
    page.on("request", lambda request: _check_origin(request.url, watched))
    page.on("console", lambda message: _check_message(message, watched))
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    yield Console(page, local_stack)
    context.close()
    assert watched.outside_requests == [], "the page loaded something from outside"
    assert watched.errors == [], "the page logged errors"


def _check_message(message: ConsoleMessage, watched: Watched) -> None:
    # Chromium logs every 4xx a fetch gets; the tests cause some on purpose, and check
    # that the page shows them.
    if message.type == "error" and not EXPECTED_API_ERROR.match(message.text):
        watched.errors.append(message.text)


def _check_origin(url: str, watched: Watched) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob"):
        return
    if parts.hostname not in LOOPBACK:
        watched.outside_requests.append(url)


class Console:
    """The console's page, with what the tests do on it."""

    def __init__(self, page: Page, stack):
        self.page = page
        self.stack = stack

    def open(self, route: str = "") -> None:
        self.page.goto(f"/console/{route}")

    def log_in(self, username: str, password: str) -> None:
        self.open()
        self.page.get_by_label("Username (e-mail)").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.get_by_role("button", name="Log out").wait_for()

    def screenshot(self, name: str) -> None:
        """The page at a desktop's width and at a phone's (375 px), as test artifacts."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for label, viewport in (("desktop", DESKTOP), ("375px", PHONE)):
            self.page.set_viewport_size(viewport)
            self.page.screenshot(path=ARTIFACTS / f"{name}-{label}.png", full_page=True)
        self.page.set_viewport_size(DESKTOP)

    def assert_accessible(self) -> None:
        """axe-core finds no serious or critical violation on the page as it is."""
        results = Axe().run(self.page)
        serious = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} at "
            + ", ".join(str(node["target"]) for node in violation["nodes"])
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert serious == []


@pytest.fixture
def api(local_stack) -> ApiClient:
    client = ApiClient(local_stack, over_http=True)
    client.admin_token = client.login(local_stack.admin_username, local_stack.admin_password)
    return client


@pytest.fixture
def new_tenant(api) -> Tenant:
    """A tenant with nothing set up yet."""
    username, password = f"console-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex
    created = api.post(
        "/auth/users/",
        token=api.admin_token,
        json={"username": username, "password": password, "company_name": "Acme Console"},
    )
    assert created.status == 201, created.body
    return Tenant(created.body["id"], username, password, "")


@pytest.fixture
def desk(api) -> Iterator[Desk]:
    """A tenant set up through the API, with the sandbox ServiceNow and a sandbox X account."""
    opened = open_desk(api)
    yield opened
    close_desk(opened)
