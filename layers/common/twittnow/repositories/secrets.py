"""Secrets Manager: one secret per stored password or token, named under a prefix the
functions' policies are limited to.

Reads go through Powertools Parameters' cache, each value kept for
POWERTOOLS_PARAMETERS_MAX_AGE seconds (template.yaml): a tenant's secret is read at most
once per that time per Lambda instance. A record names the version it was stored with
(ServiceNowDetails.secret_version, XConnection.secret_version), so a cached value is never
one a later change replaced."""

from typing import TYPE_CHECKING, cast

import boto3

from twittnow.instance import kept

if TYPE_CHECKING:  # boto3-stubs: a dev dependency, not in the layer
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from twittnow.repositories.secret_versions import SecretVersions

# Between a secret's ARN and a version id in a cache entry's name: ARNs have no "#".
VERSION_MARK = "#version="


class SecretGone(Exception):
    """The secret (or the version read) is not in Secrets Manager: deleted, most likely
    with the record that named it, by a request racing this one."""


@kept
def _client() -> "SecretsManagerClient":
    return boto3.client("secretsmanager")


@kept
def _reader() -> "SecretVersions":
    from twittnow.repositories.secret_versions import SecretVersions

    return SecretVersions(boto3_client=_client())


def _gone_errors() -> tuple[type[Exception], ...]:
    """What Secrets Manager answers for a deleted secret: not found, or, while its forced
    deletion is still under way (it is asynchronous), scheduled for deletion (the only
    InvalidRequestException a read or a new version of these secrets can get)."""
    exceptions = _client().exceptions
    return exceptions.ResourceNotFoundException, exceptions.InvalidRequestException


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
        try:
            return _client().put_secret_value(SecretId=arn, SecretString=value)["VersionId"]
        except _gone_errors() as error:
            raise SecretGone(arn) from error

    def get(self, arn: str, version: str | None = None, *, fresh: bool = False) -> str:
        """The secret's value: of `version` when given, else the current one (as of at
        most the cache's max age ago; `fresh`: as of now, and cached from now)."""
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = _reader().get(
                f"{arn}{VERSION_MARK}{version}" if version else arn, force_fetch=fresh
            )
        except GetParameterError as error:
            # Powertools wraps whatever the read raised, Secrets Manager's error included.
            if isinstance(error.__context__, _gone_errors()):
                raise SecretGone(arn) from error
            raise
        # Untransformed, Powertools answers the SecretString as stored (its type says
        # bytes, a dict or None too: for SecretBinary, transforms and a missing secret).
        return cast(str, value)

    def delete(self, arn: str) -> None:
        """Deletes the secret at once; one already gone is fine (deletes are retried)."""
        # No recovery window: the record that named the secret is gone, and a password
        # kept after its owner asked for deletion is a password kept too long.
        try:
            _client().delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        except _client().exceptions.ResourceNotFoundException:
            pass
