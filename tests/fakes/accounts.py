"""Fakes of the tables of tenants and their access: users, tokens, login attempts,
credentials (ServiceNow details, X connections), custom fields, the audit log and OAuth
requests. Each raises what its repository (twittnow.repositories.*) raises, on the same
conditions."""

from datetime import UTC, datetime, timedelta

from tests.fakes.records import Item, item, whole_seconds
from twittnow import clock
from twittnow.clock import sortable
from twittnow.models import (
    AuditEntry,
    CustomField,
    OAuthRequest,
    PendingXConnection,
    ServiceNowDetails,
    Token,
    TokenKind,
    User,
    XConnection,
)
from twittnow.names import matching_key
from twittnow.ports import Users
from twittnow.repositories.credentials import (
    AccountHeldByAnotherTenant,
    AlreadyConnected,
    PendingConnectionGone,
    RecordChanged,
)
from twittnow.repositories.custom_fields import FieldChanged, FieldGone, FieldNameTaken
from twittnow.repositories.login_attempts import TooManyAttempts
from twittnow.repositories.tokens import ConditionNotMet
from twittnow.repositories.users import UserChanged, UserGone, UsernameTaken


def _updated_at(record: User | CustomField) -> str:
    # Every change sets updated_at: a write names the record as read by it.
    return item(record)["updated_at"]


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class FakeUsers:
    def __init__(self) -> None:
        self._users: dict[str, Item] = {}
        self._claims: dict[str, str] = {}  # username's matching key -> user id

    def create(self, user: User) -> None:
        if matching_key(user.username) in self._claims:
            raise UsernameTaken(user.username)
        self._claims[matching_key(user.username)] = user.id
        self._users[user.id] = item(user)

    def get(self, user_id: str) -> User | None:
        found = self._users.get(user_id)
        return User.model_validate(found) if found else None

    def get_by_username(self, username: str) -> User | None:
        user_id = self._claims.get(matching_key(username))
        return self.get(user_id) if user_id else None

    def list_all(self) -> list[User]:
        by_age = sorted(self._users.values(), key=lambda user: user["created_at"])
        return [User.model_validate(user) for user in by_age]

    def replace(self, user: User, previous: User) -> None:
        new_key, old_key = matching_key(user.username), matching_key(previous.username)
        # The claim is checked first: a taken username is what the caller hears of.
        if new_key != old_key and new_key in self._claims:
            raise UsernameTaken(user.username)
        self._unchanged(previous)
        if new_key != old_key:
            self._claims.pop(old_key, None)
            self._claims[new_key] = user.id
        self._users[user.id] = item(user)

    def delete(self, user: User) -> None:
        self._unchanged(user)
        del self._users[user.id]
        self._claims.pop(matching_key(user.username), None)

    def _unchanged(self, read: User) -> None:
        stored = self._users.get(read.id)
        if stored is None:
            raise UserGone(read.id)
        if stored["updated_at"] != _updated_at(read):
            raise UserChanged(read.id)


class FakeTokens:
    def __init__(self, users: Users):
        self._users = users  # a login's token is stored only while its password stands
        self._tokens: dict[str, Item] = {}
        self._api_key_slots: dict[str, str] = {}  # tenant -> its current API key's digest

    def add(self, token: Token) -> None:
        # expires_at is stored in epoch seconds (the TTL attribute).
        expires_at = token.expires_at and whole_seconds(token.expires_at)
        self._tokens[token.digest] = item(token.model_copy(update={"expires_at": expires_at}))

    def add_while_password_is(self, token: Token, user: User) -> None:
        stored = self._users.get(user.id)
        if stored is None or stored.password_hash != user.password_hash:
            raise ConditionNotMet()
        self.add(token)

    def replace_api_key(self, api_key: Token) -> None:
        self.add(api_key)
        displaced = self._api_key_slots.get(api_key.user_id)
        self._api_key_slots[api_key.user_id] = api_key.digest
        if displaced:
            self.delete(displaced)

    def get(self, digest: str) -> Token | None:
        """Expired tokens too: DynamoDB deletes them late, and callers check expires_at."""
        found = self._tokens.get(digest)
        return Token.model_validate(found) if found else None

    def delete(self, digest: str) -> None:
        self._tokens.pop(digest, None)

    def delete_for_user(
        self, user_id: str, kind: TokenKind | None = None, keep_digest: str | None = None
    ) -> None:
        for digest, token in list(self._tokens.items()):
            if (
                token["user_id"] == user_id
                and kind in (None, token["kind"])
                and digest != keep_digest
            ):
                del self._tokens[digest]
        if kind is None:
            # The slot is an item among the tenant's tokens, of a kind of its own.
            self._api_key_slots.pop(user_id, None)


