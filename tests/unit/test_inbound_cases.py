"""The inbound processor's domain on the fakes: the tenant's custom fields asked before a
case opens, what is known of the open case (fresh, stale, finished, gone), and retries
resuming where the last attempt stopped, whatever point it died at."""

from datetime import timedelta

import pytest

from tests.unit.test_inbound_support import (
    CUSTOMER_ID,
    NOW,
    TENANT,
    Clock,
    Crash,
    Desk,
    acknowledgement,
    crash_once,
    saving,
)
from twitter_activity import inbound
from twittnow import correlation_ids
from twittnow.clients.servicenow import CaseState, ServiceNowUnavailable
from twittnow.clients.x import XRateLimited, XRequestRejected
from twittnow.models import ConversationStatus, MessageStatus

M = MessageStatus
CITY = "Which city do you live in?"
ORDER = "What is your order number?"


@pytest.fixture
def desk(monkeypatch) -> Desk:
    return Desk(Clock(monkeypatch))


def rate_limited() -> XRateLimited:
    return XRateLimited("slow down", reset_at=NOW + timedelta(minutes=15))


# ---------------------------------------------------------------- custom fields


def test_the_custom_fields_are_asked_one_at_a_time_then_the_case_opens(desk):
    desk.add_field("city", CITY)
    desk.add_field("order", ORDER)

    desk.handle(desk.dm("My parcel is lost."))
    conversation = desk.conversation()
    assert (conversation.status, conversation.pending_field) == (
        ConversationStatus.COLLECTING,
        "city",
    )
    assert conversation.pending_question_key == desk.messages()[1].key
    assert desk.summary() == [("customer", M.WAITING_FOR_ANSWERS, None), ("bot", M.DELIVERED, None)]
    assert desk.dms_sent() == [CITY]

    desk.handle(desk.dm("Paris"))
    assert desk.conversation().pending_field == "order"
    assert desk.dms_sent() == [CITY, ORDER]
    assert desk.cases() == []

    desk.handle(desk.dm("A-123"))

    case = desk.only_case()
    assert case["description"] == "My parcel is lost.\n\ncity: Paris\norder: A-123"
    assert desk.dms_sent() == [CITY, ORDER, acknowledgement("CS0000001")]
    assert desk.summary() == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.DELIVERED, None),
        ("customer", M.ANSWERED, None),
        ("bot", M.DELIVERED, None),
        ("customer", M.ANSWERED, "CS0000001"),  # an answer stays one; it opened the case
        ("bot", M.DELIVERED, "CS0000001"),
    ]
    conversation = desk.conversation()
    assert conversation.status == ConversationStatus.OPEN
    assert (conversation.pending_field, conversation.pending_question_key) == (None, None)
    assert conversation.waiting_message_keys == []
    assert desk.ports.customers.get(TENANT, CUSTOMER_ID).answers == {
        "city": "Paris",
        "order": "A-123",
    }


def test_a_customer_who_answered_before_is_asked_only_the_new_fields(desk):
    desk.add_field("city", CITY)
    desk.handle(desk.dm("My parcel is lost."))
    desk.handle(desk.dm("Paris"))
    desk.resolve("CS0000001")
    desk.clock.advance(minutes=11)
    desk.add_field("order", ORDER)

    desk.handle(desk.dm("Another parcel is lost."))
    desk.handle(desk.dm("B-456"))

    assert desk.dms_sent() == [
        CITY,
        acknowledgement("CS0000001"),
        ORDER,
        acknowledgement("CS0000002"),
    ]
    _, second = desk.cases()
    assert second["description"] == "Another parcel is lost.\n\ncity: Paris\norder: B-456"


def test_answers_to_fields_the_tenant_deleted_stay_out_of_the_description(desk):
    city = desk.add_field("city", CITY)
    desk.add_field("order", ORDER)
    desk.handle(desk.dm("My parcel is lost."))
    desk.handle(desk.dm("Paris"))
    desk.ports.custom_fields.delete(city)

    desk.handle(desk.dm("A-123"))

    assert desk.only_case()["description"] == "My parcel is lost.\n\norder: A-123"


