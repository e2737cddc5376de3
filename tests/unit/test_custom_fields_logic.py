"""Custom fields (servicenow.custom_fields) against the fakes: every branch, with no HTTP
and no AWS. The API tests (tests/api/test_custom_fields.py) keep the handlers' answers
and the races on DynamoDB's conditions."""

from datetime import timedelta

import pytest

from servicenow import custom_fields
from servicenow.models import CustomFieldChanges, CustomFieldRequest
from tests.fakes import fake_ports
from tests.fakes.clock import NOW
from tests.fakes.races import racing
from twittnow.auth import Caller
from twittnow.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from twittnow.models import CustomField, Token, TokenKind, User


@pytest.fixture
def ports(time):
    return fake_ports()


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
    return Caller(user=user, token=token)


@pytest.fixture
def tenant(ports) -> Caller:
    return add_user(ports, "tenant")


@pytest.fixture
def other_tenant(ports) -> Caller:
    return add_user(ports, "other")


@pytest.fixture
def admin(ports) -> Caller:
    return add_user(ports, "admin", is_admin=True)


def create(ports, caller: Caller, name: str = "Order number", owner: str | None = None):
    request = CustomFieldRequest(field_name=name, message=f"Your {name.lower()}?", user=owner)
    return custom_fields.create(ports, caller, request)


def audit_actions(ports) -> list[tuple[str, str, str, str | None, list[str]]]:
    entries = ports.audit_log.between(NOW - timedelta(days=1), NOW + timedelta(days=1))
    return [
        (e.action, e.actor_username, e.resource_id, e.tenant_id, e.changed_fields)
        for e in reversed(entries)
    ]


# ---------------------------------------------------------------- create and list


def test_a_tenant_creates_its_fields_and_lists_them_in_question_order(ports, tenant, time):
    first = create(ports, tenant, "Order number")
    time.advance(seconds=1)
    second = create(ports, tenant, "Postcode", owner=tenant.user.id)

    assert first.model_dump(exclude={"id"}) == {
        "user_id": tenant.user.id,
        "field_name": "Order number",
        "message": "Your order number?",
        "created_at": NOW,
        "updated_at": NOW,
    }
    assert custom_fields.list_of(ports, tenant, None) == [first, second]
    assert custom_fields.list_of(ports, tenant, tenant.user.id) == [first, second]
    assert audit_actions(ports) == [
        (
            "custom_field.created",
            "tenant@example.com",
            field.id,
            tenant.user.id,
            ["field_name", "message"],
        )
        for field in (first, second)
    ]


def test_an_admin_creates_and_lists_a_tenants_fields(ports, tenant, admin):
    field = create(ports, admin, owner=tenant.user.id)

    assert field.user_id == tenant.user.id
    assert custom_fields.list_of(ports, admin, tenant.user.id) == [field]
    assert custom_fields.list_of(ports, admin, None) == []  # its own


def test_a_tenant_cannot_create_or_list_another_tenants_fields(ports, tenant, other_tenant):
    theirs = create(ports, other_tenant)

    with pytest.raises(PermissionDenied):
        create(ports, tenant, owner=other_tenant.user.id)
    with pytest.raises(PermissionDenied, match="Only an admin may list"):
        custom_fields.list_of(ports, tenant, other_tenant.user.id)

    assert custom_fields.list_of(ports, other_tenant, None) == [theirs]


def test_an_admin_cannot_create_a_field_for_an_unknown_user(ports, admin):
    with pytest.raises(InvalidInput):
        create(ports, admin, owner="user-nobody")
    assert custom_fields.list_of(ports, admin, "user-nobody") == []


@pytest.mark.parametrize("same_name", ["ORDER NUMBER", "Ｏｒｄｅｒ number"])
def test_names_are_unique_per_tenant_whatever_their_case_or_width(
    ports, tenant, other_tenant, same_name
):
    field = create(ports, tenant, "Order number")

    with pytest.raises(Conflict) as taken:
        create(ports, tenant, same_name)

    assert taken.value.details == {"field_name": ["This field must be unique."]}
    assert custom_fields.list_of(ports, tenant, None) == [field]
    assert create(ports, other_tenant, same_name).user_id == other_tenant.user.id


# ---------------------------------------------------------------- update


def test_an_update_writes_the_changed_fields_and_records_their_names(ports, tenant, time):
    field = create(ports, tenant)
    time.advance(minutes=1)

    updated = custom_fields.update(
        ports,
        tenant,
        field.id,
        CustomFieldChanges(field_name="Order number", message="Which order?"),
    )

    assert (updated.field_name, updated.message) == ("Order number", "Which order?")
    assert updated.updated_at == NOW + timedelta(minutes=1)
    assert custom_fields.list_of(ports, tenant, None) == [updated]
    assert audit_actions(ports)[-1] == (
        "custom_field.updated",
        "tenant@example.com",
        field.id,
        tenant.user.id,
        ["message"],
    )


