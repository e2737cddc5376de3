"""Powertools Parameters' Secrets Manager provider, with one cache entry per secret and
version. Imported with the first secret read (about 4 ms), not at a cold start."""

from typing import Any

from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

from twittnow.repositories.secrets import VERSION_MARK


class SecretVersions(SecretsProvider):
    """Powertools caches by name alone, so a version is read under a name of its own. A
    version's value never changes: a record that names its version never reads a value
    stored after it, however long the cache keeps it."""

    def _get(self, name: str, **sdk_options: Any) -> str | bytes:
        arn, _, version = name.partition(VERSION_MARK)
        if version:
            sdk_options["VersionId"] = version
        return super()._get(arn, **sdk_options)
