"""Renewing an OAuth 2.0 connection's access token (twittnow.x_accounts), on the fakes:
a fresh token is used as it is; one due (within REFRESH_AHEAD of expiry) or answered 401
is renewed once, stored (a new secret version, then the record's secret_version) before
it is used; an instance that finds the refresh lease taken waits and rereads instead of
renewing again, and takes over a lease whose holder crashed once it runs out; a renewal X
refuses marks the connection broken and the reply waits as for any broken connection."""

import json
from datetime import timedelta

import pytest

from events import case_events, replies
from events.models import CaseEventRequest
from tests.unit.outbound_desk import NOW, Desk, open_desk
from twittnow import retries, x_accounts
from twittnow.clients.x import (
    BearerCredentials,
    OAuth2Tokens,
    XConnectionBroken,
    XRequestRejected,
    XUnavailable,
)
from twittnow.jobs import ReplyJob
from twittnow.models import MessageStatus, XConnection

REFUSED = "X refused to renew @acme_support's access; connect the account again."


@pytest.fixture
def desk(time) -> Desk:
    return open_desk()


@pytest.fixture
def tokens(desk) -> OAuth2Tokens:
    """The desk's connection made with OAuth 2.0: its tokens, issued NOW (two hours)."""
    issued = desk.x.issue_tokens()
    version = desk.ports.x_secrets.put(
        desk.connection.secret_arn, json.dumps(x_accounts.oauth2_secret(issued))
    )
    assert desk.ports.credentials.record_x_secret_version(desk.connection, version)
    desk.connection = stored_connection(desk)
    return issued


def stored_connection(desk: Desk) -> XConnection:
    connection = desk.ports.credentials.x_of(desk.tenant_id)
    assert connection is not None
    return connection


def stored_tokens(desk: Desk) -> dict[str, str]:
    connection = stored_connection(desk)
    return json.loads(desk.ports.x_secrets.get(connection.secret_arn, connection.secret_version))


def queue_reply(desk: Desk, message: str) -> ReplyJob:
    request = CaseEventRequest.model_validate({"case": desk.case.sys_id, "message": message})
    case_events.accept(desk.ports, desk.caller, request)
    job = desk.ports.outbound_queue.sent[-1].body  # type: ignore[attr-defined]
    assert isinstance(job, ReplyJob)
    return job


def deliver(desk: Desk, message: str = "We are on it.") -> ReplyJob:
    job = queue_reply(desk, message)
    replies.deliver(desk.ports, job)
    return job


def check_stored_before_use(desk: Desk, monkeypatch) -> list[str]:
    """Each DM X receives is checked to be sent with the token stored for the connection
    at that moment; answers the tokens used."""
    used: list[str] = []
    real = desk.x.send_dm

    def send_dm(user, participant_id, text):
        assert isinstance(user, BearerCredentials)
        assert stored_tokens(desk)["access_token"] == user.access_token
        used.append(user.access_token)
        return real(user, participant_id, text)

    monkeypatch.setattr(desk.x, "send_dm", send_dm)
    return used


def test_a_fresh_token_is_used_as_it_is(desk, tokens, time):
    time.advance(hours=1, minutes=54)  # six minutes left

    deliver(desk)

    assert desk.x.calls_to("refresh_oauth2") == []
    assert [dm.credentials for dm in desk.x.dms] == [BearerCredentials(tokens.access_token)]


def test_a_token_due_is_renewed_once_and_stored_before_it_is_used(desk, tokens, time, monkeypatch):
    used = check_stored_before_use(desk, monkeypatch)
    time.advance(hours=1, minutes=56)  # four minutes left

    deliver(desk, "First.")
    deliver(desk, "Second.")

    assert desk.x.refreshes == 1
    assert desk.x.calls_to("refresh_oauth2") == [{"refresh_token": tokens.refresh_token}]
    renewed = stored_tokens(desk)
    assert renewed["access_token"] != tokens.access_token
    assert renewed["refresh_token"] in desk.x.refresh_tokens  # the rotated one, unused
    assert renewed["expires_at"] == "2025-03-01T15:56:00Z"
    assert renewed["kind"] == "oauth2" and renewed["scope"] == tokens.scope
    assert used == [renewed["access_token"]] * 2
    assert stored_connection(desk).secret_version != desk.connection.secret_version
    assert desk.ports.credentials.refresh_lease(desk.connection.id) is None  # released


def test_a_401_renews_the_token_once_and_the_call_is_tried_once_more(desk, tokens, monkeypatch):
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")
    used = check_stored_before_use(desk, monkeypatch)

    job = deliver(desk)

    assert desk.x.refreshes == 1
    assert len(desk.x.calls_to("send_dm")) == 2
    assert used == [tokens.access_token, stored_tokens(desk)["access_token"]]
    assert [dm.text for dm in desk.x.dms] == ["We are on it."]
    assert desk.ports.messages.get(job.conversation_id, job.message_key).status == (
        MessageStatus.DELIVERED
    )
    assert stored_connection(desk).status == "connected"


def test_a_second_401_after_the_renewal_marks_the_connection_broken(desk, tokens):
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm", times=2)
    job = queue_reply(desk, "We are on it.")

    with pytest.raises(XConnectionBroken):
        replies.deliver(desk.ports, job)

    assert desk.x.refreshes == 1  # once, not once per 401
    assert stored_connection(desk).status == "broken"
    assert desk.ports.messages.get(job.conversation_id, job.message_key).status == (
        MessageStatus.QUEUED
    )