def test_an_answer_while_no_field_is_pending_is_recorded_as_none(desk):
    """Not expected (a conversation collecting names the field it asked): the message is
    an answer to nothing, and the field is asked again."""
    desk.add_field("city", CITY)
    desk.handle(desk.dm("My parcel is lost."))
    desk.ports.conversations.update(desk.conversation().id, pending_field=None)

    desk.handle(desk.dm("Paris"))

    customer = desk.ports.customers.get(TENANT, CUSTOMER_ID)
    assert customer is None or customer.answers == {}
    assert desk.messages()[2].status == M.ANSWERED
    assert desk.dms_sent() == [CITY, CITY]
    assert desk.conversation().pending_field == "city"


def test_a_question_x_refuses_for_good_is_recorded_and_the_next_message_answers_it(desk):
    desk.add_field("city", CITY)
    desk.x.fail(XRequestRejected("The customer does not accept DMs.", status_code=403))

    desk.handle(desk.dm("My parcel is lost."))

    question = desk.messages()[1]
    assert (question.status, question.status_detail) == (
        M.FAILED,
        "The customer does not accept DMs.",
    )
    assert desk.conversation().failed_messages == 1
    assert desk.messages()[0].handled
    desk.handle(desk.dm("Paris"))
    assert desk.only_case()["description"] == "My parcel is lost.\n\ncity: Paris"


def test_a_question_that_failed_to_send_is_sent_by_the_retry_once(desk):
    desk.add_field("city", CITY)
    desk.x.fail(rate_limited(), "send_dm")
    event = desk.dm("My parcel is lost.")

    with pytest.raises(XRateLimited):
        desk.handle(event)
    assert desk.summary() == [("customer", M.WAITING_FOR_ANSWERS, None), ("bot", M.QUEUED, None)]
    desk.handle(event)
    desk.handle(event)

    assert desk.dms_sent() == [CITY]
    assert desk.summary() == [("customer", M.WAITING_FOR_ANSWERS, None), ("bot", M.DELIVERED, None)]


def test_a_retry_after_the_question_was_delivered_does_not_ask_again(desk):
    desk.add_field("city", CITY)
    event = desk.dm("My parcel is lost.")

    with crash_once(desk.ports.messages, "update", saving(handled=True)), pytest.raises(Crash):
        desk.handle(event)
    desk.handle(event)

    assert desk.dms_sent() == [CITY]
    assert desk.message_of(event).handled


def test_a_message_retried_after_its_question_field_was_deleted_is_acknowledged(desk):
    city = desk.add_field("city", CITY)
    desk.x.fail(rate_limited(), "send_dm")
    event = desk.dm("My parcel is lost.")
    with pytest.raises(XRateLimited):
        desk.handle(event)
    desk.ports.custom_fields.delete(city)  # while the message waits for its retry

    desk.handle(event)

    assert desk.only_case()["description"] == "My parcel is lost."
    assert desk.dms_sent() == [acknowledgement("CS0000001")]


# ---------------------------------------------------------------- what is known of the case


@pytest.mark.parametrize(
    ("age", "read"),
    [
        (inbound.CASE_STATE_FRESH_FOR - timedelta(microseconds=1), False),
        (inbound.CASE_STATE_FRESH_FOR, True),
    ],
    ids=["fresh", "stale"],
)
def test_the_case_is_read_from_servicenow_only_once_what_we_know_is_stale(desk, age, read):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.clock.advance(seconds=age.total_seconds())

    desk.handle(desk.dm("It was due Monday."))

    assert len(desk.instance.calls_to("get_case")) == int(read)
    assert desk.instance.comments("CS0000001") == ["It was due Monday."]
    assert desk.conversation().case_checked_at == desk.clock.now  # the comment's answer


def test_a_stale_case_found_open_is_fresh_again(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.clock.advance(minutes=11)
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "add_comment")

    with pytest.raises(ServiceNowUnavailable):
        desk.handle(desk.dm("It was due Monday."))

    assert desk.conversation().case_checked_at == desk.clock.now  # from the read


