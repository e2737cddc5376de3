"""Secrets Manager: one secret per stored password or token, named under a prefix the
functions' policies are limited to."""

from functools import cache

import boto3


@cache
def _client():
    return boto3.client("secretsmanager")


class SecretsRepository:
    def __init__(self, name_prefix: str):
        self.name_prefix = name_prefix

    def create(self, name: str, value: str) -> str:
        """Stores `value` as the secret prefix + name; returns its ARN."""
        return self.create_version(name, value)[0]

    def create_version(self, name: str, value: str) -> tuple[str, str]:
        """Stores `value` as the secret prefix + name; returns its ARN and the version
        that holds `value`."""
        created = _client().create_secret(Name=self.name_prefix + name, SecretString=value)
        return created["ARN"], created["VersionId"]

    def put(self, arn: str, value: str) -> str:
        """Stores `value` as the secret's new current version; returns that version."""
        return _client().put_secret_value(SecretId=arn, SecretString=value)["VersionId"]

    def get(self, arn: str, version: str | None = None) -> str:
        """The secret's value: of `version` when given, else the current one."""
        options = {"VersionId": version} if version else {}
        return _client().get_secret_value(SecretId=arn, **options)["SecretString"]

    def delete(self, arn: str) -> None:
        """Deletes the secret at once; one already gone is fine (deletes are retried)."""
        # No recovery window: the record that named the secret is gone, and a password
        # kept after its owner asked for deletion is a password kept too long.
        try:
            _client().delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        except _client().exceptions.ResourceNotFoundException:
            pass
