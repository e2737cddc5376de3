"""The embedded AWS: a moto server on loopback holding the template's tables, queues and secrets."""

import json
import logging
import subprocess
import sys
import threading
from typing import Any, Literal

import boto3

from local.environment import EnvironmentChanges
from local.moto_server import MotoServer
from local.template import REPO_ROOT, Queue, Secret, Table, Template

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones also keep real ones out of every call.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# The isolated embedded AWS: a moto server in a child process (see moto_server).
_CHILD_PROGRAM = (
    "from local.moto_server import serve_until_stdin_closes; serve_until_stdin_closes()"
)

# GenerateSecretString settings that GetRandomPassword takes as they are.
_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


class EmbeddedAws:
    """A moto server on 127.0.0.1 and a free port.

    In-process by default. `isolated=True` runs it in a child process instead, for a
    stack that shares its process with tests using moto's in-process mocks: `mock_aws`
    resets every moto backend of the process when it starts and stops.
    """

    def __init__(self, isolated: bool = False):
        self.isolated = isolated
        self.endpoint_url = ""
        self.region = DEFAULT_REGION
        self._server: MotoServer | None = None
        self._child: subprocess.Popen | None = None
        self._session: boto3.session.Session | None = None
        self._session_lock = threading.Lock()

    def start(self) -> str:
        # moto's server logs every request it answers; the gateway logs what matters.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        port = self._start_child() if self.isolated else self._start_in_process()
        self.endpoint_url = f"http://127.0.0.1:{port}"
        logger.info("Embedded AWS (moto) at %s", self.endpoint_url)
        return self.endpoint_url

    def _start_in_process(self) -> int:
        self._server = MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        return self._server.get_host_and_port()[1]

    def _start_child(self) -> int:
        self._child = subprocess.Popen(
            [sys.executable, "-c", _CHILD_PROGRAM],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._child.stdout is not None  # piped
        port = self._child.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("The embedded AWS did not start; see its errors above.")
        return int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._child is not None:
            stdin, stdout = self._child.stdin, self._child.stdout
            assert stdin is not None and stdout is not None  # both piped
            stdin.close()
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            stdout.close()
            self._child = None

    def configure_clients(self, environment: EnvironmentChanges) -> None:
        """Points every boto3 client of this process here (boto3 honours AWS_ENDPOINT_URL)."""
        environment.set("AWS_ENDPOINT_URL", self.endpoint_url)
        for name, value in FAKE_CREDENTIALS.items():
            environment.set(name, value)
        self.region = environment.set_default("AWS_DEFAULT_REGION", DEFAULT_REGION)
        environment.set_default("AWS_REGION", self.region)  # Lambda sets both

    def client(self, service: Literal["dynamodb", "sqs", "secretsmanager"]) -> Any:
        """A client of `service` here, whatever the process environment says."""
        # Sessions are slow to make and not thread-safe; the clients they make are both.
        with self._session_lock:
            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                )
            return self._session.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region
            )

    def create_resources(self, template: Template) -> dict[str, str]:
        """Creates the template's tables, queues and secrets; returns the secrets' ARNs."""
        dynamodb = self.client("dynamodb")
        for table in template.tables:
            _create_table(dynamodb, table)
        sqs = self.client("sqs")
        for queue in _dead_letter_queues_first(template.queues):
            sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)
        secretsmanager = self.client("secretsmanager")
        return {
            secret.logical_id: _create_secret(secretsmanager, secret) for secret in template.secrets
        }


def _create_table(dynamodb, table: Table) -> None:
    indexes = {}
    if table.global_secondary_indexes:
        indexes["GlobalSecondaryIndexes"] = table.global_secondary_indexes
    if table.local_secondary_indexes:
        indexes["LocalSecondaryIndexes"] = table.local_secondary_indexes
    dynamodb.create_table(
        TableName=table.name,
        KeySchema=table.key_schema,
        AttributeDefinitions=table.attribute_definitions,
        BillingMode="PAY_PER_REQUEST",
        **indexes,
    )
    if table.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
        )


def _dead_letter_queues_first(queues: tuple[Queue, ...]) -> list[Queue]:
    """A redrive policy can only name a queue that exists, so targets come before sources."""
    by_id = {queue.logical_id: queue for queue in queues}
    ordered: list[Queue] = []

    def add(queue: Queue) -> None:
        if queue in ordered:
            return
        if queue.dead_letter_queue:
            add(by_id[queue.dead_letter_queue])
        ordered.append(queue)

    for queue in queues:
        add(queue)
    return ordered


def _create_secret(secretsmanager, secret: Secret) -> str:
    if secret.secret_string is not None:
        value = secret.secret_string
    else:
        # Without a SecretString, CloudFormation generates one (with its defaults if the
        # template gives no GenerateSecretString).
        generate = secret.generate or {}
        options = {key: generate[key] for key in _PASSWORD_OPTIONS if key in generate}
        password = secretsmanager.get_random_password(**options)["RandomPassword"]
        if "SecretStringTemplate" in generate:
            fields = json.loads(generate["SecretStringTemplate"])
            value = json.dumps(fields | {generate["GenerateStringKey"]: password})
        else:
            value = password
    extra = {"Description": secret.description} if secret.description else {}
    return secretsmanager.create_secret(Name=secret.name, SecretString=value, **extra)["ARN"]