@pytest.mark.parametrize("state", [CaseState.RESOLVED, CaseState.CLOSED, CaseState.CANCELLED])
def test_a_case_finished_in_servicenow_makes_the_next_message_open_a_new_one(desk, state):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.instance.set_state("CS0000001", state)  # without the update set telling us
    desk.clock.advance(minutes=11)

    desk.handle(desk.dm("It came broken, though."))

    first, second = desk.cases()
    assert desk.instance.comments(first["sys_id"]) == []
    assert second["description"] == "It came broken, though."
    conversation = desk.conversation()
    assert (conversation.status, conversation.case_number) == (ConversationStatus.OPEN, "CS0000002")
    assert desk.dms_sent() == [acknowledgement("CS0000001"), acknowledgement("CS0000002")]
    assert desk.summary()[2:] == [
        ("customer", M.CASE_CREATED, "CS0000002"),
        ("bot", M.DELIVERED, "CS0000002"),
    ]


def test_a_case_deleted_in_servicenow_makes_the_next_message_open_a_new_one(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.instance.delete_case("CS0000001")
    desk.clock.advance(minutes=11)

    desk.handle(desk.dm("Hello? Anyone?"))  # reading the case answers 404

    [case] = desk.cases()
    assert (case["number"], case["description"]) == ("CS0000002", "Hello? Anyone?")
    assert desk.conversation().case_number == "CS0000002"


def test_a_comment_on_a_case_deleted_meanwhile_opens_a_new_one_with_it(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.instance.delete_case("CS0000001")  # while what we know of it is fresh

    desk.handle(desk.dm("Hello? Anyone?"))  # the comment answers 404

    [case] = desk.cases()
    assert (case["number"], case["description"]) == ("CS0000002", "Hello? Anyone?")
    assert desk.summary()[2:] == [
        ("customer", M.CASE_CREATED, "CS0000002"),
        ("bot", M.DELIVERED, "CS0000002"),
    ]
    # A new correlation id: from this message, the first of the new case.
    conversation = desk.conversation()
    assert case["correlation_id"] == correlation_ids.for_case(
        conversation.id, desk.messages()[2].event_id
    )


def test_a_comment_bounced_by_a_case_gone_is_held_for_the_questions_of_the_next_case(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.add_field("city", CITY)  # added after the first case
    desk.instance.delete_case("CS0000001")
    bounced = desk.dm("Hello? Anyone?")

    desk.handle(bounced)

    assert desk.message_of(bounced).status == M.WAITING_FOR_ANSWERS
    assert desk.conversation().waiting_message_keys == [desk.message_of(bounced).key]
    assert desk.dms_sent()[-1] == CITY
    desk.handle(desk.dm("Paris"))
    [case] = desk.cases()
    assert case["description"] == "Hello? Anyone?\n\ncity: Paris"
    assert desk.message_of(bounced).status == M.CASE_CREATED


def test_a_comment_the_case_took_as_it_was_finished_stays_and_the_next_message_opens_a_case(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.resolve("CS0000001")  # while what we know of it is fresh

    desk.handle(desk.dm("Thanks, it came!"))

    assert desk.instance.comments("CS0000001") == ["Thanks, it came!"]
    assert desk.summary()[2] == ("customer", M.COMMENTED, "CS0000001")
    conversation = desk.conversation()
    # The finished case stays named: ServiceNow's later events about it find the conversation.
    assert (conversation.status, conversation.case_number) == (ConversationStatus.NEW, "CS0000001")
    assert conversation.case_checked_at is None

    desk.handle(desk.dm("Actually, one more thing."))
    assert desk.cases()[1]["description"] == "Actually, one more thing."


# ---------------------------------------------------------------- retries resume


def test_dying_after_servicenow_took_the_comment_does_not_comment_twice(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    follow_up = desk.dm("It was due Monday.")

    with (
        crash_once(desk.ports.messages, "update", saving(status=M.COMMENTED)),
        pytest.raises(Crash),
    ):
        desk.handle(follow_up)
    assert desk.message_of(follow_up).status == M.COMMENTING
    desk.handle(follow_up)  # the retry looks for the comment before writing it

    assert desk.instance.comments("CS0000001") == ["It was due Monday."]
    assert len(desk.instance.calls_to("add_comment")) == 1
    assert desk.message_of(follow_up).status == M.COMMENTED


def test_a_comment_that_failed_is_written_by_the_retry(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    # An agent's note of the same words, and another comment, are not the customer's.
    desk.instance.add_work_note(desk.conversation().case_sys_id, "It was due Monday.")
    desk.instance.add_comment(desk.conversation().case_sys_id, "We are on it.")
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "add_comment")
    follow_up = desk.dm("It was due Monday.")

    with pytest.raises(ServiceNowUnavailable):
        desk.handle(follow_up)
    desk.handle(follow_up)

    assert desk.instance.comments("CS0000001") == ["We are on it.", "It was due Monday."]
    assert desk.message_of(follow_up).status == M.COMMENTED


def test_a_retried_comment_for_a_case_the_conversation_no_longer_names_opens_a_case(desk):
    """Not expected (a message being commented went to a named case): taken as the case
    gone, the message opens the next one."""
    desk.handle(desk.dm("Where is my parcel?"))
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "add_comment")
    follow_up = desk.dm("It was due Monday.")
    with pytest.raises(ServiceNowUnavailable):
        desk.handle(follow_up)
    desk.ports.conversations.update(desk.conversation().id, case_sys_id=None)

    desk.handle(follow_up)

    assert desk.instance.comments("CS0000001") == []
    assert desk.cases()[1]["description"] == "It was due Monday."
    assert desk.message_of(follow_up).status == M.CASE_CREATED


def test_dying_after_the_case_was_created_finds_it_on_the_retry(desk):
    first = desk.dm("Where is my parcel?")

    with (
        crash_once(desk.instance, "create_case", after_the_call=True),
        pytest.raises(Crash),
    ):
        desk.handle(first)
    [case] = desk.cases()
    conversation = desk.conversation()
    assert conversation.status == ConversationStatus.NEW  # it never learnt the case
    assert conversation.pending_case_correlation_id == case["correlation_id"]

    desk.handle(first)  # finds the case by its correlation id

    assert desk.cases() == [case]
    assert desk.instance.calls_to("find_case_by_correlation_id") == [
        {"correlation_id": case["correlation_id"]}
    ]
    assert desk.conversation().case_number == case["number"]
    assert desk.dms_sent() == [acknowledgement(case["number"])]


def test_a_case_creation_that_failed_is_made_by_the_retry(desk):
    first = desk.dm("Where is my parcel?")
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "create_case")

    with pytest.raises(ServiceNowUnavailable):
        desk.handle(first)
    desk.handle(first)

    [case] = desk.cases()
    assert case["correlation_id"] == correlation_ids.for_case(
        desk.conversation().id, first.event_id
    )
    assert len(desk.instance.calls_to("find_case_by_correlation_id")) == 1
    assert desk.dms_sent() == [acknowledgement(case["number"])]


def test_a_message_held_while_the_case_failed_to_open_goes_into_the_next_case(desk):
    """The first message's case could not be made (its last attempt failed); the next
    message opens the case with both, under the first one's correlation id."""
    first, second = desk.dm("Where is my parcel?"), desk.dm("It was due Monday.")
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "create_case")
    with pytest.raises(ServiceNowUnavailable):
        desk.handle(first)

    desk.handle(second)

    case = desk.only_case()
    assert case["description"] == "Where is my parcel?\n\nIt was due Monday."
    assert case["correlation_id"] == correlation_ids.for_case(
        desk.conversation().id, first.event_id
    )
    assert desk.summary() == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.DELIVERED, "CS0000001"),
    ]
    assert desk.dms_sent() == [acknowledgement("CS0000001")]


