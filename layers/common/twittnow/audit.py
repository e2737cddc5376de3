"""Recording changes in the audit log: who, what, which record, when, from where.

Actions are "<resource_type>.<verb>", e.g. "user.created", "servicenow_details.updated",
"custom_field.deleted", "api_key.created". Only the names of changed fields are kept,
never their values, so no secret can reach the log.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from twittnow import clock, repositories
from twittnow.auth import Caller
from twittnow.models import AuditEntry, User

OPERATOR = "operator"  # the actor of changes made by operator commands, not through the API


@dataclass(frozen=True)
class Actor:
    """Who acts where no token says so: a tenant's browser coming back from X."""

    user: User
    source_ip: str = ""


def record(
    caller: Caller | Actor | None,
    action: str,
    *,
    resource_id: str,
    tenant_id: str | None,
    changed_fields: Iterable[str] = (),
) -> None:
    repositories.audit_log().add(
        AuditEntry(
            id=str(uuid.uuid4()),
            at=clock.now(),
            actor_id=caller.user.id if caller else None,
            actor_username=caller.user.username if caller else OPERATOR,
            action=action,
            resource_type=action.partition(".")[0],
            resource_id=resource_id,
            tenant_id=tenant_id,
            source_ip=caller.source_ip if caller else "",
            changed_fields=sorted(changed_fields),
        )
    )
