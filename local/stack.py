"""The whole local stack: embedded AWS, the template's functions behind a local API Gateway
and queue pollers, and the admin to log in with."""

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from auth import logic
from local import iam
from local.aws import EmbeddedAws
from local.environment import EnvironmentChanges
from local.gateway import Gateway, HttpRequest, HttpResponse, Router
from local.queues import QueuePollers
from local.runtime import Runtime
from local.schedules import SchedulePollers, seconds_setting
from local.template import (
    DEFAULT_STACK_NAME,
    LOCAL_ACCOUNT_ID,
    REPO_ROOT,
    Deployment,
    Template,
    load_template,
)
from sandboxes.servicenow import ServiceNowSandbox
from sandboxes.x import XSandbox
from twittnow.clients.x import AppCredentials, XClient, XError
from twittnow.wiring import ports

logger = logging.getLogger(__name__)

DEFAULT_PORT = 3000
DEFAULT_ADMIN_USERNAME = "admin@example.com"
DEFAULT_X_API_BASE_URL = "https://api.x.com"
SERVICENOW_SANDBOX_ADMIN_USER = "twittnow.integration"
DEFAULT_STATE_FILE = REPO_ROOT / ".local" / "stack.json"
# The variables of DESIGN.md's table ("Running it without AWS") that the functions read.
# The operator's value of each wins over the template's default and over the stack's own
# (its URL, the sandboxes' URLs and credentials). PORT and ADMIN_* configure the stack.
FUNCTION_VARIABLES = (
    "PUBLIC_BASE_URL",
    "X_API_BASE_URL",
    "X_CONSUMER_KEY",
    "X_CONSUMER_SECRET",
    "X_CLIENT_ID",
    "X_CLIENT_SECRET",
    "X_OAUTH2_AUTHORIZE_URL",
    "SERVICENOW_ALLOWED_HOSTS",
)
# The operator's values of these stay in their environment, out of the state file; the
# sandbox credentials the stack generates go in it, for operator commands to reach the
# sandbox X with.
OPERATOR_SECRETS = ("X_CONSUMER_SECRET", "X_CLIENT_SECRET")


@dataclass(frozen=True)
class Settings:
    """What the operator sets in the environment (DESIGN.md, "Running it without AWS")."""

    port: int = DEFAULT_PORT
    public_base_url: str | None = None  # None: http://localhost:<port>
    admin_username: str = DEFAULT_ADMIN_USERNAME
    admin_password: str | None = None  # None: generated, and shown once
    sandbox: bool = True  # False: the real X
    x_api_base_url: str = DEFAULT_X_API_BASE_URL  # the real X's; the sandbox has its own
    # The X app's credentials; in sandbox mode None means generated at each start.
    x_consumer_key: str | None = None
    x_consumer_secret: str | None = field(default=None, repr=False)
    # The X app's OAuth 2.0 client; in sandbox mode None means generated at each start.
    x_client_id: str | None = None
    x_client_secret: str | None = field(default=None, repr=False)
    # The operator's values of FUNCTION_VARIABLES, passed to the functions as they are.
    function_variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Each function's AWS calls checked against its own IAM policies (local.iam);
    # TWITTNOW_IAM_ENFORCEMENT=0 turns it off, for debugging (from_environment refuses
    # other values; this default, made at import too, only looks for the 0).
    iam_enforcement: bool = field(
        default_factory=lambda: os.environ.get(iam.ENFORCEMENT_VARIABLE) != "0"
    )
    # How often the scheduled functions run (SCHEDULE_EVERY_SECONDS; 0: only when asked,
    # run_schedules); None: the template's rate (the recovery of missed X deliveries:
    # every 5 minutes).
    schedule_every: float | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        port = environ.get("PORT") or str(DEFAULT_PORT)
        if not port.isdigit():
            raise ValueError(f"PORT must be a port number, not {port!r}.")
        sandbox = environ.get("SANDBOX") or "1"
        if sandbox not in ("0", "1"):
            raise ValueError(f"SANDBOX must be 1 (sandbox X) or 0 (the real X), not {sandbox!r}.")
        x_consumer_key = environ.get("X_CONSUMER_KEY") or None
        x_consumer_secret = environ.get("X_CONSUMER_SECRET") or None
        x_client_id = environ.get("X_CLIENT_ID") or None
        x_client_secret = environ.get("X_CLIENT_SECRET") or None
        if sandbox == "0" and not (
            x_consumer_key and x_consumer_secret and x_client_id and x_client_secret
        ):
            raise ValueError(
                "SANDBOX=0 calls the real X: set X_CONSUMER_KEY and X_CONSUMER_SECRET to the "
                "X app's consumer key and secret, and X_CLIENT_ID and X_CLIENT_SECRET to its "
                "OAuth 2.0 client id and secret."
            )
        return cls(
            port=int(port),
            public_base_url=environ.get("PUBLIC_BASE_URL") or None,
            admin_username=environ.get("ADMIN_USERNAME") or DEFAULT_ADMIN_USERNAME,
            admin_password=environ.get("ADMIN_PASSWORD") or None,
            sandbox=sandbox == "1",
            x_api_base_url=environ.get("X_API_BASE_URL") or DEFAULT_X_API_BASE_URL,
            x_consumer_key=x_consumer_key,
            x_consumer_secret=x_consumer_secret,
            x_client_id=x_client_id,
            x_client_secret=x_client_secret,
            # Empty counts as unset, as for the settings above.
            function_variables={
                name: environ[name] for name in FUNCTION_VARIABLES if environ.get(name)
            },
            iam_enforcement=iam.enforcement_on(environ),
            schedule_every=seconds_setting(environ.get("SCHEDULE_EVERY_SECONDS")),
        )


