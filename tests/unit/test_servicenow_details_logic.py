"""A tenant's ServiceNow details (servicenow.servicenow_details, servicenow.verification,
servicenow.owners) against the fakes: every branch, with no HTTP and no AWS. The API tests
(tests/api/test_servicenow_details.py) keep the handlers' answers and the password's path
through Secrets Manager; test_servicenow_details_races.py keeps DynamoDB's conditions."""

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from servicenow import servicenow_details, verification
from servicenow.models import ServiceNowDetailsChanges, ServiceNowDetailsRequest
from tests.fakes import fake_ports, fake_settings
from tests.fakes.clock import NOW
from tests.fakes.races import racing
from twittnow.auth import Caller
from twittnow.clients.servicenow import (
    ServiceNowBadCredentials,
    ServiceNowMissingRole,
    ServiceNowNotFound,
    ServiceNowUnavailable,
)
from twittnow.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from twittnow.models import ServiceNowDetails, Token, TokenKind, User

ACME = "https://acme.service-now.com"


@pytest.fixture
def ports(time):
    return fake_ports(settings=fake_settings(servicenow_allowed_hosts="*.service-now.com"))


def add_user(ports, name: str, *, is_admin: bool = False) -> Caller:
    user = User(
        id=f"user-{name}",
        username=f"{name}@example.com",
        is_admin=is_admin,
        password_hash="not used here",
        created_at=NOW,
        updated_at=NOW,
    )
    ports.users.create(user)
    token = Token(digest=f"token-{name}", user_id=user.id, kind=TokenKind.LOGIN, created_at=NOW)
    return Caller(user=user, token=token, source_ip="198.51.100.7")


@pytest.fixture
def tenant(ports) -> Caller:
    return add_user(ports, "tenant")


@pytest.fixture
def other_tenant(ports) -> Caller:
    return add_user(ports, "other")


@pytest.fixture
def admin(ports) -> Caller:
    return add_user(ports, "admin", is_admin=True)


def request(url: str = ACME, admin_user: str = "integration", password: str = "s3cret", owner=None):
    return ServiceNowDetailsRequest(
        instance_url=url, admin_user=admin_user, admin_password=SecretStr(password), user=owner
    )


def create(ports, caller: Caller, **more) -> ServiceNowDetails:
    return servicenow_details.create(ports, caller, request(**more))


def changes(**values: Any) -> ServiceNowDetailsChanges:
    if "admin_password" in values:
        values["admin_password"] = SecretStr(values["admin_password"])
    return ServiceNowDetailsChanges(**values)


def password_of(ports, details: ServiceNowDetails) -> str:
    return ports.servicenow_secrets.get(details.secret_arn, details.secret_version)


def audit_actions(ports) -> list[tuple[str, str, str, str | None, list[str]]]:
    entries = ports.audit_log.between(NOW - timedelta(days=1), NOW + timedelta(days=1))
    return [
        (e.action, e.actor_username, e.resource_id, e.tenant_id, e.changed_fields)
        for e in reversed(entries)
    ]


# ---------------------------------------------------------------- create


def test_creating_keeps_the_password_in_its_own_secret_only(ports, tenant):
    details = create(ports, tenant, url="HTTPS://Acme.Service-Now.com:443/")

    assert details.model_dump(exclude={"id", "secret_arn", "secret_version"}) == {
        "user_id": tenant.user.id,
        "instance_url": ACME,  # normalized
        "admin_user": "integration",
        "created_at": NOW,
        "updated_at": NOW,
        "status": "unverified",
        "status_detail": "",
        "status_checked_at": None,
    }
    assert ports.credentials.servicenow_of(tenant.user.id) == details
    [secret] = ports.servicenow_secrets.stored.values()
    assert secret.name == f"test/servicenow/{details.id}"
    assert password_of(ports, details) == "s3cret"
    assert "s3cret" not in details.model_dump_json()
    assert audit_actions(ports) == [
        (
            "servicenow_details.created",
            "tenant@example.com",
            details.id,
            tenant.user.id,
            ["admin_password", "admin_user", "instance_url"],
        )
    ]


@pytest.mark.parametrize("named", [None, "user-tenant"])
def test_a_tenant_creates_its_own_details_naming_itself_or_no_one(ports, tenant, named):
    assert create(ports, tenant, owner=named).user_id == tenant.user.id


def test_a_tenant_cannot_create_details_for_another_user(ports, tenant, other_tenant):
    with pytest.raises(PermissionDenied, match="Only an admin may act for another user"):
        create(ports, tenant, owner=other_tenant.user.id)
    assert ports.servicenow_secrets.stored == {}


