"""Credentials table: a tenant's connections, one item per (tenant, kind). Only metadata:
passwords and tokens live in Secrets Manager and the item keeps the secret's ARN.

Beside an X connection, a claim item keyed by the X account (user_id
"x-account#<x user id>", kind "x_account") names the tenant that holds the account
(tenant_id): one tenant per X account, and the webhook's way from an account to its
tenant. Disconnecting leaves the claim without a tenant and with released_at, the time a
new connection of the account keeps as account_released_at.

A pending connection (an account approved on X, waiting for its tenant's confirmation)
is an item keyed by its code's digest (user_id "x-pending#<digest>", kind "x_pending"),
with expires_at for DynamoDB's TTL. Confirming deletes it in the transaction that stores
the connection, so that a code connects once.

While an instance renews an OAuth 2.0 connection's tokens, it holds a lease: an item keyed
by the connection (user_id "x-refresh#<connection id>", kind "x_refresh") naming its
holder, good until lease_until (epoch milliseconds), taken with a conditional write that
succeeds only where there is none or it has run out, so that a crashed holder blocks the
others no longer than the lease. expires_at (DynamoDB's TTL) clears it later."""

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from twittnow import clock
from twittnow.models import PendingXConnection, ServiceNowDetails, XConnection
from twittnow.repositories.dynamo import client, from_item, is_condition_failure, to_item

SERVICENOW = "servicenow"
X = "x"
X_ACCOUNT_CLAIM = "x_account"
X_PENDING = "x_pending"
X_REFRESH = "x_refresh"
# DynamoDB's TTL removes a lease this long after it ran out (the condition, not the TTL,
# lets the next holder in).
_LEASE_TTL_MARGIN_SECONDS = 3600


class AlreadyConnected(Exception):
    """The tenant already has a record of this kind."""


class AccountHeldByAnotherTenant(Exception):
    """The X account is connected to another tenant."""


class RecordChanged(Exception):
    """The record was changed or deleted since it was read."""


class PendingConnectionGone(Exception):
    """The pending connection was confirmed (or expired) meanwhile."""


def _claim_key(x_user_id: str) -> dict:
    return to_item({"user_id": f"x-account#{x_user_id}", "kind": X_ACCOUNT_CLAIM})


def _pending_key(code_digest: str) -> dict:
    return to_item({"user_id": f"x-pending#{code_digest}", "kind": X_PENDING})