def test_an_oauth1_connection_is_not_renewed_on_a_401(desk):
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")

    with pytest.raises(XConnectionBroken):
        deliver(desk)

    assert desk.x.calls_to("refresh_oauth2") == []
    assert len(desk.x.calls_to("send_dm")) == 1


def test_an_instance_that_lost_the_race_rereads_the_tokens_instead_of_renewing(
    desk, tokens, time, monkeypatch
):
    time.advance(hours=2)  # expired
    credentials = desk.ports.credentials
    assert credentials.take_x_refresh(
        desk.connection.id, "other", time.now, time.now + (x_accounts.REFRESH_LEASE)
    )
    waits: list[float] = []

    def other_instance_finishes(seconds: float) -> None:
        # Meanwhile the other instance renews, stores and releases.
        waits.append(seconds)
        if len(waits) == 2:
            renewed = desk.x.refresh_oauth2(tokens.refresh_token)
            secret = json.dumps(x_accounts.oauth2_secret(renewed))
            version = desk.ports.x_secrets.put(desk.connection.secret_arn, secret)
            credentials.record_x_secret_version(desk.connection, version)
            credentials.release_x_refresh(desk.connection.id, "other")

    monkeypatch.setattr(x_accounts, "sleep", other_instance_finishes)

    deliver(desk)

    assert len(waits) == 2
    assert desk.x.refreshes == 1  # the other instance's
    assert len(desk.x.calls_to("refresh_oauth2")) == 1
    assert [dm.credentials for dm in desk.x.dms] == [
        BearerCredentials(stored_tokens(desk)["access_token"])
    ]


def test_a_lease_whose_holder_crashed_runs_out_and_is_taken_over(desk, tokens, time, monkeypatch):
    time.advance(hours=2)
    crashed_at = time.now
    assert desk.ports.credentials.take_x_refresh(
        desk.connection.id, "crashed", crashed_at, crashed_at + x_accounts.REFRESH_LEASE
    )
    monkeypatch.setattr(x_accounts, "sleep", lambda seconds: time.advance(seconds=1))

    deliver(desk)

    assert time.now - crashed_at == x_accounts.REFRESH_LEASE  # waited until it ran out
    assert desk.x.refreshes == 1
    assert desk.ports.credentials.refresh_lease(desk.connection.id) is None


def test_a_lease_held_longer_than_the_wait_leaves_the_reply_for_a_retry(
    desk, tokens, time, monkeypatch
):
    time.advance(hours=2)
    assert desk.ports.credentials.take_x_refresh(
        desk.connection.id, "slow", time.now, time.now + timedelta(hours=1)
    )
    ticks = iter(range(0, 1000, 5))
    monkeypatch.setattr(x_accounts, "monotonic", lambda: next(ticks))
    monkeypatch.setattr(x_accounts, "sleep", lambda seconds: None)
    job = queue_reply(desk, "We are on it.")

    with pytest.raises(XUnavailable):
        replies.deliver(desk.ports, job)

    assert desk.x.calls_to("refresh_oauth2") == [] and desk.x.dms == []
    assert desk.ports.messages.get(job.conversation_id, job.message_key).status == (
        MessageStatus.QUEUED
    )


@pytest.mark.parametrize("how", ["revoked", "used"])
def test_a_renewal_x_refuses_marks_the_connection_broken_and_the_reply_waits(
    desk, tokens, time, how
):
    if how == "revoked":
        desk.x.fail(
            XRequestRejected("X refused the refresh token", status_code=400), "refresh_oauth2"
        )
    else:
        desk.x.refresh_tokens.clear()  # used by someone else: X answers invalid_request
    time.advance(hours=2)
    job = queue_reply(desk, "We are on it.")

    with pytest.raises(XConnectionBroken) as refused:
        replies.deliver(desk.ports, job)

    broken = stored_connection(desk)
    assert (broken.status, broken.status_detail) == ("broken", REFUSED)
    entries = desk.ports.audit_log.between(NOW, time.now)
    assert [(e.action, e.actor_username) for e in entries] == [("x_connection.broken", "system")]
    assert desk.x.dms == []
    assert desk.ports.messages.get(job.conversation_id, job.message_key).status == (
        MessageStatus.QUEUED
    )
    # Waits as for any broken connection: tried again after the tenant had time to act.
    seconds, reason = retries.delay_for(refused.value, attempt=1)
    assert seconds == retries.TENANT_ACTION_WAIT_SECONDS
    assert reason == f"The X account must be connected again: {REFUSED}"
    assert desk.ports.credentials.refresh_lease(desk.connection.id) is None

    # Tried again: X is not asked to renew tokens it refused, and the mark stays.
    calls = len(desk.x.calls_to("refresh_oauth2"))
    with pytest.raises(XConnectionBroken):
        replies.deliver(desk.ports, job)
    assert len(desk.x.calls_to("refresh_oauth2")) == calls
    assert stored_connection(desk).status_detail == REFUSED


def test_a_renewal_x_refuses_on_a_401_is_not_marked_twice(desk, tokens, time):
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")
    desk.x.refresh_tokens.clear()

    with pytest.raises(XConnectionBroken):
        deliver(desk)

    assert stored_connection(desk).status_detail == REFUSED
    assert len(desk.ports.audit_log.between(NOW, time.now)) == 1