def test_an_admin_creates_details_for_an_existing_user_only(ports, admin, tenant):
    assert create(ports, admin, owner=tenant.user.id).user_id == tenant.user.id

    with pytest.raises(InvalidInput) as unknown:
        create(ports, admin, owner="user-nobody")
    assert unknown.value.details == {"user": ["No user with this id."]}
    assert len(ports.servicenow_secrets.stored) == 1


@pytest.mark.parametrize(
    "url", ["https://evil.example.com", "http://acme.service-now.com", "not a url"]
)
def test_an_instance_off_the_allow_list_is_refused_before_any_secret_is_made(ports, tenant, url):
    with pytest.raises(InvalidInput) as refused:
        create(ports, tenant, url=url)

    assert list(refused.value.details) == ["instance_url"]
    assert ports.servicenow_secrets.stored == {}
    assert ports.credentials.servicenow_of(tenant.user.id) is None


def test_one_record_per_user(ports, tenant):
    first = create(ports, tenant)

    with pytest.raises(Conflict) as taken:
        create(ports, tenant, url="https://other.service-now.com")

    assert taken.value.details == {"user": ["This field must be unique."]}
    assert list(ports.servicenow_secrets.stored) == [first.secret_arn]


def test_of_two_creates_racing_for_one_user_the_late_one_leaks_no_secret(
    ports, tenant, monkeypatch
):
    winner: list[ServiceNowDetails] = []
    racing(
        monkeypatch,
        ports.servicenow_secrets,
        "create_version",
        lambda: winner.append(create(ports, tenant, password="winner")),
    )

    with pytest.raises(Conflict):
        create(ports, tenant, password="late")

    [won] = winner
    assert ports.credentials.servicenow_of(tenant.user.id) == won
    assert list(ports.servicenow_secrets.stored) == [won.secret_arn]
    assert password_of(ports, won) == "winner"


def test_a_store_failing_otherwise_is_raised_and_leaks_no_secret(ports, tenant, monkeypatch):
    throttled = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
        "PutItem",
    )

    def refuse(details: ServiceNowDetails) -> None:
        raise throttled

    monkeypatch.setattr(ports.credentials, "add_servicenow", refuse)

    with pytest.raises(ClientError) as raised:
        create(ports, tenant)

    assert raised.value is throttled
    assert ports.servicenow_secrets.stored == {} and audit_actions(ports) == []


# ---------------------------------------------------------------- read


def test_a_tenant_lists_its_own_record_and_an_admin_every_record(
    ports, tenant, other_tenant, admin, time
):
    assert servicenow_details.list_visible(ports, tenant) == []
    mine = create(ports, tenant)
    time.advance(seconds=1)
    theirs = create(ports, other_tenant)

    assert servicenow_details.list_visible(ports, tenant) == [mine]
    assert servicenow_details.list_visible(ports, admin) == [mine, theirs]
    assert servicenow_details.list_visible(ports, add_user(ports, "third")) == []


def test_a_record_is_shown_to_its_tenant_and_admins_only(ports, tenant, other_tenant, admin):
    details = create(ports, tenant)

    assert servicenow_details.get(ports, tenant, details.id) == details
    assert servicenow_details.get(ports, admin, details.id) == details
    for caller, details_id in [(other_tenant, details.id), (admin, "no-such-id")]:
        with pytest.raises(NotFound, match=f"No ServiceNow details with id {details_id}"):
            servicenow_details.get(ports, caller, details_id)


# ---------------------------------------------------------------- update


def test_new_credentials_come_with_their_password_in_a_new_version(ports, tenant, time):
    details = create(ports, tenant)
    ports.credentials.record_servicenow_status(
        details.model_copy(update={"status": "ok", "status_checked_at": NOW})
    )
    time.advance(minutes=1)

    updated = servicenow_details.update(
        ports,
        tenant,
        details.id,
        changes(instance_url="https://Beta.service-now.com/", admin_user="svc", admin_password="n"),
    )

    assert (updated.instance_url, updated.admin_user) == ("https://beta.service-now.com", "svc")
    assert updated.updated_at == NOW + timedelta(minutes=1)
    # New credentials are not verified, whatever the old ones were.
    assert (updated.status, updated.status_detail, updated.status_checked_at) == (
        "unverified",
        "",
        None,
    )
    assert updated.secret_arn == details.secret_arn
    assert updated.secret_version != details.secret_version
    assert password_of(ports, updated) == "n" and password_of(ports, details) == "s3cret"
    assert ports.credentials.servicenow_of(tenant.user.id) == updated
    assert audit_actions(ports)[-1] == (
        "servicenow_details.updated",
        "tenant@example.com",
        details.id,
        tenant.user.id,
        ["admin_password", "admin_user", "instance_url"],
    )


