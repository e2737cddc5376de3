"""Nothing lost when a delivery goes missing: X's replays when our side was down, and the
reconciliation of X Chat conversations for what X never delivered.

Our side was down (a failed deploy, API Gateway throttling, an invalid webhook). X keeps
for 24 hours what it delivered or tried to deliver to the webhook, and replays a window on
request (x-api/webhooks/create-replay-job-for-webhook.mdx). A scheduled run (every
RUN_EVERY) looks for a gap and requests the replay itself:

- X marks the webhook invalid (GET /2/webhooks: valid false; x-api/webhooks/
  introduction.mdx: a wrong CRC answer, or 28 hours without a good one). X then stops
  delivering; the run has X check the CRC again (PUT /2/webhooks/{id}) and, once the
  webhook is valid, requests the window since the last delivery it knows of;
- no delivery accepted for SILENCE while accounts are connected (a failed deploy of the
  webhook, throttling): deliveries stopped, or nobody wrote. Which, only X knows, so the
  window is requested: a replay of a quiet window delivers nothing, and one every SILENCE
  at most is far within X's 100 per 15 minutes (x-api/fundamentals/rate-limits.mdx);
- no run for MISSED_RUNS: the service itself was down, the webhook very likely with it.

The webhook keeps its last accepted delivery's time (`delivered_at`) with a conditional
write at most once a minute per Lambda instance (`mark_delivery`): one DynamoDB write on a
delivery a minute, against reading it from what the processor records, which lags the
webhook by its queue and retries and keeps no "latest" of all tenants. The minute it may
lag is covered by windows that start where the last one ended.

Each window is requested once: the state item carries a version, and only the run whose
conditional write moved `covered_until` past the window asks X; a request X refuses (a
replay job already running, X unavailable) puts the window back for the next run. Windows
touch at their ends (X takes both minutes inclusive), so none is left out. Replayed
deliveries carry their original ids and are deduplicated as X's retries are: by SQS within
five minutes, and by the processor (a message is stored once by its X id).

X never delivered (bridge authors report deliveries the stream missed): the run reads the
recent events of the X Chat conversations active in the last day, with the account's own
credentials, and queues to the inbound queue, as ChatMessage events, the messages no
message of the conversation has. The processor stays the one place that verifies,
decrypts and deduplicates; the run only reads the unsigned envelope of each event for its
message id, its sender and its time (`read_envelope`), and records each message id it
queued so that it queues it once. Conversations the service never heard of are out of its
reach (it reads those it has).

Recovered messages are counted by path (RecoveredMessages, dimension path): "replay" by
the processor, for a message it had not seen that the webhook accepted more than LATE
after it was sent; "reconciliation" here, for each message queued.
"""

from __future__ import annotations

import base64
import binascii
import struct
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from twittnow import clock
from twittnow.instance import kept
from twittnow.models import RecoveryState, ReplayRequest
from twittnow.observability import METRICS_NAMESPACE, count, logger
from twittnow.x_events import ChatMessage, conversation_key, deduplication_id

if TYPE_CHECKING:
    from twittnow.clients.x.models import AccountCredentials
    from twittnow.models import Conversation, XConnection
    from twittnow.ports import Ports

RUN_EVERY = timedelta(minutes=5)  # the template's schedule (ReconcileFunction)
SILENCE = timedelta(minutes=10)
MISSED_RUNS = 3 * RUN_EVERY
# How often a Lambda instance of the webhook writes delivered_at, at most.
MARK_EVERY = timedelta(minutes=1)
# X keeps (and replays) the deliveries of the last 24 hours.
REPLAY_HORIZON = timedelta(hours=24)
# X Chat conversations whose latest message is this recent are reconciled.
ACTIVE_FOR = timedelta(hours=24)
# An event this recent may still be on its way through the webhook and the queue.
SETTLE = timedelta(minutes=2)
# A message the webhook accepted this long after it was sent came late: a replay (or X
# retrying after our side failed). X delivers within seconds otherwise.
LATE = timedelta(minutes=2)
# Pages of 100 events read per conversation at most, newest first.
MAX_HISTORY_PAGES = 3
# How long a queued message id is remembered: past the day it can be reconciled in.
RECONCILED_KEPT_FOR = timedelta(hours=48)
REPLAY_KEPT_FOR = timedelta(days=7)
X_DATE_FORMAT = "%Y%m%d%H%M"  # yyyymmddhhmm, UTC

Path = Literal["replay", "reconciliation"]


class InvalidWindow(ValueError):
    """A replay window X would refuse: the message says why, for the operator."""


