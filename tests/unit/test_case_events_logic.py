"""A ServiceNow case event becomes a reply queued for the customer's conversation, at once
and exactly once (events.case_events.accept), on the fakes: which conversation a case or
customer names, what is refused, how a retried event is recognized, and the job queued
for the sender. HTTP (JSON and form bodies, authentication) is tests/api/test_case_events.py's."""

import hashlib
from collections import Counter
from datetime import timedelta

import pytest
from pydantic import ValidationError

from events import case_events
from events.models import CaseEventRequest
from tests.fakes import fake_settings
from tests.unit.outbound_desk import NOW, Desk, open_desk
from twittnow import clock, correlation_ids
from twittnow.clients.servicenow import CaseState, ServiceNowBadCredentials, ServiceNowUnavailable
from twittnow.errors import Conflict, InvalidInput, NotFound, UpstreamUnavailable
from twittnow.jobs import ReplyJob
from twittnow.models import Channel, Conversation, MessageDirection, MessageStatus


@pytest.fixture
def desk(time) -> Desk:
    return open_desk()


def event(**fields) -> CaseEventRequest:
    return CaseEventRequest.model_validate(fields)


def accept(desk: Desk, **fields):
    return case_events.accept(desk.ports, desk.caller, event(**fields))


def jobs(desk: Desk) -> list[ReplyJob]:
    """The jobs SQS keeps (one per deduplication id)."""
    return desk.ports.outbound_queue.jobs  # type: ignore[attr-defined]


def sent(desk: Desk):
    return desk.ports.outbound_queue.sent  # type: ignore[attr-defined]


def assert_nothing_queued(desk: Desk) -> None:
    assert sent(desk) == []
    assert desk.replies() == []


# ---------------------------------------------------------------- the reply queued


def test_an_agents_comment_on_the_case_is_a_reply_queued_for_its_conversation(desk):
    text = "Sorry! A replacement ships today."

    accepted = accept(desk, case=desk.case.sys_id, message=text, event_id="journal:1")

    assert (accepted.id, accepted.conversation, accepted.status) == (
        "journal:1",
        desk.conversation.id,
        "queued",
    )
    [reply] = desk.replies()
    assert reply.key == f"{clock.sortable(NOW)}#agent:journal:1"
    assert (reply.direction, reply.author, reply.text, reply.event_id) == (
        MessageDirection.OUTBOUND,
        "agent",
        text,
        "journal:1",
    )
    assert (reply.status, reply.handled, reply.case_number) == (
        MessageStatus.QUEUED,
        False,
        desk.case.number,
    )
    assert (reply.sent_at, reply.x_message_ids) == (NOW, [])
    [message] = sent(desk)
    assert message.body == ReplyJob(
        conversation_id=desk.conversation.id,
        message_key=reply.key,
        type="comment",
        case_sys_id=desk.case.sys_id,
    )
    # In order per conversation; SQS drops a copy of the same event.
    assert message.group_id == desk.conversation.id
    assert message.deduplication_id == f"{desk.conversation.id}:journal:1"
    # Nothing is sent yet, and ServiceNow is not asked: the conversation knows its case.
    assert desk.x.calls == [] and desk.servicenow.calls == []


@pytest.mark.parametrize("field", ["case", "number"])
def test_the_case_number_names_the_case_too(desk, field):
    accepted = accept(desk, **{field: desk.case.number}, message="We are looking into it.")

    assert accepted.conversation == desk.conversation.id
    [job] = jobs(desk)
    assert job.case_sys_id == desk.case.sys_id


@pytest.mark.parametrize("kind", ["resolved", "closed"])
def test_a_resolution_is_queued_with_its_type_with_or_without_a_message(desk, kind):
    accept(desk, case=desk.case.sys_id, type=kind, message="Refund issued.", event_id="e-1")
    accept(desk, case=desk.case.sys_id, type=kind, event_id="e-2")

    assert [(job.type, job.case_sys_id) for job in jobs(desk)] == [(kind, desk.case.sys_id)] * 2
    assert [reply.text for reply in desk.replies()] == ["Refund issued.", ""]
    # Queuing changes nothing of the conversation: the sender ends it once delivered.
    assert desk.conversation_now() == desk.conversation


def test_the_reply_is_stored_as_written_and_cleaned_only_on_its_way_to_x(desk):
    written = "Your refund\x00 is ready\u202e.\r\nThanks"

    accept(desk, case=desk.case.sys_id, message=written)

    [reply] = desk.replies()
    assert reply.text == written