class FakeLoginAttempts:
    def __init__(self) -> None:
        # username key -> {"failures": n, "window_ends": epoch seconds}
        self._windows: dict[str, dict[str, int]] = {}

    def count_attempt(
        self, username_key: str, now: datetime, window: timedelta, limit: int
    ) -> datetime:
        current = self._windows.get(username_key)
        if current and current["window_ends"] > int(now.timestamp()):
            if current["failures"] >= limit:
                raise TooManyAttempts(datetime.fromtimestamp(current["window_ends"], tz=now.tzinfo))
            current["failures"] += 1
        else:
            current = {"failures": 1, "window_ends": int((now + window).timestamp())}
            self._windows[username_key] = current
        return datetime.fromtimestamp(current["window_ends"], tz=now.tzinfo)

    def take_back(self, username_key: str, window_ends: datetime) -> None:
        current = self._windows.get(username_key)
        if current is None or current["window_ends"] != int(window_ends.timestamp()):
            return  # a later window: the attempt is no longer counted
        if current["failures"] == 1:
            del self._windows[username_key]
        elif current["failures"] > 0:
            current["failures"] -= 1

    def counted(self, username_key: str) -> int:
        """The attempts counted in the username's last window (0 when it has none)."""
        return self._windows.get(username_key, {}).get("failures", 0)