def test_a_held_message_redriven_after_another_opened_its_case_is_not_acknowledged_again(desk):
    first, second = desk.dm("Where is my parcel?"), desk.dm("It was due Monday.")
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "create_case")
    with pytest.raises(ServiceNowUnavailable):
        desk.handle(first)
    desk.handle(second)

    desk.handle(first)  # an operator redrives it from the dead-letter queue

    assert desk.dms_sent() == [acknowledgement("CS0000001")]


def test_a_hold_cut_short_is_not_held_twice(desk):
    desk.add_field("city", CITY)
    event = desk.dm("My parcel is lost.")

    with (
        crash_once(desk.ports.messages, "update", saving(status=M.WAITING_FOR_ANSWERS)),
        pytest.raises(Crash),
    ):
        desk.handle(event)
    conversation = desk.conversation()
    assert conversation.waiting_message_keys == [desk.message_of(event).key]
    desk.handle(event)

    assert desk.conversation().waiting_message_keys == conversation.waiting_message_keys
    assert desk.conversation().pending_case_correlation_id == (
        conversation.pending_case_correlation_id
    )
    assert desk.dms_sent() == [CITY]


def test_dying_after_the_case_was_recorded_acknowledges_it_on_the_retry(desk):
    first = desk.dm("Where is my parcel?")

    with (
        crash_once(desk.ports.messages, "add", lambda message: message.author == "bot"),
        pytest.raises(Crash),
    ):
        desk.handle(first)
    assert desk.summary() == [("customer", M.CASE_CREATED, "CS0000001")]
    desk.handle(first)

    assert len(desk.cases()) == 1
    assert desk.dms_sent() == [acknowledgement("CS0000001")]
    assert desk.message_of(first).handled