# ---------------------------------------------------------------- refused events


def test_an_event_naming_neither_a_case_nor_a_customer_is_refused(desk):
    for request in (event(message="Hello"), event(case="", number="", message="Hello")):
        with pytest.raises(InvalidInput) as refused:
            case_events.accept(desk.ports, desk.caller, request)
        assert list(refused.value.details) == ["case"]
        assert "target" in refused.value.message and "number" in refused.value.message
    assert_nothing_queued(desk)


@pytest.mark.parametrize(
    "message", ["", "   \n ", "\x00\x1b \u202e\u2066"], ids=["empty", "blank", "only-controls"]
)
def test_a_comment_with_nothing_to_send_is_refused(desk, message):
    with pytest.raises(InvalidInput) as refused:
        accept(desk, case=desk.case.sys_id, message=message)

    assert refused.value.details == {"message": ["This field may not be blank."]}
    assert_nothing_queued(desk)


def test_a_tenant_without_a_connected_x_account_is_told_to_connect_one(desk):
    desk.ports.credentials.disconnect_x(desk.connection, released_at=NOW)

    with pytest.raises(Conflict) as refused:
        accept(desk, case=desk.case.sys_id, message="Too late.")

    assert "/get-auth-url" in refused.value.message
    assert_nothing_queued(desk)


INJECTED = [
    "CS0000001^ORnumber=CS0000002",  # another condition
    "CS0000001^NQactive=true",  # another query
    "javascript:gs.getUserID()",  # run by the instance
    "../../now/table/sys_user",
    "CS0000001/activities",
    "CS0000001 OR 1",
    "CS001%5E0001",
]


@pytest.mark.parametrize("field", ["case", "number", "target"])
def test_a_reference_that_would_change_a_servicenow_query_is_refused_by_the_request(field):
    for reference in INJECTED:
        with pytest.raises(ValidationError) as refused:
            event(**{field: reference, "message": "Hello"})
        [error] = refused.value.errors()
        assert error["loc"] == (field,)
        assert "letters, digits, '-' and '_' only" in error["msg"], reference


def test_references_of_letters_digits_dashes_and_underscores_are_taken_as_they_are():
    request = event(case=" CS0000001 ", number="CS_1-2", target="a" * 32, message="Hi")

    assert (request.case, request.number, request.target) == ("CS0000001", "CS_1-2", "a" * 32)


@pytest.mark.parametrize("event_id", ["a b", "évènement", "a\tb", "a\nb"])
def test_an_event_id_that_is_no_sqs_deduplication_id_is_refused(event_id):
    with pytest.raises(ValidationError, match="printable ASCII characters without spaces"):
        event(case="CS0000001", message="Hi", event_id=event_id)


def test_printable_event_ids_are_taken():
    assert event(case="CS1", event_id="sys_journal_field:42!~").event_id == "sys_journal_field:42!~"
    assert event(case="CS1").event_id is None


# ---------------------------------------------------------------- which conversation


def test_an_unknown_case_is_not_found_when_servicenow_has_none(desk):
    with pytest.raises(NotFound) as refused:
        accept(desk, case="CS9999999", message="Hello?")

    assert "CS9999999" in refused.value.message
    assert desk.servicenow.calls_to("get_case") == [{"sys_id_or_number": "CS9999999"}]
    assert_nothing_queued(desk)


def test_without_servicenow_details_an_unknown_case_is_not_found_without_asking(desk):
    desk.ports.credentials.delete_servicenow(desk.details)

    with pytest.raises(NotFound):
        accept(desk, case="CS9999999", message="Hello?")

    assert desk.servicenow.calls == []
    assert_nothing_queued(desk)


def test_another_tenants_case_is_not_found(desk):
    other = open_desk(desk.ports, tenant_id="tenant-2", account="901")

    for reference in (desk.case.sys_id, desk.case.number):
        with pytest.raises(NotFound):
            case_events.accept(desk.ports, other.caller, event(case=reference, message="Hijack"))
    assert_nothing_queued(desk)
    assert other.replies() == []


def unlinked(desk: Desk, correlation_id: str | None = None) -> tuple[Conversation, str]:
    """The customer's mention conversation, waiting for the case the processor asked for
    (ServiceNow made it, its create timed out, the retry is pending); and that case's
    number. The correlation id names the conversation unless given."""
    conversation = desk.start_conversation(Channel.MENTION, latest_post_id="post-7")
    if correlation_id is None:
        correlation_id = correlation_ids.for_case(conversation.id, "post-7")
    desk.ports.conversations.update(conversation.id, pending_case_correlation_id=correlation_id)
    case = desk.servicenow.add_case(
        desk.customer.consumer_sys_id or "", state=CaseState.NEW, correlation_id=correlation_id
    )
    return conversation, case.number