# Named tuples, not frozen dataclasses: about 0.2 ms each to make at a cold start, not 0.9.
class Window(NamedTuple):
    """Whole minutes, UTC, both included (as X takes them)."""

    start: datetime
    end: datetime

    @property
    def from_date(self) -> str:
        return self.start.astimezone(UTC).strftime(X_DATE_FORMAT)

    @property
    def to_date(self) -> str:
        return self.end.astimezone(UTC).strftime(X_DATE_FORMAT)


class RunReport(NamedTuple):
    replays: list[ReplayRequest]
    reconciled: int
    invalid_webhooks: list[str]


# ---------------------------------------------------------------- the webhook


@kept
def _marked_at() -> dict[str, datetime]:
    """When this instance last wrote delivered_at."""
    return {}


def mark_delivery(ports: Ports, at: datetime) -> None:
    """The webhook accepted a delivery at `at`: written at most once per MARK_EVERY per
    instance. A failed write costs at most a replay that was not needed, never the
    delivery, which is queued already: it is logged, not raised."""
    last = _marked_at().get("at")
    if last is not None and at - last < MARK_EVERY:
        return
    _marked_at()["at"] = at
    try:
        ports.recovery.delivery_accepted(at)
    except Exception:  # whatever failed: the delivery is queued (see above)
        logger.exception("The webhook's last delivery time was not recorded.")


# ---------------------------------------------------------------- windows


