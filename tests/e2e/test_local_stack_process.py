"""`python -m local` as `make run` starts it: its settings come from the operator's
environment, signals stop it, and its state file is the operator's alone while it runs."""

import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from local.template import REPO_ROOT
from sandboxes.servicenow import ServiceNowSandbox

pytestmark = pytest.mark.e2e

ADMIN_USERNAME = "admin@example.com"
ADMIN_PASSWORD = "process-admin-password"
START_TIMEOUT_SECONDS = 120  # two CPUs shared with other test processes: starts can be slow
STOP_TIMEOUT_SECONDS = 30


@pytest.fixture(autouse=True)
def _local_stack_environment():
    """Overrides the end-to-end tests' fixture: these tests start their own stacks, which
    must not inherit the shared one's variables as if the operator had set them."""
    yield


class StackProcess:
    """`python -m local` with `environment` added to this process's, on a free port, its
    state file in `directory`. Its output is read as it comes, so that it never blocks."""

    def __init__(self, directory: Path, environment: dict[str, str] | None = None):
        self.state_file = directory / "stack.json"
        self.log_file = directory / "stack.log"
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local", "--state-file", str(self.state_file)],
                cwd=REPO_ROOT,
                env={
                    **os.environ,
                    "PORT": "0",
                    "ADMIN_USERNAME": ADMIN_USERNAME,
                    "ADMIN_PASSWORD": ADMIN_PASSWORD,
                    **(environment or {}),
                },
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_output, daemon=True).start()
        self.base_url = self._wait_for_banner()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_banner(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        base_url = ""
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"python -m local exited while starting:\n{self.log()}")
            if line.startswith("  API  "):
                base_url = line.split()[1]
            if line.startswith("Ctrl-C stops it."):
                return base_url
        self.process.kill()
        pytest.fail(
            f"python -m local printed no banner in {START_TIMEOUT_SECONDS} s:\n{self.log()}"
        )

    def log(self) -> str:
        return self.log_file.read_text()

    def exit_status(self) -> int | None:
        """Its exit status, once it exits; None (and it is killed) if it takes too long."""
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.exit_status()


@pytest.fixture
def start_stack(tmp_path):
    started: list[StackProcess] = []

    def start(environment: dict[str, str] | None = None) -> StackProcess:
        directory = tmp_path / f"stack-{len(started)}"
        directory.mkdir()
        started.append(StackProcess(directory, environment))
        return started[-1]

    yield start
    for stack in started:
        stack.stop()


def call(stack: StackProcess, method: str, path: str, token: str | None = None, **body):
    headers = {"Authorization": f"Token {token}"} if token else {}
    return requests.request(
        method, stack.base_url + path, json=body or None, headers=headers, timeout=30
    )


def tenant_token(stack: StackProcess) -> str:
    admin = call(stack, "POST", "/auth/login/", username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    username, password = f"tenant-{uuid.uuid4().hex[:12]}@example.com", uuid.uuid4().hex
    created = call(
        stack,
        "POST",
        "/auth/users/",
        admin.json()["token"],
        username=username,
        password=password,
        company_name="Acme",
    )
    assert created.status_code == 201, created.text
    return call(stack, "POST", "/auth/login/", username=username, password=password).json()["token"]


# ---------------------------------------------------------------- the operator's environment


def test_the_operators_allow_list_is_the_one_the_functions_enforce(start_stack):
    # An instance on loopback, outside the stack: only an allow-list naming it admits it.
    with ServiceNowSandbox("twittnow.integration", "instance-password") as instance:
        instance_url = instance.base_url
        host = instance_url.removeprefix("http://")
        stack = start_stack({"SERVICENOW_ALLOWED_HOSTS": f"*.servicenowservices.com,{host}"})
        token = tenant_token(stack)

        outside = call(
            stack,
            "POST",
            "/servicenow-details/",
            token,
            instance_url="https://dev12345.service-now.com",
            admin_user="twittnow.integration",
            admin_password="instance-password",
        )
        configured = call(
            stack,
            "POST",
            "/servicenow-details/",
            token,
            instance_url=instance_url,
            admin_user="twittnow.integration",
            admin_password="instance-password",
        )
        assert configured.status_code == 201, configured.text
        verified = call(
            stack, "POST", f"/servicenow-details/{configured.json()['id']}/verify/", token
        )

    assert configured.json()["instance_url"] == instance_url
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "ok", verified.json()
    # The operator's list replaces the template's *.service-now.com: it is not added to it.
    assert outside.status_code == 400, outside.text
    assert outside.json()["code"] == "VALIDATION_ERROR"
    assert "instance_url" in outside.json()["details"]


# ---------------------------------------------------------------- signals and the state file


def send_back_to_back(pid: int, signals: tuple[signal.Signals, ...]) -> None:
    for signal_number in signals:
        try:
            os.kill(pid, signal_number)
        except ProcessLookupError:
            return  # it exited between two: what a stop should do anyway


# Two different signals: a second SIGINT that lands before the first is handled merges
# with it. The deadlock this guards against (a handler that takes threading.Event's lock
# while the main thread holds it in Event.wait) needs the second signal to land in the few
# bytecodes after the first woke the main thread: a run of the old handler hung in about
# one run in four, so the test makes several.
SIGNAL_PAIRS = [(signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGTERM)] * 3


@pytest.mark.parametrize(
    "signals",
    SIGNAL_PAIRS,
    ids=[
        f"{first.name}+{second.name}-{run // 2}" for run, (first, second) in enumerate(SIGNAL_PAIRS)
    ],
)
def test_two_signals_at_once_stop_the_stack_and_remove_its_state_file(start_stack, signals):
    stack = start_stack()
    running_mode = stat.S_IMODE(stack.state_file.stat().st_mode)
    time.sleep(0.2)  # past the banner, into the wait for a signal

    send_back_to_back(stack.process.pid, signals)
    status = stack.exit_status()

    assert status == 0, f"exit status {status} (None: still running)\n{stack.log()}"
    assert "received: stopping the local stack." in stack.log()
    # It holds the X app's secret: the operator's alone, and gone with the stack.
    assert running_mode == 0o600
    assert not stack.state_file.exists()