def _refresh_key(connection_id: str) -> dict:
    return to_item({"user_id": f"x-refresh#{connection_id}", "kind": X_REFRESH})


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CredentialsRepository:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add_servicenow(self, details: ServiceNowDetails) -> None:
        try:
            client().put_item(
                TableName=self.table_name,
                Item=_servicenow_item(details),
                ConditionExpression="attribute_not_exists(user_id)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise AlreadyConnected(details.user_id) from error
            raise

    def servicenow_by_id(self, details_id: str) -> ServiceNowDetails | None:
        item = self._by_id(details_id, SERVICENOW)
        return _to_servicenow(item) if item else None

    def servicenow_of(self, user_id: str) -> ServiceNowDetails | None:
        item = (
            client()
            .get_item(
                TableName=self.table_name, Key=to_item({"user_id": user_id, "kind": SERVICENOW})
            )
            .get("Item")
        )
        return _to_servicenow(item) if item else None

    def all_servicenow(self) -> list[ServiceNowDetails]:
        """Every tenant's record, oldest first (admin listing)."""
        return [_to_servicenow(item) for item in self._all_of_kind(SERVICENOW)]

    def replace_servicenow(self, details: ServiceNowDetails, previous: ServiceNowDetails) -> None:
        """Writes a changed record, if it is still `previous` (its updated_at); raises
        RecordChanged if it was changed or deleted meanwhile, writing nothing."""
        try:
            client().put_item(
                TableName=self.table_name,
                Item=_servicenow_item(details),
                ConditionExpression="id = :id AND updated_at = :updated_at",
                ExpressionAttributeValues={
                    ":id": {"S": previous.id},
                    ":updated_at": _servicenow_item(previous)["updated_at"],
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise RecordChanged(details.id) from None
            raise

    def record_servicenow_status(self, checked: ServiceNowDetails) -> bool:
        """Writes the status fields of `checked` only if the record still holds the
        credentials that were checked (its updated_at is the one read): an outcome must
        not land on, or write back over, details changed meanwhile. False otherwise."""
        item = _servicenow_item(checked)
        try:
            client().update_item(
                TableName=self.table_name,
                Key={"user_id": item["user_id"], "kind": item["kind"]},
                UpdateExpression="SET #status = :status, status_detail = :detail, "
                "status_checked_at = :checked_at",
                ConditionExpression="id = :id AND updated_at = :updated_at",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":status": item["status"],
                    ":detail": item["status_detail"],
                    ":checked_at": item["status_checked_at"],
                    ":id": item["id"],
                    ":updated_at": item["updated_at"],
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def delete_servicenow(self, details: ServiceNowDetails) -> None:
        client().delete_item(
            TableName=self.table_name, Key=to_item({"user_id": details.user_id, "kind": SERVICENOW})
        )

    def add_x_pending(self, pending: PendingXConnection) -> None:
        values = pending.model_dump(mode="json", exclude={"code_digest", "user_id", "expires_at"})
        item = {
            **_pending_key(pending.code_digest),
            **to_item(
                {
                    **values,
                    "tenant_id": pending.user_id,
                    "expires_at": int(pending.expires_at.timestamp()),
                }
            ),
        }
        client().put_item(TableName=self.table_name, Item=item)

    def x_pending(self, code_digest: str) -> PendingXConnection | None:
        """The pending connection of this code, unless it is unknown, used or expired."""
        item = (
            client()
            .get_item(TableName=self.table_name, Key=_pending_key(code_digest), ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            return None
        values = from_item(item)
        pending = PendingXConnection(
            code_digest=code_digest,
            user_id=values["tenant_id"],
            x_user_id=values["x_user_id"],
            screen_name=values["screen_name"],
            sealed_tokens=values["sealed_tokens"],
            expires_at=datetime.fromtimestamp(int(values["expires_at"]), tz=UTC),
        )
        return pending if pending.expires_at > clock.now() else None

    def confirm_x(self, connection: XConnection, pending: PendingXConnection) -> None:
        """Stores a tenant's X connection (or replaces its record when the tenant
        reconnects the same account), claims the account for the tenant and uses up the
        pending connection, atomically."""
        try:
            client().transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table_name,
                            "Key": _pending_key(pending.code_digest),
                            "ConditionExpression": "tenant_id = :tenant AND expires_at > :now",
                            "ExpressionAttributeValues": to_item(
                                {
                                    ":tenant": connection.user_id,
                                    ":now": int(clock.now().timestamp()),
                                }
                            ),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": {
                                **_claim_key(connection.x_user_id),
                                **to_item({"tenant_id": connection.user_id}),
                            },
                            "ConditionExpression": "attribute_not_exists(tenant_id) OR tenant_id = :tenant",
                            "ExpressionAttributeValues": to_item({":tenant": connection.user_id}),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _x_item(connection),
                            "ConditionExpression": "attribute_not_exists(user_id) OR x_user_id = :account",
                            "ExpressionAttributeValues": to_item(
                                {":account": connection.x_user_id}
                            ),
                        }
                    },
                ]
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            reasons = [
                reason.get("Code") for reason in error.response.get("CancellationReasons", [])
            ]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise PendingConnectionGone(pending.code_digest) from error
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                raise AccountHeldByAnotherTenant(connection.x_user_id) from error
            raise AlreadyConnected(connection.user_id) from error

    def x_of(self, user_id: str) -> XConnection | None:
        item = (
            client()
            .get_item(TableName=self.table_name, Key=to_item({"user_id": user_id, "kind": X}))
            .get("Item")
        )
        return _to_x(item) if item else None

    def x_by_id(self, connection_id: str) -> XConnection | None:
        item = self._by_id(connection_id, X)
        return _to_x(item) if item else None

    def x_by_account(self, x_user_id: str) -> XConnection | None:
        """The connection of the tenant that holds this X account, if any."""
        tenant_id = self._claim(x_user_id).get("tenant_id")
        return self.x_of(tenant_id) if tenant_id else None

    def holds_account(self, x_user_id: str) -> bool:
        """Whether a tenant holds this X account: one read, for the webhook."""
        return "tenant_id" in self._claim(x_user_id, "tenant_id")

    def account_released_at(self, x_user_id: str) -> datetime | None:
        """When the account was last disconnected, if it ever was."""
        released_at = self._claim(x_user_id, "released_at").get("released_at")
        return datetime.fromisoformat(released_at) if released_at else None

    def all_x(self) -> list[XConnection]:
        return [_to_x(item) for item in self._all_of_kind(X)]

    def replace_x(self, connection: XConnection) -> bool:
        """Writes a changed connection; False if it was revoked meanwhile."""
        try:
            client().put_item(
                TableName=self.table_name,
                Item=_x_item(connection),
                ConditionExpression="id = :id",
                ExpressionAttributeValues=to_item({":id": connection.id}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def disconnect_x(self, connection: XConnection, released_at: datetime) -> None:
        client().transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": to_item({"user_id": connection.user_id, "kind": X}),
                    }
                },
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            **_claim_key(connection.x_user_id),
                            **to_item({"released_at": released_at.isoformat()}),
                        },
                    }
                },
            ]
        )

    def x_current(self, connection: XConnection) -> XConnection | None:
        """The connection as stored now (a consistent read), or None once it is gone or
        replaced by another connection of the tenant."""
        item = (
            client()
            .get_item(
                TableName=self.table_name,
                Key=to_item({"user_id": connection.user_id, "kind": X}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        current = _to_x(item) if item else None
        return current if current is not None and current.id == connection.id else None

    def record_x_secret_version(self, connection: XConnection, secret_version: str) -> bool:
        """Points the connection at the secret version holding its renewed tokens (only
        that attribute: a status written meanwhile stays); False if it was revoked."""
        try:
            client().update_item(
                TableName=self.table_name,
                Key=to_item({"user_id": connection.user_id, "kind": X}),
                UpdateExpression="SET secret_version = :version",
                ConditionExpression="id = :id",
                ExpressionAttributeValues=to_item(
                    {":version": secret_version, ":id": connection.id}
                ),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def take_x_refresh(
        self, connection_id: str, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Takes the connection's refresh lease for `holder` until `until`: False while
        another holder's lease runs."""
        try:
            client().put_item(
                TableName=self.table_name,
                Item={
                    **_refresh_key(connection_id),
                    **to_item(
                        {
                            "holder": holder,
                            "lease_until": _epoch_ms(until),
                            "expires_at": int(until.timestamp()) + _LEASE_TTL_MARGIN_SECONDS,
                        }
                    ),
                },
                ConditionExpression="attribute_not_exists(user_id) OR lease_until <= :now",
                ExpressionAttributeValues=to_item({":now": _epoch_ms(now)}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def release_x_refresh(self, connection_id: str, holder: str) -> None:
        """Ends `holder`'s lease; one another holder took since is left alone."""
        try:
            client().delete_item(
                TableName=self.table_name,
                Key=_refresh_key(connection_id),
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues=to_item({":holder": holder}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def _claim(self, x_user_id: str, *attributes: str) -> dict:
        """The account's claim item as plain values ({} if there is none)."""
        projection: dict[str, Any] = (
            {"ProjectionExpression": ", ".join(attributes)} if attributes else {}
        )
        claim = client().get_item(
            TableName=self.table_name, Key=_claim_key(x_user_id), **projection
        )
        return from_item(claim["Item"]) if "Item" in claim else {}

    def _by_id(self, record_id: str, kind: str) -> dict | None:
        items = client().query(
            TableName=self.table_name,
            IndexName="by_id",
            KeyConditionExpression="id = :id",
            ExpressionAttributeValues=to_item({":id": record_id}),
        )["Items"]
        return next((item for item in items if from_item(item)["kind"] == kind), None)

    def _all_of_kind(self, kind: str) -> list[dict]:
        """Every tenant's record of a kind, oldest first (admin listings)."""
        paginator = client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            IndexName="by_kind",
            KeyConditionExpression="kind = :kind",
            ExpressionAttributeValues=to_item({":kind": kind}),
        )
        return [item for page in pages for item in page["Items"]]


def _x_item(connection: XConnection) -> dict:
    # created_at is the by_kind index's sort key: admins list connections oldest first.
    values = connection.model_dump(mode="json")
    return to_item({"kind": X, "created_at": values["connected_at"], **values})


def _to_x(item: dict) -> XConnection:
    values = from_item(item)
    values.pop("kind"), values.pop("created_at")
    return XConnection.model_validate(values)


def _servicenow_item(details: ServiceNowDetails) -> dict:
    return to_item({"kind": SERVICENOW, **details.model_dump(mode="json")})


def _to_servicenow(item: dict) -> ServiceNowDetails:
    values = from_item(item)
    values.pop("kind")
    return ServiceNowDetails.model_validate(values)