def test_a_new_password_alone_is_a_change(ports, tenant, time):
    details = create(ports, tenant)
    time.advance(minutes=1)

    updated = servicenow_details.update(ports, tenant, details.id, changes(admin_password="n"))

    assert password_of(ports, updated) == "n"
    assert (updated.instance_url, updated.admin_user) == (details.instance_url, details.admin_user)
    assert audit_actions(ports)[-1][-1] == ["admin_password"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"instance_url": "https://beta.service-now.com"}, "instance_url"),
        ({"admin_user": "svc"}, "admin_user"),
        (
            {"instance_url": "https://beta.service-now.com", "admin_user": "svc"},
            "instance_url and admin_user",
        ),
    ],
)
def test_new_credentials_without_their_password_are_refused(ports, tenant, values, named):
    details = create(ports, tenant)

    with pytest.raises(InvalidInput) as refused:
        servicenow_details.update(ports, tenant, details.id, changes(**values))

    assert f"Send the admin password with the new {named}" in refused.value.message
    assert list(refused.value.details) == ["admin_password"]
    assert ports.credentials.servicenow_of(tenant.user.id) == details
    assert len(ports.servicenow_secrets.stored[details.secret_arn].versions) == 1


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"instance_url": "HTTPS://ACME.service-now.com/"},  # the same instance, spelled otherwise
        {"instance_url": "https://acme.service-now.com.", "admin_user": "integration"},
        {"admin_user": "integration", "user": "user-tenant"},  # naming the owner is fine
    ],
)
def test_an_update_changing_nothing_writes_nothing(ports, tenant, time, values, monkeypatch):
    details = create(ports, tenant)
    time.advance(minutes=1)
    monkeypatch.setattr(ports.credentials, "replace_servicenow", None)  # fails if called

    assert servicenow_details.update(ports, tenant, details.id, changes(**values)) == details
    assert len(audit_actions(ports)) == 1


def test_a_record_cannot_move_to_another_user(ports, tenant, other_tenant, admin):
    details = create(ports, tenant)

    with pytest.raises(InvalidInput) as refused:
        servicenow_details.update(ports, admin, details.id, changes(user=other_tenant.user.id))

    assert list(refused.value.details) == ["user"]
    assert ports.credentials.servicenow_of(tenant.user.id) == details


def test_an_update_to_an_instance_off_the_allow_list_changes_nothing(ports, tenant):
    details = create(ports, tenant)

    with pytest.raises(InvalidInput) as refused:
        servicenow_details.update(
            ports,
            tenant,
            details.id,
            changes(instance_url="https://evil.example.com", admin_password="n"),
        )

    assert list(refused.value.details) == ["instance_url"]
    assert ports.credentials.servicenow_of(tenant.user.id) == details
    assert password_of(ports, ports.credentials.servicenow_of(tenant.user.id)) == "s3cret"


def test_another_tenants_record_is_404_to_update_and_delete(ports, tenant, other_tenant):
    details = create(ports, tenant)

    with pytest.raises(NotFound):
        servicenow_details.update(ports, other_tenant, details.id, changes(admin_password="n"))
    with pytest.raises(NotFound):
        servicenow_details.delete(ports, other_tenant, details.id)

    assert ports.credentials.servicenow_of(tenant.user.id) == details
    assert password_of(ports, details) == "s3cret"


def test_an_update_based_on_a_record_changed_meanwhile_is_a_409(ports, tenant, time, monkeypatch):
    details = create(ports, tenant)
    time.advance(seconds=1)
    racing(
        monkeypatch,
        ports.credentials,
        "servicenow_by_id",
        lambda: servicenow_details.update(
            ports, tenant, details.id, changes(admin_user="first", admin_password="first")
        ),
        after=True,
    )

    with pytest.raises(Conflict, match="changed by another request"):
        servicenow_details.update(
            ports, tenant, details.id, changes(admin_user="late", admin_password="late")
        )

    stored = ports.credentials.servicenow_of(tenant.user.id)
    assert stored.admin_user == "first"
    assert password_of(ports, stored) == "first"  # not the late "late"


def test_an_update_of_a_record_deleted_while_its_password_is_stored_is_404(
    ports, tenant, monkeypatch
):
    details = create(ports, tenant)
    racing(
        monkeypatch,
        ports.servicenow_secrets,
        "put",
        lambda: servicenow_details.delete(ports, tenant, details.id),
        after=True,
    )

    with pytest.raises(NotFound):
        servicenow_details.update(
            ports, tenant, details.id, changes(admin_user="late", admin_password="late")
        )
    assert ports.credentials.servicenow_of(tenant.user.id) is None


def test_an_update_of_a_record_deleted_meanwhile_is_404(ports, tenant, monkeypatch):
    details = create(ports, tenant)
    racing(
        monkeypatch,
        ports.credentials,
        "servicenow_by_id",
        lambda: servicenow_details.delete(ports, tenant, details.id),
        after=True,
    )

    with pytest.raises(NotFound):
        servicenow_details.update(
            ports, tenant, details.id, changes(admin_user="late", admin_password="late")
        )


