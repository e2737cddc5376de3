"""`make demo` (python -m local.demo): the whole loop on a fresh local stack, step by step.

A tenant is created and connects its X account and ServiceNow instance (both sandboxes),
a customer writes to the company in X Chat (end-to-end encrypted: the sandbox customer has
Chat XDK keys of their own), the message becomes a case in ServiceNow, an agent replies,
and the reply reaches the customer in X Chat, encrypted and signed by the company's
account. Every step a tenant or an admin takes goes through the
public HTTP API, as it would on a deployed stack; the customer and the agent act through
the sandboxes' own endpoints. Each step prints its HTTP calls and what they answered.

The stack listens on PORT (default: a free port) and stops at the end, unless --keep.
"""

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

from local.stack import LocalStack, Settings

TENANT_USERNAME = "support@acme.example"
COMPANY_ACCOUNT = "acme"  # the company's X account on the sandbox X
CUSTOMER = "jane"
CUSTOMER_MESSAGE = "Hi, my order #1234 has not arrived. Can you help?"
AGENT_REPLY = "Sorry about that, Jane! A replacement ships today."
QUEUE_WAIT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 30
FUNCTIONS_LOGGER = "twittnow"  # the functions' Powertools logger: observability.SERVICE


class StepFailed(Exception):
    pass