def test_a_message_whose_case_was_finished_before_its_retry_opens_the_next_case(desk):
    first = desk.dm("Where is my parcel?")
    with (
        crash_once(desk.ports.messages, "add", lambda message: message.author == "bot"),
        pytest.raises(Crash),
    ):
        desk.handle(first)
    # ServiceNow's event: the case was resolved (the conversation is NEW again).
    desk.resolve("CS0000001")
    desk.ports.conversations.update(desk.conversation().id, status=ConversationStatus.NEW)

    desk.handle(first)

    _, second = desk.cases()
    assert second["description"] == "Where is my parcel?"
    assert desk.message_of(first).case_number == "CS0000002"
    assert desk.dms_sent() == [acknowledgement("CS0000002")]


def test_a_redriven_message_whose_case_was_replaced_meanwhile_is_not_acknowledged(desk):
    first = desk.dm("Where is my parcel?")
    desk.x.fail(rate_limited(), "send_dm")
    with pytest.raises(XRateLimited):
        desk.handle(first)  # its last attempt: it goes to the dead-letter queue
    desk.resolve("CS0000001")
    desk.clock.advance(minutes=11)
    desk.handle(desk.dm("Hello? My parcel again."))  # opens CS0000002

    desk.handle(first)  # redriven

    assert desk.dms_sent() == [acknowledgement("CS0000002")]
    assert desk.message_of(first).handled


def test_dying_after_the_acknowledgement_was_sent_and_its_id_kept_sends_it_once(desk):
    first = desk.dm("Where is my parcel?")

    with (
        crash_once(
            desk.ports.messages,
            "update",
            lambda message, **changes: message.author == "bot" and "status" in changes,
        ),
        pytest.raises(Crash),
    ):
        desk.handle(first)
    ack = desk.messages()[1]
    assert (ack.status, ack.x_message_ids) == (M.QUEUED, ["dm-1"])
    desk.handle(first)  # the parts X took are not sent again

    assert desk.dms_sent() == [acknowledgement("CS0000001")]
    assert desk.messages()[1].status == M.DELIVERED


def test_dying_before_the_acknowledgement_id_was_kept_sends_it_again_the_known_limit(desk):
    """Between X taking a DM and its id recorded there is no way to know: a crash right
    there costs the customer one extra acknowledgement, never more."""
    first = desk.dm("Where is my parcel?")

    with (
        crash_once(
            desk.ports.messages,
            "update",
            lambda message, **changes: "x_message_ids" in changes,
        ),
        pytest.raises(Crash),
    ):
        desk.handle(first)
    desk.handle(first)
    desk.handle(first)  # X delivering the DM once more changes nothing

    assert desk.dms_sent() == [acknowledgement("CS0000001")] * 2
    assert desk.summary() == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.DELIVERED, "CS0000001"),
    ]