# ---------------------------------------------------------------- delete


def test_deleting_removes_the_record_and_its_secret(ports, tenant, admin, time):
    details = create(ports, tenant)
    time.advance(seconds=1)

    servicenow_details.delete(ports, admin, details.id)

    assert ports.credentials.servicenow_of(tenant.user.id) is None
    assert ports.servicenow_secrets.stored == {}
    assert audit_actions(ports)[-1] == (
        "servicenow_details.deleted",
        "admin@example.com",
        details.id,
        tenant.user.id,
        [],
    )
    with pytest.raises(NotFound):
        servicenow_details.delete(ports, admin, details.id)


# ---------------------------------------------------------------- verify


def test_verifying_calls_the_stored_instance_as_the_stored_user_and_keeps_the_outcome(
    ports, tenant, time
):
    details = create(ports, tenant)
    time.advance(minutes=2)

    checked = verification.verify(ports, tenant, details.id)

    assert ports.servicenow.connections == [(ACME, "integration", "s3cret")]
    assert [call.method for call in ports.servicenow.instance(ACME).calls] == ["check_case_api"]
    assert (checked.status, checked.status_checked_at) == ("ok", NOW + timedelta(minutes=2))
    assert checked.status_detail == "The instance answered the CSM case API with these credentials."
    assert ports.credentials.servicenow_of(tenant.user.id) == checked


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            ServiceNowBadCredentials("User Not Authenticated", detail="Required to provide Auth"),
            "bad_credentials",
            "User Not Authenticated: Required to provide Auth (check admin_user and admin_password).",
        ),
        (
            ServiceNowMissingRole("Insufficient rights"),
            "missing_role",
            "Insufficient rights (give the integration user the sn_customerservice_agent and "
            "rest_service roles).",
        ),
        (
            ServiceNowNotFound("No such API"),
            "unreachable",
            "No such API (check instance_url and that the instance is up).",
        ),
        (
            ServiceNowUnavailable(""),
            "unreachable",
            "No answer (check instance_url and that the instance is up).",
        ),
    ],
)
def test_a_failing_check_is_kept_as_the_records_status(ports, tenant, error, status, detail):
    details = create(ports, tenant)
    ports.servicenow.instance(ACME).fail(error, "check_case_api")

    checked = verification.verify(ports, tenant, details.id)

    assert (checked.status, checked.status_detail) == (status, detail)
    assert ports.credentials.servicenow_of(tenant.user.id) == checked


def test_an_instance_no_longer_allowed_gets_no_password(ports, tenant):
    details = create(ports, tenant)
    narrower = fake_settings(servicenow_allowed_hosts="*.example.com")
    ports = ports._replace(settings=narrower)

    checked = verification.verify(ports, tenant, details.id)

    assert checked.status == "unreachable" and "*.example.com" in checked.status_detail
    assert ports.servicenow.connections == []


def test_another_tenants_record_cannot_be_verified(ports, tenant, other_tenant):
    details = create(ports, tenant)
    with pytest.raises(NotFound):
        verification.verify(ports, other_tenant, details.id)
    assert ports.servicenow.connections == []


def test_a_verify_racing_a_change_keeps_no_outcome_of_the_old_credentials(
    ports, tenant, time, monkeypatch
):
    details = create(ports, tenant)
    time.advance(seconds=1)
    instance = ports.servicenow.instance(ACME)
    racing(
        monkeypatch,
        instance,
        "check_case_api",
        lambda: servicenow_details.update(
            ports, tenant, details.id, changes(admin_user="svc", admin_password="n")
        ),
    )

    with pytest.raises(Conflict, match="changed while they were being verified"):
        verification.verify(ports, tenant, details.id)

    stored = ports.credentials.servicenow_of(tenant.user.id)
    assert (stored.admin_user, stored.status, stored.status_checked_at) == (
        "svc",
        "unverified",
        None,
    )


def test_a_verify_racing_a_delete_is_404(ports, tenant, monkeypatch):
    details = create(ports, tenant)
    racing(
        monkeypatch,
        ports.servicenow.instance(ACME),
        "check_case_api",
        lambda: servicenow_details.delete(ports, tenant, details.id),
    )

    with pytest.raises(NotFound):
        verification.verify(ports, tenant, details.id)
    assert ports.credentials.servicenow_of(tenant.user.id) is None


def test_a_verify_of_a_record_deleted_before_its_password_is_read_is_404(
    ports, tenant, monkeypatch
):
    details = create(ports, tenant)
    racing(
        monkeypatch,
        ports.credentials,
        "servicenow_by_id",
        lambda: servicenow_details.delete(ports, tenant, details.id),
        after=True,
    )

    with pytest.raises(NotFound):
        verification.verify(ports, tenant, details.id)