def test_a_case_not_linked_yet_finds_its_conversation_by_its_correlation_id(desk):
    conversation, number = unlinked(desk)

    accepted = accept(desk, case=number, message="We found it.")

    assert accepted.conversation == conversation.id
    [job] = jobs(desk)
    assert (job.conversation_id, job.type) == (conversation.id, "comment")
    assert [reply.text for reply in desk.replies(conversation.id)] == ["We found it."]
    assert desk.replies() == []  # not the DM conversation, whose case is another
    # The instance was called as the tenant's integration user, with its password.
    assert desk.ports.servicenow.connections == [  # type: ignore[attr-defined]
        ("https://acme.service-now.com", "integration", "integration-password")
    ]


@pytest.mark.parametrize(
    "correlation_id",
    ["", "another-integration:1234", "twittnow:no-such-conversation:1", "twittnow::1"],
    ids=["none", "not-ours", "no-such-conversation", "malformed"],
)
def test_a_case_whose_correlation_id_names_no_conversation_of_ours_is_not_found(
    desk, correlation_id
):
    _, number = unlinked(desk, correlation_id)

    with pytest.raises(NotFound) as refused:
        accept(desk, case=number, message="Hello?")

    assert number in refused.value.message
    assert sent(desk) == []


def test_a_case_naming_another_tenants_conversation_is_not_found(desk):
    # Both tenants use the same instance: a case is found, but names the other's.
    other = open_desk(desk.ports, tenant_id="tenant-2", account="901")
    theirs, number = unlinked(other)

    with pytest.raises(NotFound):
        accept(desk, case=number, message="Hijack")

    assert sent(desk) == []
    assert other.replies(theirs.id) == []


@pytest.mark.parametrize(
    "failure",
    [ServiceNowUnavailable("down"), ServiceNowBadCredentials("User Not Authenticated")],
    ids=["unavailable", "bad-credentials"],
)
def test_servicenow_failing_to_answer_about_an_unlinked_case_queues_nothing(desk, failure):
    _, number = unlinked(desk)
    desk.servicenow.fail(failure, "get_case")

    with pytest.raises(UpstreamUnavailable) as refused:
        accept(desk, case=number, message="We found it.")

    assert number in refused.value.message and "Retry" in refused.value.message
    assert sent(desk) == []


def test_an_instance_no_longer_allowed_is_not_called_about_an_unlinked_case(desk):
    # The operator narrowed SERVICENOW_ALLOWED_HOSTS since the tenant saved its details.
    ports = desk.ports
    desk.ports = ports._replace(settings=fake_settings(servicenow_allowed_hosts="*.example.com"))
    _, number = unlinked(desk)

    with pytest.raises(UpstreamUnavailable):
        accept(desk, case=number, message="We found it.")

    assert ports.servicenow.connections == []  # type: ignore[attr-defined]
    assert sent(desk) == []


def test_target_names_the_customer_by_consumer_and_their_conversation(desk):
    accepted = accept(desk, target=desk.customer.consumer_sys_id, message="Found your order.")

    assert accepted.conversation == desk.conversation.id
    [job] = jobs(desk)
    assert job.case_sys_id == desk.case.sys_id


def test_target_picks_the_customers_conversation_with_the_latest_message(desk):
    later = desk.start_conversation(
        Channel.MENTION, latest_post_id="post-7", last_message_at=NOW + timedelta(minutes=5)
    )

    accepted = accept(desk, target=desk.customer.consumer_sys_id, message="Found it.")

    assert accepted.conversation == later.id
    [job] = jobs(desk)
    assert job.case_sys_id is None  # that conversation has no case yet


def test_an_unknown_consumer_or_one_without_a_conversation_is_not_found(desk):
    with pytest.raises(NotFound) as refused:
        accept(desk, target="0" * 32, message="Hello?")
    assert "0" * 32 in refused.value.message

    other = open_desk(desk.ports, tenant_id="tenant-2", account="901")
    for conversation_id in other.ports.conversations.delete_tenant(other.tenant_id):
        other.ports.messages.delete_conversation(conversation_id)
    # Tenant 2 knows the customer, but has no conversation with them (any more).
    with pytest.raises(NotFound):
        case_events.accept(
            other.ports, other.caller, event(target=other.customer.consumer_sys_id, message="Hi")
        )
    # And tenant 1's customer is not tenant 2's.
    with pytest.raises(NotFound):
        case_events.accept(
            other.ports, other.caller, event(target=desk.customer.consumer_sys_id, message="Hi")
        )
    assert_nothing_queued(desk)


