"""Custom fields: the questions the bot asks a customer, in order, before a case opens."""

import uuid

from servicenow.models import CustomFieldChanges, CustomFieldRequest
from servicenow.owners import owner_of_new_record
from twittnow import audit, clock
from twittnow.auth import Caller
from twittnow.errors import Conflict, NotFound, PermissionDenied
from twittnow.models import CustomField
from twittnow.ports import Ports
from twittnow.repositories.custom_fields import FieldChanged, FieldGone, FieldNameTaken


def create(ports: Ports, caller: Caller, request: CustomFieldRequest) -> CustomField:
    now = clock.now()
    field = CustomField(
        id=str(uuid.uuid4()),
        user_id=owner_of_new_record(ports, caller, request.user),
        field_name=request.field_name,
        message=request.message,
        created_at=now,
        updated_at=now,
    )
    try:
        ports.custom_fields.add(field)
    except FieldNameTaken:
        raise _name_taken() from None
    audit.record(
        ports.audit_log,
        caller,
        "custom_field.created",
        resource_id=field.id,
        tenant_id=field.user_id,
        changed_fields=["field_name", "message"],
    )
    return field


def list_of(ports: Ports, caller: Caller, user_id: str | None) -> list[CustomField]:
    """The caller's fields in question order; an admin may name another tenant."""
    owner_id = user_id or caller.user.id
    if not caller.may_manage(owner_id):
        raise PermissionDenied("Only an admin may list another user's custom fields.")
    return ports.custom_fields.of_tenant(owner_id)


def update(ports: Ports, caller: Caller, field_id: str, changes: CustomFieldChanges) -> CustomField:
    field = _get(ports, caller, field_id)
    values = changes.model_dump(exclude_unset=True)
    changed = {name: value for name, value in values.items() if getattr(field, name) != value}
    if not changed:
        return field
    updated = field.model_copy(update={**changed, "updated_at": clock.now()})
    try:
        ports.custom_fields.replace(updated, previous=field)
    except FieldNameTaken:
        raise _name_taken() from None
    except FieldChanged:
        raise _changed_meanwhile() from None
    except FieldGone:
        raise NotFound(f"No custom field with id {field_id}.") from None
    audit.record(
        ports.audit_log,
        caller,
        "custom_field.updated",
        resource_id=field.id,
        tenant_id=field.user_id,
        changed_fields=changed,
    )
    return updated


def delete(ports: Ports, caller: Caller, field_id: str) -> None:
    field = _get(ports, caller, field_id)
    try:
        ports.custom_fields.delete(field)
    except FieldChanged:
        raise _changed_meanwhile() from None
    except FieldGone:
        raise NotFound(f"No custom field with id {field_id}.") from None
    audit.record(
        ports.audit_log,
        caller,
        "custom_field.deleted",
        resource_id=field.id,
        tenant_id=field.user_id,
    )


def _get(ports: Ports, caller: Caller, field_id: str) -> CustomField:
    # Another tenant's id answers 404 like an unknown one: ids don't reveal who exists.
    field = ports.custom_fields.get(field_id)
    if field is None or not caller.may_manage(field.user_id):
        raise NotFound(f"No custom field with id {field_id}.")
    return field


def _changed_meanwhile() -> Conflict:
    return Conflict(
        "This custom field was changed by another request while yours was being handled, "
        "so nothing was saved. Read it again and retry."
    )


def _name_taken() -> Conflict:
    return Conflict.not_unique(
        "field_name",
        "This tenant already has a custom field with this name (names are compared ignoring "
        "case and character width).",
    )