@pytest.mark.parametrize("values", [{}, {"field_name": "Order number"}])
def test_an_update_changing_nothing_writes_nothing(ports, tenant, time, monkeypatch, values):
    field = create(ports, tenant)
    time.advance(minutes=1)
    monkeypatch.setattr(ports.custom_fields, "replace", None)  # fails if called

    assert custom_fields.update(ports, tenant, field.id, CustomFieldChanges(**values)) == field
    assert len(audit_actions(ports)) == 1


def test_a_field_may_change_the_case_of_its_own_name(ports, tenant):
    field = create(ports, tenant, "Order number")
    renamed = custom_fields.update(
        ports, tenant, field.id, CustomFieldChanges(field_name="ORDER NUMBER")
    )
    assert custom_fields.list_of(ports, tenant, None) == [renamed]


def test_renaming_onto_another_fields_name_is_a_409(ports, tenant, time):
    field = create(ports, tenant, "Order number")
    create(ports, tenant, "Postcode")
    time.advance(minutes=1)

    with pytest.raises(Conflict) as taken:
        custom_fields.update(ports, tenant, field.id, CustomFieldChanges(field_name="postcode"))

    assert list(taken.value.details) == ["field_name"]
    assert ports.custom_fields.get(field.id) == field


def test_another_tenants_or_an_unknown_field_is_404(ports, tenant, other_tenant, admin):
    theirs = create(ports, other_tenant)

    for caller, field_id in [(tenant, theirs.id), (admin, "no-such-id")]:
        with pytest.raises(NotFound, match=f"No custom field with id {field_id}"):
            custom_fields.update(ports, caller, field_id, CustomFieldChanges(message="Mine?"))
        with pytest.raises(NotFound):
            custom_fields.delete(ports, caller, field_id)

    assert ports.custom_fields.get(theirs.id) == theirs
    assert (
        custom_fields.update(
            ports, admin, theirs.id, CustomFieldChanges(message="Admin's?")
        ).message
        == "Admin's?"
    )


def test_an_update_based_on_a_field_changed_meanwhile_is_a_409(ports, tenant, time, monkeypatch):
    field = create(ports, tenant)
    time.advance(seconds=1)
    racing(
        monkeypatch,
        ports.custom_fields,
        "get",
        lambda: custom_fields.update(ports, tenant, field.id, CustomFieldChanges(message="First?")),
        after=True,
    )

    with pytest.raises(Conflict, match="changed by another request"):
        custom_fields.update(ports, tenant, field.id, CustomFieldChanges(message="Late?"))

    assert ports.custom_fields.get(field.id).message == "First?"


def test_an_update_of_a_field_deleted_meanwhile_is_404(ports, tenant, monkeypatch):
    field = create(ports, tenant)
    racing(
        monkeypatch,
        ports.custom_fields,
        "get",
        lambda: custom_fields.delete(ports, tenant, field.id),
        after=True,
    )

    with pytest.raises(NotFound):
        custom_fields.update(ports, tenant, field.id, CustomFieldChanges(message="Late?"))
    assert custom_fields.list_of(ports, tenant, None) == []


# ---------------------------------------------------------------- delete


def test_deleting_a_field_frees_its_name(ports, tenant, admin, time):
    field = create(ports, tenant)
    time.advance(seconds=1)

    custom_fields.delete(ports, admin, field.id)

    assert custom_fields.list_of(ports, tenant, None) == []
    assert audit_actions(ports)[-1] == (
        "custom_field.deleted",
        "admin@example.com",
        field.id,
        tenant.user.id,
        [],
    )
    assert create(ports, tenant).field_name == field.field_name


def test_a_delete_of_a_field_changed_meanwhile_is_a_409(ports, tenant, time, monkeypatch):
    field = create(ports, tenant)
    time.advance(seconds=1)
    racing(
        monkeypatch,
        ports.custom_fields,
        "get",
        lambda: custom_fields.update(ports, tenant, field.id, CustomFieldChanges(message="New?")),
        after=True,
    )

    with pytest.raises(Conflict):
        custom_fields.delete(ports, tenant, field.id)

    assert ports.custom_fields.get(field.id).message == "New?"


def test_of_two_deletes_of_one_field_the_late_one_is_404(ports, tenant, monkeypatch):
    field: CustomField = create(ports, tenant)
    racing(
        monkeypatch,
        ports.custom_fields,
        "get",
        lambda: custom_fields.delete(ports, tenant, field.id),
        after=True,
    )

    with pytest.raises(NotFound):
        custom_fields.delete(ports, tenant, field.id)

    assert [entry[0] for entry in audit_actions(ports)].count("custom_field.deleted") == 1
