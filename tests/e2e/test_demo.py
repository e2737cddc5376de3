"""`make demo`: the guided demo runs the whole loop on its own local stack and prints it."""

import logging
import re

import pytest

from local import demo

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _local_stack_environment():
    """Overrides the end-to-end tests' fixture: the demo starts its own stack, and the
    shared one's variables must not be set meanwhile."""
    yield


def test_the_demo_prints_each_step_from_a_new_tenant_to_the_reply_on_x(capsys, monkeypatch):
    monkeypatch.delenv("PORT", raising=False)  # a free port

    assert demo.main([]) == 0

    output = capsys.readouterr().out
    steps = re.findall(r"^ ?(\d+)\. ", output, re.MULTILINE)
    assert steps == [str(number) for number in range(1, 15)]
    for call in (
        "POST /auth/users/ -> 201",
        "POST /servicenow-details/ -> 201",
        "GET /get-auth-url -> 200",
        "X: GET /i/oauth2/authorize -> 302",
        "GET /twitter-callback -> 200",
        "POST /twitter-callback/confirm/ -> 200",
        "POST /api-key/ -> 201",
        "ServiceNow: PUT /sandbox/settings -> 200",
        "X: POST /sandbox/customers/jane/chat -> 200",
        "X: GET /sandbox/customers/jane/chat -> 200",
        "ServiceNow: POST /sandbox/cases/",
        "GET /conversations/ -> 200",
    ):
        assert call in output
    number = re.search(r"case (CS\d+): X Chat message from @jane", output).group(1)
    to_jane = 'X Chat to @jane, signature verified: "'
    assert f"{to_jane}Thanks for getting in touch! We opened case {number}" in output
    assert f'{to_jane}{demo.AGENT_REPLY}"' in output
    assert f'   agent (delivered): "{demo.AGENT_REPLY}"' in output
    assert f"@{demo.COMPANY_ACCOUNT} connected (X user " in output
    assert "oauth2: its calls to X carry its bearer token" in output
    assert output.rstrip().endswith("reached the customer.")
    # The functions log at their own level again, for the tests that follow.
    assert logging.getLogger(demo.FUNCTIONS_LOGGER).level == logging.INFO


def test_a_failing_step_stops_the_demo_with_a_clear_message(capsys, monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setattr(demo, "TENANT_USERNAME", "not an email address")

    assert demo.main([]) == 1

    captured = capsys.readouterr()
    assert "\n 3. " not in captured.out
    assert captured.err.strip().startswith(
        "Step 2 (The admin creates a tenant: a company using Twittnow) failed: "
        "POST /auth/users/ answered 400: Invalid input. username"
    )


def test_a_port_that_is_not_a_number_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("PORT", "http")
    assert demo.main([]) == 2
    assert "PORT must be a port number" in capsys.readouterr().err
