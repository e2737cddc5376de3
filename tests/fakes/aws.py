"""Fakes of the queues and Secrets Manager."""

import json
import uuid
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tests.fakes.scripted import Scripted
from twittnow.repositories.queues import QueueMessage
from twittnow.repositories.secrets import SecretGone


class FakeQueue(Scripted):
    """A FIFO queue: what was sent to it, and the retries asked of it. `fail` scripts a
    refusal (QueueSendFailed, as SQS refusing a batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[QueueMessage] = []
        self.retries: list[tuple[str, int]] = []  # (receipt handle, seconds)

    def send(self, messages: list[QueueMessage]) -> None:
        self._called("send", messages=messages)
        for message in messages:
            json.dumps(message.body.model_dump(mode="json"))  # what FifoQueue sends as the body
        self.sent.extend(messages)

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        self._called("retry_after", receipt_handle=receipt_handle, seconds=seconds)
        self.retries.append((receipt_handle, seconds))

    @property
    def jobs(self) -> list[BaseModel]:
        """The bodies of the messages SQS keeps: of those with one deduplication id, the
        first (SQS drops the others within 5 minutes, longer than any test)."""
        kept: dict[str, BaseModel] = {}
        for message in self.sent:
            kept.setdefault(message.deduplication_id, message.body)
        return list(kept.values())


@dataclass
class StoredSecret:
    name: str
    versions: dict[str, str] = field(default_factory=dict)  # version id -> value
    current: str = ""  # the current version's id


class FakeSecrets:
    """Secrets under a name prefix, each version kept: a read names its version, or gets
    the current one. A secret's full name works wherever its ARN does, as in Secrets
    Manager."""

    def __init__(self, name_prefix: str = "test/"):
        self.name_prefix = name_prefix
        self.stored: dict[str, StoredSecret] = {}  # by ARN

    def create_version(self, name: str, value: str) -> tuple[str, str]:
        full_name = self.name_prefix + name
        if any(secret.name == full_name for secret in self.stored.values()):
            raise _client_error("ResourceExistsException", "CreateSecret")
        arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{full_name}-{uuid.uuid4().hex[:6]}"
        self.stored[arn] = StoredSecret(full_name)
        return arn, self.put(arn, value)

    def put(self, arn: str, value: str) -> str:
        secret = self._secret(arn)
        if secret is None:
            raise SecretGone(arn)
        secret.current = str(uuid.uuid4())
        secret.versions[secret.current] = value
        return secret.current

    def get(self, arn: str, version: str | None = None, *, fresh: bool = False) -> str:
        """Every read is fresh: nothing is cached."""
        secret = self._secret(arn)
        value = secret.versions.get(version or secret.current) if secret else None
        if value is None:
            raise SecretGone(arn)
        return value

    def delete(self, arn: str) -> None:
        gone = self._secret(arn)
        self.stored = {key: secret for key, secret in self.stored.items() if secret is not gone}

    def _secret(self, arn_or_name: str) -> StoredSecret | None:
        return self.stored.get(arn_or_name) or next(
            (secret for secret in self.stored.values() if secret.name == arn_or_name), None
        )


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)
