"""ServiceNow details: a tenant's instance and integration user. The password goes to
Secrets Manager, one secret per record, and nowhere else."""

import uuid

from servicenow.models import ServiceNowDetailsChanges, ServiceNowDetailsRequest
from servicenow.owners import owner_of_new_record
from twittnow import audit, clock
from twittnow.auth import Caller
from twittnow.errors import Conflict, InvalidInput, NotFound
from twittnow.instance_urls import InvalidInstanceUrl, normalize_instance_url
from twittnow.models import ServiceNowDetails
from twittnow.ports import Ports
from twittnow.repositories.credentials import AlreadyConnected, RecordChanged
from twittnow.repositories.secrets import SecretGone

UNVERIFIED = "unverified"


def create(ports: Ports, caller: Caller, request: ServiceNowDetailsRequest) -> ServiceNowDetails:
    owner_id = owner_of_new_record(ports, caller, request.user)
    instance_url = _valid_instance_url(ports, request.instance_url)
    credentials = ports.credentials
    if credentials.servicenow_of(owner_id) is not None:  # spares a secret made for nothing
        raise _one_per_user()
    details_id, now = str(uuid.uuid4()), clock.now()
    secret_arn, secret_version = ports.servicenow_secrets.create_version(
        details_id, request.admin_password.get_secret_value()
    )
    details = ServiceNowDetails(
        id=details_id,
        user_id=owner_id,
        instance_url=instance_url,
        admin_user=request.admin_user,
        secret_arn=secret_arn,
        secret_version=secret_version,
        created_at=now,
        updated_at=now,
    )
    try:
        credentials.add_servicenow(details)
    except BaseException as error:
        ports.servicenow_secrets.delete(secret_arn)  # a secret nothing names is a leak
        if isinstance(error, AlreadyConnected):
            raise _one_per_user() from None
        raise
    audit.record(
        ports.audit_log,
        caller,
        "servicenow_details.created",
        resource_id=details.id,
        tenant_id=owner_id,
        changed_fields=["instance_url", "admin_user", "admin_password"],
    )
    return details


def list_visible(ports: Ports, caller: Caller) -> list[ServiceNowDetails]:
    """Every record for an admin; a tenant's own (zero or one) otherwise."""
    credentials = ports.credentials
    if caller.is_admin:
        return credentials.all_servicenow()
    own = credentials.servicenow_of(caller.user.id)
    return [own] if own else []


def get(ports: Ports, caller: Caller, details_id: str) -> ServiceNowDetails:
    # Another tenant's id answers 404 like an unknown one: ids don't reveal who exists.
    details = ports.credentials.servicenow_by_id(details_id)
    if details is None or not caller.may_manage(details.user_id):
        raise NotFound(f"No ServiceNow details with id {details_id}.")
    return details


def update(
    ports: Ports, caller: Caller, details_id: str, changes: ServiceNowDetailsChanges
) -> ServiceNowDetails:
    """PATCH and PUT alike. A new instance_url or admin_user comes with its password;
    new credentials or a new instance need verifying again. Nothing is stored before
    every check has passed."""
    details = get(ports, caller, details_id)
    values = changes.model_dump(exclude_unset=True)
    if values.pop("user", details.user_id) != details.user_id:
        raise InvalidInput.for_field(
            "user",
            "The owner of a record cannot be changed; delete it and create one for the other user.",
        )
    if "instance_url" in values:
        values["instance_url"] = _valid_instance_url(ports, values["instance_url"])
    password = values.pop("admin_password", None)
    changed = [name for name, value in values.items() if getattr(details, name) != value]
    if changed and password is None:
        raise _password_needed_for(changed)
    if password is not None:
        # A new version of the secret, which only the record written below names: the
        # instance and user of any record read the password given with them, whatever
        # a concurrent change stores meanwhile.
        try:
            values["secret_version"] = ports.servicenow_secrets.put(
                details.secret_arn, password.get_secret_value()
            )
        except SecretGone:
            get(ports, caller, details_id)  # NotFound when deleted meanwhile
            raise
        changed.append("admin_password")
    if not changed:
        return details
    updated = details.model_copy(
        update={
            **values,
            "updated_at": clock.now(),
            "status": UNVERIFIED,
            "status_detail": "",
            "status_checked_at": None,
        }
    )
    try:
        ports.credentials.replace_servicenow(updated, previous=details)
    except RecordChanged:
        get(ports, caller, details_id)  # NotFound when deleted meanwhile
        raise Conflict(
            "These ServiceNow details were changed by another request while yours was "
            "being handled, so nothing was saved. Read them again and retry."
        ) from None
    audit.record(
        ports.audit_log,
        caller,
        "servicenow_details.updated",
        resource_id=details.id,
        tenant_id=details.user_id,
        changed_fields=changed,
    )
    return updated


def delete(ports: Ports, caller: Caller, details_id: str) -> None:
    details = get(ports, caller, details_id)
    ports.credentials.delete_servicenow(details)
    ports.servicenow_secrets.delete(details.secret_arn)
    audit.record(
        ports.audit_log,
        caller,
        "servicenow_details.deleted",
        resource_id=details.id,
        tenant_id=details.user_id,
    )


def _valid_instance_url(ports: Ports, url: str) -> str:
    try:
        return normalize_instance_url(url, ports.settings.servicenow_allowed_hosts)
    except InvalidInstanceUrl as error:
        raise InvalidInput.for_field("instance_url", str(error)) from None


def _password_needed_for(changed: list[str]) -> InvalidInput:
    # The stored password was given for one instance and user: sent with another URL it
    # would reach whoever runs that instance (anyone can get one), and with another user
    # it would be tried as that user's password.
    return InvalidInput.for_field(
        "admin_password",
        f"Send the admin password with the new {' and '.join(changed)}: the stored one is "
        "only ever sent to the instance and user it was given for.",
    )


def _one_per_user() -> Conflict:
    return Conflict.not_unique(
        "user",
        "This user already has ServiceNow details; change them with PATCH, or delete them first.",
    )
