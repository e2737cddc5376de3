"""The local stack's settings from the environment, the functions' environment it makes of
them, its state file, and its banner."""

import json
import os
import stat
from pathlib import Path

import pytest

from local.stack import FUNCTION_VARIABLES, LocalStack, Settings
from local.template import Deployment, load_template
from sandboxes.servicenow import ServiceNowSandbox
from sandboxes.x import XSandbox

TEMPLATE = load_template(Deployment(aws_endpoint_url="http://127.0.0.1:1"))

# A value for each variable of DESIGN.md's table that the functions read, none of them
# the template's default or one the stack makes up.
OPERATOR_VALUES = {
    "PUBLIC_BASE_URL": "https://abc.ngrok.app",
    "X_API_BASE_URL": "https://x-mock.example.com",
    "X_CONSUMER_KEY": "operator-consumer-key",
    "X_CONSUMER_SECRET": "operator-consumer-secret",
    "X_CLIENT_ID": "operator-client-id",
    "X_CLIENT_SECRET": "operator-client-secret",
    "X_OAUTH2_AUTHORIZE_URL": "https://x-mock.example.com/i/oauth2/authorize",
    "SERVICENOW_ALLOWED_HOSTS": "*.servicenowservices.com,acme.example.com:8443",
}


def test_defaults_when_the_environment_says_nothing():
    settings = Settings.from_environment({})

    assert settings == Settings(
        port=3000,
        public_base_url=None,
        admin_username="admin@example.com",
        admin_password=None,
    )


def test_the_environment_sets_every_setting():
    settings = Settings.from_environment(
        {
            "PORT": "8080",
            "PUBLIC_BASE_URL": "https://abc.ngrok.app",
            "ADMIN_USERNAME": "ops@example.com",
            "ADMIN_PASSWORD": "chosen password",
        }
    )

    assert settings == Settings(
        8080,
        "https://abc.ngrok.app",
        "ops@example.com",
        "chosen password",
        function_variables={"PUBLIC_BASE_URL": "https://abc.ngrok.app"},
    )


def test_the_functions_variables_the_operator_sets_are_kept_to_pass_on():
    environ = {
        **OPERATOR_VALUES,
        "SERVICENOW_ALLOWED_HOSTS": "",  # empty counts as unset, as for every setting
        "PORT": "8080",
        "ADMIN_PASSWORD": "chosen password",
        "USERS_TABLE": "not the operator's to set",
    }

    settings = Settings.from_environment(environ)

    expected = {name: value for name, value in OPERATOR_VALUES.items()}
    del expected["SERVICENOW_ALLOWED_HOSTS"]
    assert settings.function_variables == expected
    assert set(OPERATOR_VALUES) == set(FUNCTION_VARIABLES)
    # They carry secrets: the settings' repr leaves them out.
    assert "operator-consumer-secret" not in repr(settings)


def test_a_port_must_be_a_number():
    with pytest.raises(ValueError, match="PORT"):
        Settings.from_environment({"PORT": "http"})


def test_a_generated_admin_password_is_shown_in_the_banner_with_the_login_curl():
    stack = LocalStack(Settings())
    stack.base_url = "http://localhost:3000"

    banner = stack.banner()

    assert stack.admin_password_generated
    assert len(stack.admin_password) >= 16
    assert f"Admin password {stack.admin_password}" in banner
    assert (
        "curl -X POST http://localhost:3000/auth/login/ --data "
        f'\'{{"username": "admin@example.com" ,"password":"{stack.admin_password}"}}\' '
        '--header "Content-Type: application/json"'
    ) in banner


def test_each_stack_generates_its_own_admin_password():
    assert LocalStack(Settings()).admin_password != LocalStack(Settings()).admin_password


# ---------------------------------------------------------------- the functions' environment


@pytest.fixture(scope="module")
def sandboxes():
    with (
        XSandbox("sandbox-consumer-key", "sandbox-consumer-secret") as x,
        ServiceNowSandbox("twittnow.integration", "sandbox-password") as servicenow,
    ):
        yield x, servicenow


def started_stack(settings: Settings, sandboxes=(None, None)) -> LocalStack:
    """A stack as far as its start sets the functions' environment (no AWS: not needed)."""
    stack = LocalStack(settings)
    stack.base_url = "http://localhost:3000"
    stack.public_base_url = settings.public_base_url or stack.base_url
    stack.template = TEMPLATE
    stack.aws.endpoint_url = "http://127.0.0.1:1"
    stack.x_sandbox, stack.servicenow_sandbox = sandboxes
    stack._set_function_environment(TEMPLATE)
    stack.environment.restore()  # os.environ as before: the values stay in stack.environment
    return stack


def test_the_operators_values_win_over_the_templates_and_the_sandboxes(sandboxes):
    servicenow = sandboxes[1]
    stack = started_stack(
        Settings(public_base_url="https://abc.ngrok.app", function_variables=OPERATOR_VALUES),
        sandboxes,
    )

    environment = stack.environment.values
    sandbox_host = servicenow.base_url.removeprefix("http://")
    for name, value in OPERATOR_VALUES.items():
        if name == "SERVICENOW_ALLOWED_HOSTS":
            # The sandbox ServiceNow stays usable: its loopback host:port is added.
            assert environment[name] == f"{value},{sandbox_host}"
        else:
            assert environment[name] == value, name