# ---------------------------------------------------------------- exactly once


def test_the_same_event_id_again_is_the_same_reply_queued_again_and_dropped_by_sqs(desk):
    body = {"case": desk.case.sys_id, "message": "Checking now.", "event_id": "journal:9"}

    first = accept(desk, **body)
    second = accept(desk, **body)

    assert second == first
    assert len(desk.replies()) == 1
    # Queued again (the first send may have failed after the claim), with the same
    # deduplication id: SQS keeps one.
    assert [message.deduplication_id for message in sent(desk)] == [
        f"{desk.conversation.id}:journal:9"
    ] * 2
    assert len(jobs(desk)) == 1


def test_the_same_event_after_its_reply_was_delivered_answers_delivered_and_queues_nothing(
    desk, time
):
    body = {"case": desk.case.sys_id, "message": "Checking now.", "event_id": "journal:9"}
    accept(desk, **body)
    [reply] = desk.replies()
    desk.ports.messages.update(reply, status=MessageStatus.DELIVERED, handled=True)
    time.advance(timedelta(days=6))

    late = accept(desk, **body)

    assert (late.id, late.conversation, late.status) == (
        "journal:9",
        desk.conversation.id,
        "delivered",
    )
    assert len(sent(desk)) == 1
    assert len(desk.replies()) == 1


def test_an_event_id_is_remembered_for_seven_days(desk, time):
    body = {"case": desk.case.sys_id, "message": "Checking now.", "event_id": "journal:9"}
    accept(desk, **body)
    time.advance(timedelta(days=7))
    accept(desk, **body)
    assert len(desk.replies()) == 1

    time.advance(timedelta(seconds=1))
    accept(desk, **body)

    assert [reply.sent_at for reply in desk.replies()] == [NOW, time.now]


def test_a_retried_event_stays_with_the_conversation_its_first_attempt_chose(desk):
    body = {"target": desk.customer.consumer_sys_id, "message": "On it.", "event_id": "e-1"}
    first = accept(desk, **body)
    # The customer then writes in a mention: by target, the retry would choose that one.
    desk.start_conversation(
        Channel.MENTION, latest_post_id="p", last_message_at=NOW + timedelta(minutes=5)
    )

    again = accept(desk, **body)

    assert again.conversation == first.conversation == desk.conversation.id
    assert {job.conversation_id for job in jobs(desk)} == {desk.conversation.id}


def test_event_ids_are_per_tenant(desk):
    other = open_desk(desk.ports, tenant_id="tenant-2", account="901")

    mine = accept(desk, case=desk.case.sys_id, message="Mine.", event_id="journal:42")
    theirs = case_events.accept(
        other.ports,
        other.caller,
        event(case=other.case.sys_id, message="Theirs.", event_id="journal:42"),
    )

    assert (mine.conversation, theirs.conversation) == (desk.conversation.id, other.conversation.id)
    assert [reply.text for reply in desk.replies()] == ["Mine."]
    assert [reply.text for reply in other.replies()] == ["Theirs."]
    assert {job.conversation_id for job in jobs(desk)} == {
        desk.conversation.id,
        other.conversation.id,
    }


def test_an_event_without_an_id_is_known_by_its_content_for_ten_minutes(desk, time):
    body = {"case": desk.case.sys_id, "message": "One moment."}
    first = accept(desk, **body)
    content = f"{desk.conversation.id}|{desk.case.sys_id}|comment|One moment."
    assert first.id == hashlib.sha256(content.encode()).hexdigest()[:40]

    time.advance(timedelta(minutes=10))
    assert accept(desk, **body) == first
    other_words = accept(desk, **{**body, "message": "Another thing."})
    other_type = accept(desk, **body, type="resolved")
    assert len({first.id, other_words.id, other_type.id}) == 3
    assert Counter(reply.text for reply in desk.replies()) == {
        "One moment.": 2,
        "Another thing.": 1,
    }

    # The same words later are a new reply: an agent may well say them again.
    time.advance(timedelta(seconds=1))
    again = accept(desk, **body)
    assert again.id == first.id
    assert [reply.sent_at for reply in desk.replies() if reply.text == "One moment."] == [
        NOW,
        NOW + timedelta(minutes=10),
        time.now,
    ]
