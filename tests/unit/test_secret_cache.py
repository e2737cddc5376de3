"""Tenants' secrets through Powertools Parameters' cache (twittnow.repositories.secrets):
read at most once per max age per instance, and never a value a later change replaced,
since each record names the version it was stored with."""

import time

import pytest
from moto import mock_aws

from tests.aws_calls import count_reads
from twittnow import instance
from twittnow.repositories import secrets as secrets_module
from twittnow.repositories.secrets import SecretsRepository


@pytest.fixture
def tenant_secrets(monkeypatch):
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_PARAMETERS_MAX_AGE": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    instance.forget(secrets_module._client, secrets_module._reader)
    with mock_aws():
        yield SecretsRepository("cache/servicenow/"), count_reads(secrets_module._client())
    instance.forget(secrets_module._client, secrets_module._reader)


def test_a_tenants_secret_is_read_once_per_max_age(tenant_secrets):
    repository, reads = tenant_secrets
    arn, version = repository.create_version("details-1", "first")

    assert [repository.get(arn, version) for _ in range(3)] == ["first"] * 3
    assert len(reads) == 1
    time.sleep(1.1)
    assert repository.get(arn, version) == "first"
    assert len(reads) == 2


def test_a_new_version_is_read_at_once_and_the_old_one_stays_what_it_was(tenant_secrets):
    repository, reads = tenant_secrets
    arn, first = repository.create_version("details-1", "first")
    assert repository.get(arn, first) == "first"

    second = repository.put(arn, "second")

    assert repository.get(arn, second) == "second"  # a record naming it: no stale value
    assert repository.get(arn, first) == "first"  # a record read before the change
    assert len(reads) == 2


def test_without_a_version_the_current_value_is_kept_for_the_max_age(tenant_secrets):
    repository, _ = tenant_secrets
    arn, _ = repository.create_version("details-1", "first")
    assert repository.get(arn) == "first"

    repository.put(arn, "second")

    assert repository.get(arn) == "first"
    time.sleep(1.1)
    assert repository.get(arn) == "second"
