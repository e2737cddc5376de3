"""Recording changes in the audit log: who, what, which record, when, from where.

Actions are "<resource_type>.<verb>", e.g. "user.created", "servicenow_details.updated",
"custom_field.deleted", "api_key.created". Only the names of changed fields are kept,
never their values, so no secret can reach the log.
"""

import uuid
from collections.abc import Iterable

from twittnow import clock, repositories
from twittnow.auth import Caller
from twittnow.models import AuditEntry

OPERATOR = "operator"  # the actor of changes made by operator commands, not through the API
X = "X"  # changes X told us of: an account revoked the app (oauth.revoke)
SYSTEM = "system"  # changes the service made on what X answered it (a 401, then a success)


def record(
    caller: Caller | str | None,
    action: str,
    *,
    resource_id: str,
    tenant_id: str | None,
    changed_fields: Iterable[str] = (),
) -> None:
    """`caller` is who made the change: the API's caller, one of the names above (X,
    SYSTEM) for changes no user made, or None for an operator command."""
    by_user = caller if isinstance(caller, Caller) else None
    repositories.audit_log().add(
        AuditEntry(
            id=str(uuid.uuid4()),
            at=clock.now(),
            actor_id=by_user.user.id if by_user else None,
            actor_username=by_user.user.username if by_user else caller or OPERATOR,
            action=action,
            resource_type=action.partition(".")[0],
            resource_id=resource_id,
            tenant_id=tenant_id,
            source_ip=by_user.source_ip if by_user else "",
            changed_fields=sorted(changed_fields),
        )
    )