def test_without_the_operators_values_the_functions_get_the_templates_and_the_sandboxes(
    sandboxes,
):
    x, servicenow = sandboxes

    environment = started_stack(Settings(), sandboxes).environment.values

    assert environment["SERVICENOW_ALLOWED_HOSTS"] == (
        f"*.service-now.com,{servicenow.base_url.removeprefix('http://')}"
    )
    assert environment["X_API_BASE_URL"] == x.base_url
    assert environment["X_CONSUMER_KEY"] == "sandbox-consumer-key"
    assert environment["X_CONSUMER_SECRET"] == "sandbox-consumer-secret"
    assert environment["PUBLIC_BASE_URL"] == "http://localhost:3000"
    # The sandbox X's own OAuth 2.0 client and authorize page.
    assert (environment["X_CLIENT_ID"], environment["X_CLIENT_SECRET"]) == (
        x.client_id,
        x.client_secret,
    )
    assert environment["X_OAUTH2_AUTHORIZE_URL"] == x.oauth2_authorize_url


def test_the_sandbox_x_is_made_with_the_operators_oauth2_client_when_given(monkeypatch):
    stack = LocalStack(Settings(x_client_id="operator-id", x_client_secret="operator-secret"))
    stack._start_x_sandbox()
    try:
        assert (stack.x_sandbox.client_id, stack.x_sandbox.client_secret) == (
            "operator-id",
            "operator-secret",
        )
    finally:
        stack.x_sandbox.stop()


def test_with_the_real_x_the_allow_list_is_the_operators_alone():
    environment = started_stack(
        Settings(
            sandbox=False,
            x_consumer_key="k",
            x_consumer_secret="s",
            function_variables=OPERATOR_VALUES,
        ),
    ).environment.values

    assert environment["SERVICENOW_ALLOWED_HOSTS"] == OPERATOR_VALUES["SERVICENOW_ALLOWED_HOSTS"]
    assert environment["X_API_BASE_URL"] == OPERATOR_VALUES["X_API_BASE_URL"]


def test_tracing_is_off_unless_the_operator_turns_it_on(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    untraced = started_stack(Settings()).environment.values
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    traced = started_stack(Settings()).environment.values

    assert untraced["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert traced["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_the_stack_sets_the_operators_values_in_the_functions_process(monkeypatch, sandboxes):
    monkeypatch.setenv("SERVICENOW_ALLOWED_HOSTS", "*.servicenowservices.com")
    stack = LocalStack(Settings.from_environment(os.environ))
    stack.public_base_url = "http://localhost:3000"
    stack.servicenow_sandbox = sandboxes[1]

    stack._set_function_environment(TEMPLATE)
    try:
        in_force = os.environ["SERVICENOW_ALLOWED_HOSTS"]
    finally:
        stack.environment.restore()

    assert in_force.split(",") == [
        "*.servicenowservices.com",
        sandboxes[1].base_url.removeprefix("http://"),
    ]
    assert os.environ["SERVICENOW_ALLOWED_HOSTS"] == "*.servicenowservices.com"


# ---------------------------------------------------------------- the state file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_the_state_file_is_the_owners_alone_from_its_creation(tmp_path, monkeypatch, umask):
    state_file = tmp_path / ".local" / "stack.json"
    state_file.parent.mkdir()
    state_file.write_text("{}")  # a previous stack's, readable by all
    state_file.chmod(0o644)
    stale = state_file.with_suffix(".tmp")  # left by a stack that died mid-write
    stale.write_text("")
    stale.chmod(0o666)
    # The temporary file's mode when it takes the state file's name: what it had since
    # it was created, as nothing changes modes in between.
    modes_when_renamed = []
    rename = Path.replace

    def spying_rename(self, target):
        modes_when_renamed.append(mode(self))
        return rename(self, target)

    monkeypatch.setattr(Path, "replace", spying_rename)
    stack = started_stack(Settings())
    previous_umask = os.umask(umask)
    try:
        stack._write_state_file(state_file)
    finally:
        os.umask(previous_umask)

    assert modes_when_renamed == [0o600]
    assert mode(state_file) == 0o600
    assert not stale.exists()
    assert json.loads(state_file.read_text())["api_url"] == "http://localhost:3000"


def test_the_state_file_keeps_the_operators_secrets_out_and_the_sandboxs_in(tmp_path, sandboxes):
    operator = started_stack(Settings(function_variables=OPERATOR_VALUES), sandboxes)
    generated = started_stack(Settings(), sandboxes)

    operator._write_state_file(tmp_path / "operator.json")
    generated._write_state_file(tmp_path / "generated.json")

    written = (tmp_path / "operator.json").read_text()
    assert "operator-consumer-secret" not in written
    assert "operator-client-secret" not in written
    assert json.loads(written)["environment"]["X_CONSUMER_KEY"] == "operator-consumer-key"
    # Operator commands reach the sandbox X with the credentials the stack generated.
    environment = json.loads((tmp_path / "generated.json").read_text())["environment"]
    assert environment["X_CONSUMER_SECRET"] == "sandbox-consumer-secret"


def test_a_stopped_stack_removes_its_state_file(tmp_path):
    state_file = tmp_path / "stack.json"
    stack = started_stack(Settings())
    stack.state_file = state_file
    stack._write_state_file(state_file)

    stack.stop()

    assert not state_file.exists()
