"""Whose record a new ServiceNow detail or custom field is."""

from twittnow.auth import Caller
from twittnow.errors import InvalidInput, PermissionDenied
from twittnow.ports import Ports


def owner_of_new_record(ports: Ports, caller: Caller, user_id: str | None) -> str:
    """The caller's own id, or, for an admin, the user it names (who must exist)."""
    if user_id is None or user_id == caller.user.id:
        return caller.user.id
    if not caller.is_admin:
        raise PermissionDenied("Only an admin may act for another user; leave out `user`.")
    if ports.users.get(user_id) is None:
        raise InvalidInput.for_field("user", "No user with this id.")
    return user_id
