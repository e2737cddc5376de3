"""Recording changes in the audit log: who, what, which record, when, from where.

Actions are "<resource_type>.<verb>", e.g. "user.created", "servicenow_details.updated",
"custom_field.deleted", "api_key.created". Only the names of changed fields are kept,
never their values, so no secret can reach the log.
"""

import uuid
from collections.abc import Iterable

from twittnow import clock
from twittnow.auth import Caller
from twittnow.models import AuditEntry
from twittnow.ports import AuditLog

OPERATOR = "operator"  # the actor of changes made by operator commands, not through the API
X = "X"  # changes X told us of: an account revoked the app (oauth.revoke)
SYSTEM = "system"  # changes the service made on what X answered it (a 401, then a success)


def record(
    audit_log: AuditLog,
    caller: Caller | str | None,
    action: str,
    *,
    resource_id: str,
    tenant_id: str | None,
    changed_fields: Iterable[str] = (),
) -> None:
    """`caller` is who made the change: the API's caller, one of the names above (X,
    SYSTEM) for changes no user made, or None for an operator command."""
    if isinstance(caller, Caller):
        by_user, actor_username = caller, caller.user.username
    else:
        by_user, actor_username = None, caller or OPERATOR
    audit_log.add(
        AuditEntry(
            id=str(uuid.uuid4()),
            at=clock.now(),
            actor_id=by_user.user.id if by_user else None,
            actor_username=actor_username,
            action=action,
            resource_type=action.partition(".")[0],
            resource_id=resource_id,
            tenant_id=tenant_id,
            source_ip=by_user.source_ip if by_user else "",
            changed_fields=sorted(changed_fields),
        )
    )
