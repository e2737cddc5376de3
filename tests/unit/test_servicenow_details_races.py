"""ServiceNow details changed by two requests at once: each record names the version of
its secret that holds the password given with its instance and user, and a write based
on a record read before another change is refused. Against the template's credentials
table and Secrets Manager in moto."""

from datetime import timedelta

import pytest

from tests.moto_tables import template_tables
from twittnow import clock, repositories, servicenow_instances
from twittnow.models import ServiceNowDetails
from twittnow.repositories.credentials import RecordChanged
from twittnow.wiring import ports


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "SERVICENOW_ALLOWED_HOSTS": "*.service-now.com",
        "SERVICENOW_SECRET_PREFIX": "races/servicenow/",
    }.items():
        monkeypatch.setenv(name, value)
    with template_tables(monkeypatch, "races", "CredentialsTable"):
        yield


def stored_details(host: str, password: str) -> ServiceNowDetails:
    arn, version = repositories.servicenow_secrets().create_version("details-1", password)
    now = clock.now()
    details = ServiceNowDetails(
        id="details-1",
        user_id="tenant-1",
        instance_url=f"https://{host}",
        admin_user="admin",
        secret_arn=arn,
        secret_version=version,
        created_at=now,
        updated_at=now,
    )
    repositories.credentials().add_servicenow(details)
    return details


def moved(details: ServiceNowDetails, host: str, password: str) -> ServiceNowDetails:
    """`details` as a PATCH to another instance makes it: a new secret version first."""
    version = repositories.servicenow_secrets().put(details.secret_arn, password)
    return details.model_copy(
        update={
            "instance_url": f"https://{host}",
            "secret_version": version,
            "updated_at": details.updated_at + timedelta(seconds=1),
        }
    )


def password_sent_to(details: ServiceNowDetails) -> tuple[str, str]:
    """The instance and password a client for `details` calls with."""
    made = []
    connecting = ports()._replace(servicenow=lambda *args: made.append(args))
    servicenow_instances.client_for(connecting, details)
    [(instance_url, _user, password)] = made
    return instance_url, password


def test_a_change_based_on_a_record_read_before_another_change_is_refused(aws):
    read_by_both = stored_details("dev1.service-now.com", "first")
    first = moved(read_by_both, "dev2.service-now.com", "second")
    repositories.credentials().replace_servicenow(first, previous=read_by_both)

    late = moved(read_by_both, "dev3.service-now.com", "third")
    with pytest.raises(RecordChanged):
        repositories.credentials().replace_servicenow(late, previous=read_by_both)

    # The record is the first change's, and it still gets the first change's password,
    # though the late change made "third" the secret's current version.
    record = repositories.credentials().servicenow_of("tenant-1")
    assert record == first
    assert password_sent_to(record) == ("https://dev2.service-now.com", "second")


def test_a_status_is_kept_only_on_the_credentials_it_is_of(aws):
    checked = stored_details("dev1.service-now.com", "first")
    assert (
        servicenow_instances.record_status(repositories.credentials(), checked, "ok", "fine")
        is not None
    )
    current = repositories.credentials().servicenow_of("tenant-1")
    assert current.status == "ok"
    assert current.updated_at == checked.updated_at  # a status is no change of credentials

    changed = moved(current, "dev2.service-now.com", "second")
    repositories.credentials().replace_servicenow(changed, previous=current)
    assert (
        servicenow_instances.record_status(
            repositories.credentials(), current, "bad_credentials", "stale"
        )
        is None
    )
    assert repositories.credentials().servicenow_of("tenant-1") == changed


def test_a_record_made_before_versions_were_kept_reads_the_current_password(aws):
    details = stored_details("dev1.service-now.com", "first").model_copy(
        update={"secret_version": None}
    )
    repositories.servicenow_secrets().put(details.secret_arn, "second")
    assert password_sent_to(details) == ("https://dev1.service-now.com", "second")
