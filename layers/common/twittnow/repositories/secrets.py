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
        return _client().create_secret(Name=self.name_prefix + name, SecretString=value)["ARN"]

    def put(self, arn: str, value: str) -> None:
        _client().put_secret_value(SecretId=arn, SecretString=value)

    def get(self, arn: str) -> str:
        return _client().get_secret_value(SecretId=arn)["SecretString"]

    def delete(self, arn: str) -> None:
        """Deletes the secret at once; one already gone is fine (deletes are retried)."""
        # No recovery window: the record that named the secret is gone, and a password
        # kept after its owner asked for deletion is a password kept too long.
        try:
            _client().delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        except _client().exceptions.ResourceNotFoundException:
            pass