class LocalStack:
    """Starts and stops the stack in this process. Port 0 picks a free port.

    `isolated_aws` runs the embedded AWS in a child process (see EmbeddedAws); tests that
    share their process with moto mocks want it. `state_file` is where operator commands
    find the stack; None writes none.
    """

    def __init__(
        self,
        settings: Settings = Settings(),
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        state_file: Path | None = None,
        isolated_aws: bool = False,
    ):
        self.settings = settings
        self.stack_name = stack_name
        self.state_file = state_file
        self.admin_username = settings.admin_username
        self.admin_password_generated = settings.admin_password is None
        self.admin_password = settings.admin_password or secrets.token_urlsafe(12)
        # Every variable the stack sets in os.environ, put back by stop().
        self.environment = EnvironmentChanges()
        self.aws = EmbeddedAws(isolated=isolated_aws)
        self.runtime = Runtime()
        self.template: Template | None = None
        self.x_sandbox: XSandbox | None = None
        self.x_webhook_url = ""  # registered with the sandbox X at start
        self.servicenow_sandbox: ServiceNowSandbox | None = None
        self.base_url = ""
        self.public_base_url = ""
        self._gateway: Gateway | None = None
        self._pollers: QueuePollers | None = None
        self._schedules: SchedulePollers | None = None
        self._state_written = False

    @property
    def aws_endpoint_url(self) -> str:
        return self.aws.endpoint_url

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answers `request` as over HTTP, in this thread: for in-process API tests."""
        if self._gateway is None:
            raise RuntimeError("The local stack is not running.")
        return self._gateway.handle(request)

    def start(self) -> "LocalStack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.aws.start()
        self.aws.configure_clients(self.environment)
        deployment = Deployment(
            aws_endpoint_url=self.aws.endpoint_url,
            stack_name=self.stack_name,
            region=self.aws.region,
        )
        secret_arns = self.aws.create_resources(load_template(deployment))
        # Now that the secrets exist, !Ref of a secret can give its full ARN.
        deployment = replace(deployment, secret_arns=secret_arns)
        self.template = load_template(deployment)
        if self.settings.iam_enforcement:
            self.runtime.enforce(iam.expand_policies(self.template, deployment))

        self._gateway = Gateway(
            self.runtime.invoke, port=self.settings.port, stage=self.template.api_stage
        )
        self.base_url = f"http://localhost:{self._gateway.port}"
        self.public_base_url = self.settings.public_base_url or self.base_url
        if self.settings.sandbox:
            self._start_x_sandbox()
            self.servicenow_sandbox = ServiceNowSandbox(
                SERVICENOW_SANDBOX_ADMIN_USER, secrets.token_urlsafe(16)
            ).start()
        self._set_function_environment(self.template)
        for function in self.template.functions:
            self.runtime.load_handler(function)  # a handler that cannot import fails the start
        self._create_admin()

        self._gateway.start(Router(self.template.functions))
        if self.x_sandbox is not None:
            self._register_x_webhook(self.x_sandbox)
        self._pollers = QueuePollers(self.template, self.aws, self.runtime.invoke)
        self._pollers.start()
        self._schedules = SchedulePollers(
            self.template,
            self.runtime.invoke,
            region=self.aws.region,
            account_id=LOCAL_ACCOUNT_ID,
            every=self.settings.schedule_every,
        )
        self._schedules.start()
        if self.state_file is not None:
            self._write_state_file(self.state_file)
        logger.info("Local stack up: API %s", self.base_url)

    def _set_function_environment(self, template: Template) -> None:
        """Every function's variables, in this process the functions share: the template's,
        then the stack's own, then the operator's (Settings.function_variables), which win.

        The template's PUBLIC_BASE_URL is the deployed one (empty): the stack's own is its
        URL. In sandbox mode the stack's own X_* are the sandbox X's, and the sandbox
        ServiceNow's host is added to the SERVICENOW_ALLOWED_HOSTS in force.
        """
        values: dict[str, str] = {}
        for function in template.functions:
            for name, value in function.environment.items():
                if values.setdefault(name, value) != value:
                    logger.warning(
                        "Functions disagree on %s; locally they all share one value.", name
                    )
        values["PUBLIC_BASE_URL"] = self.public_base_url
        # Metrics are CloudWatch's embedded-format JSON lines on stdout: noise in a terminal.
        # POWERTOOLS_METRICS_DISABLED=false shows them.
        values["POWERTOOLS_METRICS_DISABLED"] = os.environ.get(
            "POWERTOOLS_METRICS_DISABLED", "true"
        )
        # Traces need an X-Ray daemon to go to: POWERTOOLS_TRACE_DISABLED=false, set before
        # the stack starts (the functions' modules read it when first imported), sends each
        # invocation's to the one at AWS_XRAY_DAEMON_ADDRESS (twittnow.observability).
        values["POWERTOOLS_TRACE_DISABLED"] = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true")
        operator = self.settings.function_variables
        if self.x_sandbox is None:
            values["X_API_BASE_URL"] = self.settings.x_api_base_url
        else:
            values["X_API_BASE_URL"] = self.x_sandbox.base_url
            values["X_CONSUMER_KEY"] = self.x_sandbox.consumer_key
            values["X_CONSUMER_SECRET"] = self.x_sandbox.consumer_secret
            values["X_CLIENT_ID"] = self.x_sandbox.client_id
            values["X_CLIENT_SECRET"] = self.x_sandbox.client_secret
            values["X_OAUTH2_AUTHORIZE_URL"] = self.x_sandbox.oauth2_authorize_url
            if "X_API_BASE_URL" in operator:
                logger.warning(
                    "X_API_BASE_URL is set: the functions call X at %s, not the sandbox X "
                    "at %s (unset it to use the sandbox).",
                    operator["X_API_BASE_URL"],
                    self.x_sandbox.base_url,
                )
        values.update(operator)
        if self.servicenow_sandbox is not None:
            # Tenants may then name the sandbox as their instance (http: it is loopback).
            sandbox_host = self.servicenow_sandbox.base_url.removeprefix("http://")
            allowed = values.get("SERVICENOW_ALLOWED_HOSTS", "")
            values["SERVICENOW_ALLOWED_HOSTS"] = ",".join(filter(None, [allowed, sandbox_host]))
        for name, value in values.items():
            self.environment.set(name, value)

    def _start_x_sandbox(self) -> None:
        """The sandbox X the functions call, as the app whose credentials the environment
        gives, or as a new one."""
        self.x_sandbox = XSandbox(
            self.settings.x_consumer_key or f"sandbox-{secrets.token_hex(8)}",
            self.settings.x_consumer_secret or secrets.token_urlsafe(32),
            client_id=self.settings.x_client_id,
            client_secret=self.settings.x_client_secret,
        ).start()

    def _register_x_webhook(self, x_sandbox: XSandbox) -> None:
        """The operator's one-time step, done for them in sandbox mode: register this
        stack's webhook with X. X checks the CRC answer, so the gateway must be up."""
        sandbox = XClient(
            x_sandbox.base_url, AppCredentials(x_sandbox.consumer_key, x_sandbox.consumer_secret)
        )
        url = f"{self.public_base_url}/twitter-activity"
        try:
            self.x_webhook_url = sandbox.register_webhook(url).url
        except XError as error:
            logger.warning(
                "The sandbox X refused the webhook %s (%s). Register it once the stack answers "
                "there: python -m ops webhooks register --local --url %s",
                url,
                error.message,
                url,
            )

    def _create_admin(self) -> None:
        with self.runtime.kept():
            logic.create_admin(ports(), self.admin_username, self.admin_password)

    def _write_state_file(self, path: Path) -> None:
        assert self.template is not None, "written once the stack has started"
        operator = self.settings.function_variables
        state = {
            "api_url": self.base_url,
            "public_base_url": self.public_base_url,
            "aws_endpoint_url": self.aws.endpoint_url,
            "region": self.aws.region,
            "stack_name": self.stack_name,
            "physical_names": self.template.physical_names(),
            # What the functions run with (AWS endpoint, table names...): an operator
            # command sets these to act as a function of this stack would.
            "environment": {
                name: value
                for name, value in self.environment.values.items()
                if not (name in OPERATOR_SECRETS and name in operator)
            },
        }
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = path.with_suffix(".tmp")
        written.unlink(missing_ok=True)  # left by a stack that died: it keeps its own mode
        # The file holds the sandbox X app's secret: it is the owner's alone from its
        # creation (O_EXCL: no file or link someone else put there is written through).
        descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "w", encoding="utf-8") as file:
            file.write(json.dumps(state, indent=2) + "\n")
        written.replace(path)  # readers never see half a file
        self._state_written = True

    def drain(self, timeout: float = 30.0) -> bool:
        """Waits until the queue functions have consumed every message; False on timeout."""
        return self._pollers.drain(timeout) if self._pollers else True

    def run_schedules(self) -> dict:
        """Runs the scheduled functions now, as their schedule would; answers what each
        returned, by logical id."""
        if self._schedules is None:
            raise RuntimeError("The local stack is not running.")
        return self._schedules.run_now()

    def stop(self) -> None:
        if self._schedules is not None:
            self._schedules.stop()
            self._schedules = None
        if self._pollers is not None:
            self._pollers.stop()
            self._pollers = None
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self.x_sandbox is not None:
            self.x_sandbox.stop()
            self.x_sandbox = None
        if self.servicenow_sandbox is not None:
            self.servicenow_sandbox.stop()
            self.servicenow_sandbox = None
        self.aws.stop()
        self.environment.restore()
        # A stack that failed to start leaves another's file alone.
        if self._state_written and self.state_file is not None:
            self.state_file.unlink(missing_ok=True)
            self._state_written = False

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def banner(self) -> str:
        password = self.admin_password if self.admin_password_generated else "<ADMIN_PASSWORD>"
        credentials = json.dumps(self.admin_username), json.dumps(password)
        login = (
            f"curl -X POST {self.base_url}/auth/login/ --data "
            f"""'{{"username": {credentials[0]} ,"password":{credentials[1]}}}' """
            '--header "Content-Type: application/json"'
        )
        lines = [
            "Twittnow local stack",
            f"  Console        {self.base_url}/console/  (log in with the admin below)",
            f"  API            {self.base_url}",
            f"  API docs       {self.base_url}/docs  (Swagger UI of {self.base_url}/openapi.json)",
            f"  Embedded AWS   {self.aws.endpoint_url} ({self.aws.region})",
            (
                "  IAM            each function under its own policies, as sam deploy makes "
                f"them ({iam.ENFORCEMENT_VARIABLE}=0 turns this off)"
                if self.settings.iam_enforcement
                else f"  IAM            NOT enforced ({iam.ENFORCEMENT_VARIABLE}=0): functions "
                "may make any AWS call"
            ),
            f"  Admin          {self.admin_username}",
        ]
        if self.admin_password_generated:
            lines.append(
                f"  Admin password {self.admin_password}  (shown once; ADMIN_PASSWORD sets it)"
            )
        if self.x_sandbox is not None:
            lines.append(f"  X sandbox      {self.x_sandbox.base_url}  (SANDBOX=0 uses the real X)")
            if self.x_webhook_url:
                lines.append(
                    f"  X webhook      {self.x_webhook_url} (registered with the sandbox X)"
                )
        if self.servicenow_sandbox is not None:
            lines.append(f"  ServiceNow     {self.servicenow_sandbox.base_url}  (sandbox instance)")
        elif not self.settings.sandbox:
            lines.append(f"  X              {self.settings.x_api_base_url}")
        if self.state_file is not None:
            lines.append(f"  State file     {self.state_file}")
        lines += ["", "Log in as the admin:", f"  {login}", ""]
        if self.x_sandbox is not None:
            lines += self._x_sandbox_banner(self.x_sandbox.base_url)
        if self.servicenow_sandbox is not None:
            lines += self._servicenow_sandbox_banner(self.servicenow_sandbox)
        lines.append("Ctrl-C stops it.")
        return "\n".join(lines)

    @staticmethod
    def _x_sandbox_banner(x_url: str) -> list[str]:
        def curl(path: str, body: str) -> str:
            return f"  curl -X POST {x_url}{path} --data '{body}'"

        return [
            "Act as @jane, a customer of a connected X account (@acme, the authorize page's"
            " default):",
            "  in X Chat (encrypted; the replies: GET on the same path, decrypted as @jane):",
            curl("/sandbox/customers/jane/chat", '{"to": "acme", "text": "My order is late"}'),
            "  in a legacy DM (a message request), and in a public post:",
            curl("/sandbox/customers/jane/dm", '{"to": "acme", "text": "Still waiting"}'),
            curl("/sandbox/customers/jane/mention", '{"to": "acme", "text": "Any news?"}'),
            f"What the service sent to X as DMs and posts: curl {x_url}/sandbox/sent",
            f"Deliveries, faults, settings: {x_url}/sandbox (see sandboxes/x/server.py)",
            "",
        ]

    def _servicenow_sandbox_banner(self, sandbox: ServiceNowSandbox) -> list[str]:
        details = json.dumps(
            {
                "instance_url": sandbox.base_url,
                "admin_user": sandbox.admin_user,
                "admin_password": sandbox.admin_password,
            }
        )
        events = json.dumps({"events_url": f"{self.public_base_url}/events/", "api_key": "<key>"})
        reply = json.dumps({"text": "We are on it"})
        return [
            "Point a tenant at the sandbox ServiceNow (with the tenant's login token):",
            f"  curl -X POST {self.base_url}/servicenow-details/ --data '{details}' "
            '--header "Content-Type: application/json" --header "Authorization: Token <token>"',
            "Let its agents' replies reach the service (api_key: the tenant's POST /api-key/):",
            f"  curl -X PUT {sandbox.base_url}/sandbox/settings --data '{events}'",
            "Reply as an agent:",
            f"  curl -X POST {sandbox.base_url}/sandbox/cases/<number>/comment --data '{reply}'",
            f"Cases, consumers, journal, events: {sandbox.base_url}/sandbox"
            " (see sandboxes/servicenow/server.py)",
            "",
        ]