def parse_time(text: str) -> datetime:
    """yyyymmddhhmm (X's form, UTC) or ISO 8601 (UTC when it names no offset)."""
    value = text.strip()
    try:
        if len(value) == 12 and value.isascii() and value.isdigit():
            return datetime.strptime(value, X_DATE_FORMAT).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidWindow(
            f"{text!r} is not a time: write yyyymmddhhmm (UTC) or ISO 8601, "
            "e.g. 202612071405 or 2026-12-07T14:05Z."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def checked_window(start: datetime, end: datetime, now: datetime) -> Window:
    """The window [start, end] in whole minutes, or InvalidWindow when X would refuse it:
    starting after it ends, in the future, or older than the 24 hours X keeps."""
    window = Window(_minute(start), _minute(end))
    if window.start >= window.end:
        raise InvalidWindow("The window must start before it ends (--from before --to).")
    if window.end > now:
        raise InvalidWindow(f"The window ends in the future; now is {clock.isoformat(now)}.")
    if window.start < now - REPLAY_HORIZON:
        raise InvalidWindow(
            "X replays only the last 24 hours: start at "
            f"{clock.isoformat(_minute(now - REPLAY_HORIZON) + timedelta(minutes=1))} or later."
        )
    return window


def request_replay(
    ports: Ports,
    webhook_id: str,
    window: Window,
    *,
    by: Literal["service", "operator"],
    reason: str = "",
) -> ReplayRequest:
    """Asks X to replay the window to the webhook, and records that it did. X's refusals
    propagate (XError)."""
    job_id = ports.x().replay_webhook(webhook_id, window.from_date, window.to_date)
    request = ReplayRequest(
        webhook_id=webhook_id,
        from_date=window.from_date,
        to_date=window.to_date,
        job_id=job_id,
        requested_at=clock.now(),
        requested_by=by,
        reason=reason,
    )
    ports.recovery.add_replay(request, expires_at=request.requested_at + REPLAY_KEPT_FOR)
    logger.info(
        "Replay requested",
        extra={
            "webhook_id": webhook_id,
            "from_date": window.from_date,
            "to_date": window.to_date,
            "job_id": job_id,
            "requested_by": by,
            "reason": reason,
        },
    )
    return request


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


# ---------------------------------------------------------------- the scheduled run


def run(ports: Ports) -> RunReport:
    """One scheduled run: replays for a gap, then the X Chat reconciliation."""
    connections = [
        connection for connection in ports.credentials.all_x() if connection.status == "connected"
    ]
    replays, invalid = _recover_gaps(ports, connections)
    reconciled = sum(_reconcile_account(ports, connection) for connection in connections)
    if reconciled:
        count_recovered("reconciliation", reconciled)
    return RunReport(replays=replays, reconciled=reconciled, invalid_webhooks=invalid)


def _recover_gaps(
    ports: Ports, connections: list[XConnection]
) -> tuple[list[ReplayRequest], list[str]]:
    """Requests the replay of a gap seen now or left open by an earlier run; answers the
    requests made and the webhooks still invalid on X."""
    now = clock.now()
    state = ports.recovery.state()
    webhook_ids = sorted({connection.webhook_id for connection in connections})
    covered = state.covered_until or state.delivered_at or now
    gap_from, reason = state.gap_from, state.gap_reason
    invalid: list[str] = []
    if webhook_ids:
        if gap_from is None and state.checked_at and now - state.checked_at >= MISSED_RUNS:
            gap_from = covered
            reason = f"no scheduled run since {clock.isoformat(state.checked_at)}"
        # Deliveries came up to here at least (a run's gap from a missed run starts before:
        # what came since may have come after the service was back).
        quiet_since = max(state.delivered_at or covered, covered)
        if gap_from is None and now - quiet_since >= SILENCE:
            gap_from, reason = quiet_since, f"no delivery since {clock.isoformat(quiet_since)}"
        seen_invalid, invalid = _revalidate(ports, webhook_ids)
        if seen_invalid and gap_from is None:
            gap_from, reason = quiet_since, "X marked the webhook invalid"
    window = _window_to_request(gap_from, now) if gap_from and not invalid else None
    if window is None:
        # Nothing to ask X now. A gap stays open while the webhook is invalid; without
        # one, every delivery up to the last accepted one is had.
        ports.recovery.save_state(
            state.model_copy(
                update={
                    "checked_at": now,
                    "covered_until": covered
                    if gap_from
                    else max(covered, state.delivered_at or covered),
                    "gap_from": gap_from,
                    "gap_reason": reason if gap_from else "",
                    "version": state.version + 1,
                }
            ),
            state,
        )
        return [], invalid
    claimed = state.model_copy(
        update={
            "checked_at": now,
            "covered_until": window.end,
            "gap_from": None,
            "gap_reason": "",
            "version": state.version + 1,
        }
    )
    if not ports.recovery.save_state(claimed, state):
        return [], invalid  # another run moved on meanwhile: it asks for what it saw
    return _request_claimed(ports, webhook_ids, window, reason, claimed, covered), invalid


def _revalidate(ports: Ports, webhook_ids: list[str]) -> tuple[bool, list[str]]:
    """Has X check the CRC of each webhook it marks invalid (which makes it valid again
    when the webhook answers, x-api/webhooks/quickstart.mdx); answers whether X marked
    any invalid, and those still invalid. X unreachable: none known."""
    from twittnow.clients.x import XError  # the X client's modules: only where X is called

    try:
        listed = {webhook.id: webhook.valid for webhook in ports.x().list_webhooks()}
    except XError as error:
        logger.warning("X's webhooks could not be read", extra={"reason": error.message})
        return False, []
    seen_invalid, invalid = False, []
    for webhook_id in webhook_ids:
        if listed.get(webhook_id):
            continue
        seen_invalid = True
        count("WebhooksInvalid")
        try:
            ports.x().validate_webhook(webhook_id)
        except XError as error:
            invalid.append(webhook_id)
            logger.error(
                "The webhook is invalid on X and failed X's CRC check again",
                extra={"webhook_id": webhook_id, "reason": error.message},
            )
        else:
            logger.warning("The webhook was invalid on X; X's CRC check passed again")
    return seen_invalid, invalid


def _request_claimed(
    ports: Ports,
    webhook_ids: list[str],
    window: Window,
    reason: str,
    claimed: RecoveryState,
    covered: datetime,
) -> list[ReplayRequest]:
    """Asks X to replay the window this run claimed; if X refuses, gives the window back
    to the next run, which asks again from the same start."""
    from twittnow.clients.x import XError

    requested: list[ReplayRequest] = []
    try:
        for webhook_id in webhook_ids:
            requested.append(request_replay(ports, webhook_id, window, by="service", reason=reason))
    except XError as error:
        logger.warning(
            "X refused the replay; the next run asks again",
            extra={"from_date": window.from_date, "reason": error.message},
        )
        ports.recovery.save_state(
            claimed.model_copy(
                update={
                    "covered_until": covered,
                    "gap_from": window.start,
                    "gap_reason": reason,
                    "version": claimed.version + 1,
                }
            ),
            claimed,
        )
    return requested


def _window_to_request(gap_from: datetime, now: datetime) -> Window:
    """[gap_from, now] in whole minutes (one at least: X takes both ends), within what X
    keeps."""
    oldest = _minute(now - REPLAY_HORIZON) + timedelta(minutes=1)
    start = _minute(gap_from)
    if start < oldest:
        logger.error(
            "Deliveries older than X keeps are lost to replay",
            extra={"from": clock.isoformat(start), "until": clock.isoformat(oldest)},
        )
        start = oldest
    return Window(start, max(start, _minute(now)))


# ---------------------------------------------------------------- X Chat reconciliation


def _reconcile_account(ports: Ports, connection: XConnection) -> int:
    """Queues the messages of the account's recent X Chat conversations that never
    arrived; answers how many. An account X refuses (broken, rate limited, connected with
    OAuth 1.0a: no X Chat) is left for the next run."""
    from twittnow import x_accounts
    from twittnow.clients.x import XError

    since = max(clock.now() - ACTIVE_FOR, connection.connected_at)
    conversations = [
        conversation
        for conversation in ports.conversations.of_tenant(connection.user_id, since=since)
        if conversation.chat_conversation_id and conversation.account_id == connection.x_user_id
    ]
    queued = 0
    try:
        credentials = x_accounts.credentials_of(ports, connection) if conversations else None
        for conversation in conversations:
            assert credentials is not None
            queued += _reconcile_conversation(ports, connection, credentials, conversation, since)
    except XError as error:
        logger.warning(
            "X Chat reconciliation left for the next run",
            extra={"account": connection.x_user_id, "reason": error.message},
        )
    return queued


def _reconcile_conversation(
    ports: Ports,
    connection: XConnection,
    credentials: AccountCredentials,
    conversation: Conversation,
    since: datetime,
) -> int:
    # Here, not at the top: the repositories import this module's records.
    from twittnow.repositories.queues import QueueMessage

    chat_conversation_id = conversation.chat_conversation_id
    assert chat_conversation_id is not None  # the caller's filter
    now = clock.now()
    account_id = connection.x_user_id
    known = _known_ids(ports, conversation.id)
    missing: dict[str, ChatMessage] = {}
    pagination: str | None = None
    for _ in range(MAX_HISTORY_PAGES):
        page = ports.x().conversation_events(credentials, chat_conversation_id, pagination)
        oldest_read = now
        for history_event in page.events:
            envelope = read_envelope(history_event.encoded_event)
            if envelope is None:
                logger.warning(
                    "An X Chat history event is not shaped as expected; not reconciled",
                    extra={"event_id": history_event.id},
                )
                continue
            oldest_read = min(oldest_read, envelope.created_at)
            if (
                envelope.is_message
                and since <= envelope.created_at <= now - SETTLE
                and envelope.message_id not in known
                # The service's own replies are known by their ids, and so are their echoes.
                and not (
                    envelope.sender_id == account_id
                    and ports.echoes.is_ours(account_id, envelope.message_id)
                )
            ):
                missing[envelope.message_id] = _chat_event(
                    connection, conversation, envelope, history_event.encoded_event
                )
        if page.next_token is None or oldest_read < since:
            break
        pagination = page.next_token
    queued = 0
    # Oldest first, as they were sent: the processor takes a customer's events in order.
    for message_id, event in sorted(missing.items(), key=lambda item: item[1].created_at or now):
        if ports.recovery.claim_reconciled(account_id, message_id, now + RECONCILED_KEPT_FOR):
            ports.inbound_queue.send(
                [
                    QueueMessage(
                        body=event,
                        group_id=conversation_key(event),
                        deduplication_id=deduplication_id(event),
                    )
                ]
            )
            queued += 1
    return queued


def _known_ids(ports: Ports, conversation_id: str) -> set[str]:
    """The X ids of the conversation's messages: inbound ones' (an unreadable X Chat
    message's too), and what X answered for the service's own."""
    known: set[str] = set()
    for message in ports.messages.of_conversation(conversation_id):
        known.add(message.event_id.removeprefix("unreadable:"))
        known.update(message.x_message_ids)
    return known


def _chat_event(
    connection: XConnection, conversation: Conversation, envelope: Envelope, encoded: str
) -> ChatMessage:
    assert conversation.chat_conversation_id is not None  # the caller's filter
    account_id = connection.x_user_id
    return ChatMessage(
        # No delivery carried it: named by its message id, apart from X's event_uuids.
        event_id=f"reconciled:{envelope.message_id}",
        account_id=account_id,
        direction="sent" if envelope.sender_id == account_id else "received",
        chat_conversation_id=conversation.chat_conversation_id,
        sender_id=envelope.sender_id,
        customer_id=conversation.customer_id,
        encoded_event=encoded,
        key_version=envelope.key_version,
        message_id=envelope.message_id,
        created_at=envelope.created_at,
        # None: the webhook never accepted it (and so the processor counts no replay).
        received_at=None,
    )


# ---------------------------------------------------------------- an X Chat event's envelope


class Envelope(NamedTuple):
    """What an X Chat event says of itself outside its encrypted, signed content."""

    message_id: str
    sender_id: str
    created_at: datetime
    key_version: str
    is_message: bool  # a message (else a key change, or another kind of event)


# Thrift binary protocol type ids (what X Chat's encoded events are).
_STOP, _BOOL, _BYTE, _DOUBLE, _I16, _I32, _I64 = 0, 2, 3, 4, 6, 8, 10
_STRING, _STRUCT, _MAP, _SET, _LIST = 11, 12, 13, 14, 15
_FIXED_SIZES = {_BOOL: 1, _BYTE: 1, _DOUBLE: 8, _I16: 2, _I32: 4, _I64: 8}


def read_envelope(encoded_event: str) -> Envelope | None:
    """The message id, sender, time and key version an encoded X Chat event carries in
    the clear, or None when it is not shaped so. Not verified: it only chooses what to
    queue; the processor verifies the signed event.

    The event is a base64 Thrift (binary protocol) struct: 2 message id, 3 sender id,
    6 created_at_msec, 7 event data, a union whose field 1 is a message's content (whose
    field 101 is the conversation key version) and field 3 a key change. That is what the
    Chat XDK's decrypt_event reads (established against chatxdk 0.5.2; X's documentation,
    xchat/cryptography-primer.mdx, names the message id, signed, and the sequence ids,
    unsigned, without giving the layout)."""
    try:
        data = base64.b64decode(encoded_event, validate=True)
        fields = _struct_fields(data, 0)[0]
        event_data = fields.get(7)
        content = event_data.get(1) if isinstance(event_data, dict) else None
        message_id, sender_id = fields.get(2), fields.get(3)
        created_at_msec = fields.get(6)
        if not (
            isinstance(message_id, bytes)
            and isinstance(sender_id, bytes)
            and isinstance(created_at_msec, bytes)
            and created_at_msec.isdigit()
        ):
            return None
        key_version = content.get(101) if isinstance(content, dict) else None
        return Envelope(
            message_id=message_id.decode(),
            sender_id=sender_id.decode(),
            created_at=datetime.fromtimestamp(int(created_at_msec) / 1000, UTC),
            key_version=key_version.decode() if isinstance(key_version, bytes) else "",
            is_message=isinstance(content, dict),
        )
    except (binascii.Error, ValueError, IndexError, struct.error, OverflowError, OSError):
        return None


def _struct_fields(data: bytes, offset: int) -> tuple[dict[int, object], int]:
    """A struct's fields from `offset`: strings as bytes, structs as dicts, the rest
    skipped (None); and where the struct ends."""
    fields: dict[int, object] = {}
    while True:
        kind = data[offset]
        offset += 1
        if kind == _STOP:
            return fields, offset
        (field_id,) = struct.unpack_from(">h", data, offset)
        fields[field_id], offset = _value(data, offset + 2, kind)


def _value(data: bytes, offset: int, kind: int) -> tuple[object, int]:
    if kind in _FIXED_SIZES:
        end = offset + _FIXED_SIZES[kind]
        if end > len(data):
            raise ValueError("truncated")
        return None, end
    if kind == _STRING:
        (size,) = struct.unpack_from(">i", data, offset)
        end = offset + 4 + size
        if size < 0 or end > len(data):
            raise ValueError("truncated")
        return data[offset + 4 : end], end
    if kind == _STRUCT:
        return _struct_fields(data, offset)
    if kind in (_LIST, _SET):
        element, (size,) = data[offset], struct.unpack_from(">i", data, offset + 1)
        offset += 5
        for _ in range(size):
            _, offset = _value(data, offset, element)
        return None, offset
    if kind == _MAP:
        key_kind, value_kind = data[offset], data[offset + 1]
        (size,) = struct.unpack_from(">i", data, offset + 2)
        offset += 6
        for _ in range(size):
            _, offset = _value(data, offset, key_kind)
            _, offset = _value(data, offset, value_kind)
        return None, offset
    raise ValueError(f"unknown Thrift type {kind}")


# ---------------------------------------------------------------- the metric


def count_recovered(path: Path, messages: int = 1) -> None:
    """RecoveredMessages, by path: what reached the service only through recovery."""
    if is_metrics_disabled():
        return
    with single_metric(
        name="RecoveredMessages",
        unit=MetricUnit.Count,
        value=messages,
        namespace=METRICS_NAMESPACE,
    ) as metric:
        metric.add_dimension(name="path", value=path)


def count_if_replayed(received_at: datetime | None, sent_at: datetime) -> None:
    """Called by the processor for a message it had not seen: one the webhook accepted
    LATE after it was sent came through a replay (or X's retries after our side failed)."""
    if received_at is not None and received_at - sent_at > LATE:
        count_recovered("replay")