class Demo:
    """The steps, printed as they run, against a started stack."""

    def __init__(self, stack: LocalStack):
        assert stack.x_sandbox and stack.servicenow_sandbox, "the demo runs on the sandboxes"
        self.stack = stack
        self.servicenow_sandbox = stack.servicenow_sandbox
        self.api = stack.base_url
        self.x = stack.x_sandbox.base_url
        self.servicenow = stack.servicenow_sandbox.base_url
        self.step_number = 0
        self.title = ""

    def run(self) -> None:
        stack = self.stack
        admin = self.log_in("The admin logs in", stack.admin_username, stack.admin_password)
        password = secrets.token_urlsafe(12)
        self.create_tenant(admin, password)
        token = self.log_in("The tenant logs in", TENANT_USERNAME, password)
        self.point_at_servicenow(token)
        self.connect_x(token)
        self.connect_servicenow_to_the_api(token)
        self.customer_writes()
        self.wait_for_queues(
            "The inbound processor decrypts the message, opens a case and acknowledges it"
        )
        case = self.show_case()
        self.show_received("The customer got the case number in X Chat", count=1)
        self.agent_replies(case)
        self.wait_for_queues("The sender encrypts the reply and sends it to the customer")
        self.show_received("The customer got the agent's reply in X Chat", count=2)
        self.show_conversation(token)

    # ------------------------------------------------------------ the steps

    def log_in(self, title: str, username: str, password: str) -> str:
        self.step(title)
        body = {"username": username, "password": password}
        login = self.call("POST", self.api, "/auth/login/", json=body).json()
        self.show(f"token for {login['user']['username']}, valid until {login['expiry']}")
        return login["token"]

    def create_tenant(self, admin_token: str, password: str) -> None:
        self.step("The admin creates a tenant: a company using Twittnow")
        body = {"username": TENANT_USERNAME, "password": password, "company_name": "Acme"}
        user = self.call("POST", self.api, "/auth/users/", token=admin_token, json=body).json()
        self.show(f"user {user['username']} (id {user['id']}), password {password}")

    def point_at_servicenow(self, token: str) -> None:
        self.step("The tenant gives its ServiceNow instance: the sandbox ServiceNow")
        sandbox = self.servicenow_sandbox
        body = {
            "instance_url": sandbox.base_url,
            "admin_user": sandbox.admin_user,
            "admin_password": sandbox.admin_password,
        }
        details = self.call("POST", self.api, "/servicenow-details/", token=token, json=body).json()
        self.show(f"instance {details['instance_url']} as {details['admin_user']}")

    def connect_x(self, token: str) -> None:
        self.step(f"The tenant connects its X account @{COMPANY_ACCOUNT} (OAuth 2.0 with PKCE)")
        auth_url = self.call("GET", self.api, "/get-auth-url", token=token).json()["auth_url"]
        self.show(f"auth_url {auth_url}")
        self.show("the tenant opens it and approves Twittnow on X's OAuth 2.0 page:")
        approved = self.call("GET", auth_url, f"&approve={COMPANY_ACCOUNT}", expect=302, label="X")
        callback = urlsplit(approved.headers["Location"])
        self.show(f"X redirects to {callback.path} with a code, which Twittnow exchanges")
        pending = self.call("GET", self.api, f"{callback.path}?{callback.query}&format=json").json()
        self.show(pending["message"])
        self.show("the tenant confirms with the one-time code the page showed:")
        body = {"confirmation": pending["confirmation"]}
        connected = self.call(
            "POST", self.api, "/twitter-callback/confirm/", token=token, json=body
        ).json()
        self.show(
            f"@{connected['screen_name']} connected (X user {connected['x_user_id']}, "
            f"{connected['auth']}: its calls to X carry its bearer token)"
        )

    def connect_servicenow_to_the_api(self, token: str) -> None:
        self.step("The tenant's ServiceNow gets the developer API key, to send agents' replies")
        key = self.call("POST", self.api, "/api-key/", token=token).json()["token"]
        self.show(f"key {key[:6]}… (shown once)")
        settings = {"events_url": f"{self.stack.public_base_url}/events/", "api_key": key}
        self.call("PUT", self.servicenow, "/sandbox/settings", json=settings, label="ServiceNow")
        self.show(f"the instance posts case updates to {settings['events_url']}")

    def customer_writes(self) -> None:
        self.step(f"@{CUSTOMER} writes to @{COMPANY_ACCOUNT} in X Chat")
        body = {"to": COMPANY_ACCOUNT, "text": CUSTOMER_MESSAGE}
        path = f"/sandbox/customers/{CUSTOMER}/chat"
        sent = self.call("POST", self.x, path, json=body, label="X").json()
        self.show(f'"{sent["chat"]["text"]}", encrypted with key {sent["chat"]["key_version"]}')
        for delivery in sent["deliveries"]:
            self.show(f"X delivered it to {delivery['url']}: {delivery['status']}")

    def wait_for_queues(self, title: str) -> None:
        self.step(title)
        started = time.monotonic()
        if not self.stack.drain(QUEUE_WAIT_SECONDS):
            raise StepFailed(f"the queues still held messages after {QUEUE_WAIT_SECONDS} s")
        self.show(f"the queues are empty after {time.monotonic() - started:.1f} s")

    def show_case(self) -> dict:
        self.step("The case in ServiceNow")
        overview = self.call("GET", self.servicenow, "/sandbox", label="ServiceNow").json()
        cases = [c for c in overview["cases"] if c["short_description"].endswith(f"@{CUSTOMER}")]
        if not cases:
            raise StepFailed(f"no case for @{CUSTOMER} in the sandbox ServiceNow")
        case = cases[0]
        consumers = {consumer["sys_id"]: consumer for consumer in overview["consumers"]}
        consumer = consumers.get(case["consumer"], {"name": "?", "number": case["consumer"]})
        self.show(f"case {case['number']}: {case['short_description']}")
        self.show(
            f"consumer {consumer['number']} ({consumer['name']}), contact type "
            f"{case['contact_type']}"
        )
        return case

    def show_received(self, title: str, count: int) -> None:
        """What the customer's X Chat app shows: the sandbox decrypts as the customer and
        checks each message's signature with the company account's registered key."""
        self.step(title)
        path = f"/sandbox/customers/{CUSTOMER}/chat"
        received = self.call("GET", self.x, path, label="X").json()["messages"]
        if len(received) < count:
            raise StepFailed(f"@{CUSTOMER} received {len(received)} messages, not {count}")
        latest = received[count - 1]
        signed = "verified" if latest["verified"] else "NOT verified"
        self.show(f'X Chat to @{CUSTOMER}, signature {signed}: "{latest["text"]}"')

    def agent_replies(self, case: dict) -> None:
        self.step(f"An agent comments on {case['number']} in ServiceNow")
        path = f"/sandbox/cases/{case['number']}/comment"
        answer = self.call(
            "POST", self.servicenow, path, json={"text": AGENT_REPLY}, label="ServiceNow"
        )
        event = answer.json()["event"]
        if event["status"] != 202:
            raise StepFailed(f"POST /events/ answered {event['status']} {event['error']}".strip())
        self.show(f'"{AGENT_REPLY}"')
        self.show(f"the instance's business rule posted it to POST /events/: {event['status']}")

    def show_conversation(self, token: str) -> None:
        self.step("The tenant's view of the conversation")
        conversations = self.call("GET", self.api, "/conversations/", token=token).json()
        if not conversations["results"]:
            raise StepFailed("GET /conversations/ listed nothing")
        conversation = conversations["results"][0]
        self.show(
            f"@{conversation['customer_screen_name']} by {conversation['channel']}, "
            f"{conversation['status']}, case {conversation['case_number']}"
        )
        path = f"/conversations/{conversation['id']}/messages/"
        for message in self.call("GET", self.api, path, token=token).json()["results"]:
            self.show(f'{message["author"]:>8} ({message["status"]}): "{message["text"]}"')

    # ------------------------------------------------------------ printing and calling

    def step(self, title: str) -> None:
        self.step_number += 1
        self.title = title
        print(f"\n{self.step_number:>2}. {title}", flush=True)

    def show(self, line: str) -> None:
        print(f"      {line}", flush=True)

    def call(
        self,
        method: str,
        base: str,
        path: str,
        *,
        token: str | None = None,
        json: dict | None = None,
        expect: int | None = None,
        label: str = "",
    ) -> requests.Response:
        """One HTTP call, printed with its answer's status. A status other than `expect`
        (by default: any 2xx) fails the step."""
        headers = {"Authorization": f"Token {token}"} if token else {}
        url = base + path
        shown = f"{label}: " if label else ""
        try:
            answer = requests.request(
                method,
                url,
                json=json,
                headers=headers,
                allow_redirects=False,
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        except requests.RequestException as error:
            raise StepFailed(f"{method} {url} failed: {error}") from None
        call = f"{method} {urlsplit(url).path}"
        self.show(f"{shown}{call} -> {answer.status_code}")
        if (answer.status_code != expect) if expect else not answer.ok:
            detail = answer.json().get("error") if _is_json(answer) else answer.text[:200]
            raise StepFailed(f"{call} answered {answer.status_code}: {detail}")
        return answer


def _is_json(answer: requests.Response) -> bool:
    return answer.headers.get("Content-Type", "").startswith("application/json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack running afterwards, until Ctrl-C"
    )
    arguments = parser.parse_args(argv)
    port = os.environ.get("PORT") or "0"
    if not port.isdigit():
        print(f"PORT must be a port number, not {port!r}.", file=sys.stderr)
        return 2

    print("Twittnow demo: a customer's X Chat message becomes a ServiceNow case, and the agent's")
    print("reply reaches the customer in X Chat. Starting a local stack with sandbox X and")
    print("ServiceNow…")
    # Its embedded AWS in a child process: moto keeps one set of tables and queues per
    # process, so a second demo in one process (the tests run several) would find the first's.
    stack = LocalStack(Settings(port=int(port)), isolated_aws=True)
    try:
        stack.start()
    except OSError as error:  # the port is taken, most often
        print(f"The local stack could not start: {error}", file=sys.stderr)
        return 1
    try:
        return _run(stack, arguments.keep)
    finally:
        stack.stop()


def _run(stack: LocalStack, keep: bool) -> int:
    demo = Demo(stack)
    print(f"API {demo.api}, X {demo.x}, ServiceNow {demo.servicenow}")
    try:
        with _functions_logging_quiet():
            demo.run()
    except StepFailed as error:
        print(f"\nStep {demo.step_number} ({demo.title}) failed: {error}", file=sys.stderr)
        return 1
    print("\nDone: the message became a case, and the agent's reply reached the customer.")
    if keep:
        print(
            f"\nSee it in the console, {stack.base_url}/console/ (Conversations), as the admin:",
            flush=True,
        )
        print(f"\n{stack.banner()}", flush=True)
        _wait_for_ctrl_c()
    return 0


@contextmanager
def _functions_logging_quiet() -> Iterator[None]:
    """The functions' INFO lines would bury the steps; their warnings and errors still show."""
    functions_logger = logging.getLogger(FUNCTIONS_LOGGER)
    level = functions_logger.level  # the template's LogLevel, set as the functions loaded
    functions_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        functions_logger.setLevel(level)


def _wait_for_ctrl_c() -> None:
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())
    stopping.wait()


if __name__ == "__main__":
    sys.exit(main())
