"""Secrets Manager: one secret per stored password or token, named under a prefix the
functions' policies are limited to.

Reads go through Powertools Parameters' cache, each value kept for
POWERTOOLS_PARAMETERS_MAX_AGE seconds (template.yaml): a tenant's secret is read at most
once per that time per Lambda instance. A record names the version it was stored with
(ServiceNowDetails.secret_version, XConnection.secret_version), so a cached value is never
one a later change replaced."""

import boto3

from twittnow.instance import kept

# Between a secret's ARN and a version id in a cache entry's name: ARNs have no "#".
VERSION_MARK = "#version="


@kept
def _client():
    return boto3.client("secretsmanager")


@kept
def _reader():
    from twittnow.repositories.secret_versions import SecretVersions

    return SecretVersions(boto3_client=_client())


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
        """The secret's value: of `version` when given, else the current one (as of at
        most the cache's max age ago)."""
        return _reader().get(f"{arn}{VERSION_MARK}{version}" if version else arn)

    def delete(self, arn: str) -> None:
        """Deletes the secret at once; one already gone is fine (deletes are retried)."""
        # No recovery window: the record that named the secret is gone, and a password
        # kept after its owner asked for deletion is a password kept too long.
        try:
            _client().delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        except _client().exceptions.ResourceNotFoundException:
            pass