class FakeCredentials:
    def __init__(self) -> None:
        self._servicenow: dict[str, Item] = {}  # by tenant
        self._x: dict[str, Item] = {}  # by tenant
        # X user id -> {"tenant_id": ...} while a tenant holds the account, then
        # {"released_at": ...} once it is disconnected.
        self._claims: dict[str, dict[str, str]] = {}
        self._pending: dict[str, Item] = {}  # by code digest
        # connection id -> (holder, lease_until in epoch milliseconds), as the table keeps it
        self._refresh_leases: dict[str, tuple[str, int]] = {}

    # ------------------------------------------------------------ ServiceNow

    def add_servicenow(self, details: ServiceNowDetails) -> None:
        if details.user_id in self._servicenow:
            raise AlreadyConnected(details.user_id)
        self._servicenow[details.user_id] = item(details)

    def servicenow_by_id(self, details_id: str) -> ServiceNowDetails | None:
        found = next((d for d in self._servicenow.values() if d["id"] == details_id), None)
        return ServiceNowDetails.model_validate(found) if found else None

    def servicenow_of(self, user_id: str) -> ServiceNowDetails | None:
        found = self._servicenow.get(user_id)
        return ServiceNowDetails.model_validate(found) if found else None

    def all_servicenow(self) -> list[ServiceNowDetails]:
        by_age = sorted(self._servicenow.values(), key=lambda details: details["created_at"])
        return [ServiceNowDetails.model_validate(details) for details in by_age]

    def replace_servicenow(self, details: ServiceNowDetails, previous: ServiceNowDetails) -> None:
        if not self._servicenow_is(details.user_id, previous):
            raise RecordChanged(details.id)
        self._servicenow[details.user_id] = item(details)

    def record_servicenow_status(self, checked: ServiceNowDetails) -> bool:
        if not self._servicenow_is(checked.user_id, checked):
            return False
        written = item(checked)
        for name in ("status", "status_detail", "status_checked_at"):
            self._servicenow[checked.user_id][name] = written[name]
        return True

    def delete_servicenow(self, details: ServiceNowDetails) -> None:
        self._servicenow.pop(details.user_id, None)

    def _servicenow_is(self, user_id: str, read: ServiceNowDetails) -> bool:
        stored = self._servicenow.get(user_id)
        read_item = item(read)
        return stored is not None and all(stored[k] == read_item[k] for k in ("id", "updated_at"))

    # ------------------------------------------------------------ X

    def add_x_pending(self, pending: PendingXConnection) -> None:
        expires_at = whole_seconds(pending.expires_at)
        self._pending[pending.code_digest] = item(
            pending.model_copy(update={"expires_at": expires_at})
        )

    def x_pending(self, code_digest: str) -> PendingXConnection | None:
        found = self._pending.get(code_digest)
        pending = PendingXConnection.model_validate(found) if found else None
        return pending if pending and pending.expires_at > clock.now() else None

    def confirm_x(self, connection: XConnection, pending: PendingXConnection) -> None:
        """All or nothing, refused for the first of its three conditions that fails."""
        stored_pending = self._pending.get(pending.code_digest)
        now = int(clock.now().timestamp())
        if (
            stored_pending is None
            or stored_pending["user_id"] != connection.user_id
            or PendingXConnection.model_validate(stored_pending).expires_at.timestamp() <= now
        ):
            raise PendingConnectionGone(pending.code_digest)
        holder = self._claims.get(connection.x_user_id, {}).get("tenant_id")
        if holder not in (None, connection.user_id):
            raise AccountHeldByAnotherTenant(connection.x_user_id)
        current = self._x.get(connection.user_id)
        if current is not None and current["x_user_id"] != connection.x_user_id:
            raise AlreadyConnected(connection.user_id)
        del self._pending[pending.code_digest]
        self._claims[connection.x_user_id] = {"tenant_id": connection.user_id}
        self._x[connection.user_id] = item(connection)

    def x_of(self, user_id: str) -> XConnection | None:
        found = self._x.get(user_id)
        return XConnection.model_validate(found) if found else None

    def x_by_id(self, connection_id: str) -> XConnection | None:
        found = next((c for c in self._x.values() if c["id"] == connection_id), None)
        return XConnection.model_validate(found) if found else None

    def x_by_account(self, x_user_id: str) -> XConnection | None:
        tenant_id = self._claims.get(x_user_id, {}).get("tenant_id")
        return self.x_of(tenant_id) if tenant_id else None

    def holds_account(self, x_user_id: str) -> bool:
        return "tenant_id" in self._claims.get(x_user_id, {})

    def account_released_at(self, x_user_id: str) -> datetime | None:
        released_at = self._claims.get(x_user_id, {}).get("released_at")
        return datetime.fromisoformat(released_at) if released_at else None

    def all_x(self) -> list[XConnection]:
        by_age = sorted(self._x.values(), key=lambda connection: connection["connected_at"])
        return [XConnection.model_validate(connection) for connection in by_age]

    def replace_x(self, connection: XConnection) -> bool:
        stored = self._x.get(connection.user_id)
        if stored is None or stored["id"] != connection.id:
            return False  # revoked meanwhile
        self._x[connection.user_id] = item(connection)
        return True

    def disconnect_x(self, connection: XConnection, released_at: datetime) -> None:
        self._x.pop(connection.user_id, None)
        self._claims[connection.x_user_id] = {"released_at": released_at.isoformat()}

    def x_current(self, connection: XConnection) -> XConnection | None:
        current = self.x_of(connection.user_id)
        return current if current is not None and current.id == connection.id else None

    def record_x_secret_version(self, connection: XConnection, secret_version: str) -> bool:
        stored = self._x.get(connection.user_id)
        if stored is None or stored["id"] != connection.id:
            return False  # revoked meanwhile
        stored["secret_version"] = secret_version
        return True

    def take_x_refresh(
        self, connection_id: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        """As the table: taken unless another lease runs until after `now` (to the
        millisecond)."""
        lease = self._refresh_leases.get(connection_id)
        if lease is not None and lease[1] > _epoch_ms(now):
            return False
        self._refresh_leases[connection_id] = (holder, _epoch_ms(until))
        return True

    def release_x_refresh(self, connection_id: str, holder: str) -> None:
        lease = self._refresh_leases.get(connection_id)
        if lease is not None and lease[0] == holder:
            del self._refresh_leases[connection_id]

    def refresh_lease(self, connection_id: str) -> tuple[str, datetime] | None:
        """For tests: the connection's refresh lease (holder, until), if one is stored."""
        lease = self._refresh_leases.get(connection_id)
        return (lease[0], datetime.fromtimestamp(lease[1] / 1000, UTC)) if lease else None


class FakeCustomFields:
    def __init__(self) -> None:
        self._fields: dict[str, Item] = {}  # by id
        self._claims: dict[tuple[str, str], str] = {}  # (tenant, name's matching key) -> id

    def add(self, field: CustomField) -> None:
        claim = (field.user_id, matching_key(field.field_name))
        if claim in self._claims:
            raise FieldNameTaken(field.field_name)
        self._claims[claim] = field.id
        self._fields[field.id] = item(field)

    def get(self, field_id: str) -> CustomField | None:
        found = self._fields.get(field_id)
        return CustomField.model_validate(found) if found else None

    def of_tenant(self, user_id: str) -> list[CustomField]:
        """In the order they were created: the order of the questions."""
        fields = [
            CustomField.model_validate(f) for f in self._fields.values() if f["user_id"] == user_id
        ]
        return sorted(fields, key=lambda field: f"{sortable(field.created_at)}#{field.id}")

    def replace(self, field: CustomField, previous: CustomField) -> None:
        new_claim = (field.user_id, matching_key(field.field_name))
        old_claim = (previous.user_id, matching_key(previous.field_name))
        if new_claim != old_claim and new_claim in self._claims:
            raise FieldNameTaken(field.field_name)
        self._unchanged(previous)
        if new_claim != old_claim:
            self._claims.pop(old_claim, None)
            self._claims[new_claim] = field.id
        self._fields[field.id] = item(field)

    def delete(self, field: CustomField) -> None:
        self._unchanged(field)
        del self._fields[field.id]
        self._claims.pop((field.user_id, matching_key(field.field_name)), None)

    def delete_tenant(self, user_id: str) -> None:
        for field in self.of_tenant(user_id):
            del self._fields[field.id]
        self._claims = {claim: id_ for claim, id_ in self._claims.items() if claim[0] != user_id}

    def _unchanged(self, read: CustomField) -> None:
        stored = self._fields.get(read.id)
        if stored is None:
            raise FieldGone(read.id)
        if stored["updated_at"] != _updated_at(read):
            raise FieldChanged(read.id)


class FakeAuditLog:
    def __init__(self) -> None:
        self._entries: dict[str, Item] = {}  # by the table's sort key: "<at>#<id>"

    def add(self, entry: AuditEntry) -> None:
        self._entries[f"{sortable(entry.at)}#{entry.id}"] = item(entry)

    def between(self, start: datetime, end: datetime) -> list[AuditEntry]:
        """From `start` to `end` (inclusive), newest first."""
        low, high = sortable(start), sortable(end) + "~"
        keys = sorted((key for key in self._entries if low <= key <= high), reverse=True)
        return [AuditEntry.model_validate(self._entries[key]) for key in keys]


class FakeOAuthRequests:
    def __init__(self) -> None:
        self._requests: dict[str, Item] = {}  # by request token

    def add(self, request: OAuthRequest) -> None:
        expires_at = whole_seconds(request.expires_at)
        self._requests[request.oauth_token] = item(
            request.model_copy(update={"expires_at": expires_at})
        )

    def get(self, oauth_token: str) -> OAuthRequest | None:
        """Unless unknown, spent or expired."""
        found = self._requests.get(oauth_token)
        request = OAuthRequest.model_validate(found) if found else None
        return request if request and request.expires_at > clock.now() else None

    def spend(self, oauth_token: str) -> bool:
        return self._requests.pop(oauth_token, None) is not None

    def stored(self) -> dict[str, Item]:
        """For tests: every request the table holds (expired ones too), by its key."""
        return {key: dict(value) for key, value in self._requests.items()}

    def verifier_refused(self, request: OAuthRequest, max_failures: int) -> None:
        stored = self._requests.get(request.oauth_token)
        # Counted on the stored request, not the caller's copy: redirects race.
        if (
            request.verifier_failures + 1 >= max_failures
            or stored is None
            or stored["verifier_failures"] >= max_failures - 1
        ):
            self._requests.pop(request.oauth_token, None)
        else:
            stored["verifier_failures"] += 1
