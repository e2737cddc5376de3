"""The tenants' X details as the API shows them: connections read from the store, with
no call to X (connecting and revoking, which call X, are in connections.py)."""

from twittnow.auth import Caller
from twittnow.errors import NotFound
from twittnow.models import XConnection
from twittnow.ports import Ports


def list_for(ports: Ports, caller: Caller) -> list[XConnection]:
    """Every connection for an admin; a tenant's own (none or one) for the tenant, so that
    it can find its connection's id, as it finds its ServiceNow details."""
    if caller.is_admin:
        return ports.credentials.all_x()
    own = ports.credentials.x_of(caller.user.id)
    return [own] if own is not None else []


def get(ports: Ports, caller: Caller, connection_id: str) -> XConnection:
    # Another tenant's id answers 404 like an unknown one: ids don't reveal who exists.
    connection = ports.credentials.x_by_id(connection_id)
    if connection is None or not caller.may_manage(connection.user_id):
        raise NotFound(f"No X details with id {connection_id}.")
    return connection
