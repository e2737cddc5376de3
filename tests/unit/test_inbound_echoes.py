"""The inbound processor's domain on the fakes: the account's own DMs. Our own DMs coming
back from X (echoes) are dropped, even when X delivers one before its id is recorded; DMs
the company's staff sent from X's apps are recorded on the conversation, and on the open
case as the company's comment."""

from datetime import timedelta

import pytest

from tests.unit.test_inbound_support import (
    ACCOUNT_ID,
    APP_ID,
    CUSTOMER_ID,
    Clock,
    Crash,
    Desk,
    crash_once,
    media_url,
    saving,
)
from twitter_activity import inbound
from twittnow.clients.servicenow import (
    CaseState,
    ServiceNowBadCredentials,
    ServiceNowNotFound,
    ServiceNowUnavailable,
)
from twittnow.models import ConversationStatus, MessageStatus
from twittnow.retries import RetryLater

M = MessageStatus
CITY = "Which city do you live in?"


@pytest.fixture
def desk(monkeypatch) -> Desk:
    return Desk(Clock(monkeypatch))


@pytest.fixture
def open_case(desk) -> Desk:
    """The customer wrote, has case CS0000001 and was told so, half a minute ago and more."""
    desk.handle(desk.dm("Where is my parcel?"))
    desk.clock.advance(seconds=inbound.ECHO_RACE_WINDOW.total_seconds())
    return desk


def staff_comment(text: str) -> str:
    return f"Sent on X by @acme_support: {text}"


# ---------------------------------------------------------------- our own DMs


def test_our_own_dm_coming_back_is_dropped(open_case):
    desk = open_case
    [ack] = desk.x.dms
    messages = desk.messages()

    desk.handle(desk.account_dm(ack.text, app_id=APP_ID, event_id=ack.id))

    assert desk.messages() == messages
    assert desk.instance.comments("CS0000001") == []


def test_our_echo_arriving_before_its_id_is_recorded_is_retried_then_dropped(open_case):
    desk = open_case
    # The service starts sending the customer a DM (an agent's reply), and X delivers its
    # echo before the sender recorded the DM's id.
    desk.ports.echoes.sending(ACCOUNT_ID, CUSTOMER_ID)
    echo = desk.account_dm("An agent's reply", app_id=APP_ID)

    with pytest.raises(RetryLater) as raised:
        desk.handle(echo)
    assert raised.value.seconds == inbound.ECHO_RECHECK_SECONDS
    desk.ports.echoes.sent(ACCOUNT_ID, echo.event_id)  # the sender records it meanwhile
    desk.clock.advance(seconds=inbound.ECHO_RECHECK_SECONDS)
    desk.handle(echo)  # the retry: ours, dropped

    assert [m.author for m in desk.messages()] == ["customer", "bot"]
    assert desk.instance.comments("CS0000001") == []


@pytest.mark.parametrize(
    ("since", "waits"),
    [
        (inbound.ECHO_RACE_WINDOW - timedelta(microseconds=1), True),
        (inbound.ECHO_RACE_WINDOW, False),
    ],
    ids=["within_the_window", "after_it"],
)
def test_only_an_app_dm_within_the_echo_window_waits_for_its_record(open_case, since, waits):
    desk = open_case
    desk.ports.echoes.sending(ACCOUNT_ID, CUSTOMER_ID)
    desk.clock.advance(seconds=since.total_seconds())
    from_a_tool = desk.account_dm("From a tool of the company's", app_id="42")

    if waits:
        with pytest.raises(RetryLater):
            desk.handle(from_a_tool)
        assert desk.instance.comments("CS0000001") == []
    else:  # no echo of ours takes that long: staff's
        desk.handle(from_a_tool)
        assert desk.instance.comments("CS0000001") == [staff_comment(from_a_tool.text)]


def test_a_dm_typed_in_xs_own_app_is_staffs_even_while_the_service_is_sending(open_case):
    desk = open_case
    desk.ports.echoes.sending(ACCOUNT_ID, CUSTOMER_ID)

    desk.handle(desk.account_dm("Typed in the app"))  # no app id

    assert desk.instance.comments("CS0000001") == [staff_comment("Typed in the app")]


# ---------------------------------------------------------------- staff writing in X's apps


def test_a_staff_dm_on_an_open_case_is_the_company_comment_on_it(open_case):
    desk = open_case
    staff = desk.account_dm("Checking with the courier now.")

    desk.handle(staff)

    assert desk.instance.comments("CS0000001") == [staff_comment("Checking with the courier now.")]
    message = desk.message_of(staff)
    assert (message.author, message.direction, message.status) == ("staff", "outbound", M.COMMENTED)
    assert (message.case_number, message.x_message_ids, message.handled) == (
        "CS0000001",
        [staff.event_id],
        True,
    )
    assert len(desk.x.dms) == 1  # nothing sent: it is on X already


def test_a_staff_dm_with_media_links_them_in_its_comment(open_case):
    desk = open_case
    url = media_url("label.png")

    desk.handle(desk.account_dm("Here is your label", media=[{"url": url, "media_type": "photo"}]))

    assert desk.instance.comments("CS0000001") == [
        f"{staff_comment('Here is your label')}\nAttachment: {url}"
    ]


def test_a_staff_dm_without_an_open_case_is_recorded_and_not_commented(desk):
    desk.add_field("city", CITY)
    desk.handle(desk.dm("My parcel is lost."))
    staff = desk.account_dm("Please answer the question so we can open a case.")

    desk.handle(staff)

    assert desk.summary() == [
        ("customer", M.WAITING_FOR_ANSWERS, None),
        ("bot", M.DELIVERED, None),  # the question
        ("staff", M.DELIVERED, None),
    ]
    assert desk.message_of(staff).handled
    assert desk.cases() == []


def test_a_staff_dm_to_someone_who_never_wrote_to_the_account_is_not_recorded(desk):
    desk.handle(desk.account_dm("Hello, long time no see!", app_id="42", recipient_id="555"))

    assert desk.ports.conversations.all() == []  # not a support thread
    assert desk.instance.calls == []


def test_a_staff_dm_delivered_twice_is_commented_once(open_case):
    desk = open_case
    staff = desk.account_dm("Checking with the courier now.")

    desk.handle(staff)
    desk.handle(staff)

    assert desk.instance.comments("CS0000001") == [staff_comment(staff.text)]
    assert len(desk.instance.calls_to("add_comment")) == 1


def test_dying_after_servicenow_took_the_staff_comment_does_not_comment_twice(open_case):
    desk = open_case
    staff = desk.account_dm("Checking with the courier now.")

    with (
        crash_once(desk.ports.messages, "update", saving(status=M.COMMENTED)),
        pytest.raises(Crash),
    ):
        desk.handle(staff)
    assert desk.message_of(staff).status == M.COMMENTING
    desk.handle(staff)

    assert desk.instance.comments("CS0000001") == [staff_comment(staff.text)]
    assert desk.message_of(staff).status == M.COMMENTED


def test_a_staff_comment_that_failed_is_written_by_the_retry(open_case):
    desk = open_case
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "add_comment")
    staff = desk.account_dm("Checking with the courier now.")

    with pytest.raises(ServiceNowUnavailable):
        desk.handle(staff)
    # The case is stale by the retry: a message being commented is not read again.
    desk.clock.advance(minutes=11)
    desk.handle(staff)

    assert desk.instance.comments("CS0000001") == [staff_comment(staff.text)]
    assert desk.instance.calls_to("get_case") == []


def test_a_staff_dm_on_a_case_finished_in_servicenow_is_recorded_not_commented(open_case):
    desk = open_case
    desk.resolve("CS0000001")
    desk.clock.advance(minutes=11)
    staff = desk.account_dm("Anything else?")

    desk.handle(staff)

    assert desk.instance.comments("CS0000001") == []
    assert desk.message_of(staff).status == M.DELIVERED
    assert desk.conversation().status == ConversationStatus.NEW


def test_a_staff_comment_on_a_case_finished_meanwhile_stays_and_the_case_is_taken_as_done(
    open_case,
):
    desk = open_case
    desk.instance.set_state("CS0000001", CaseState.CLOSED)  # what we know of it is fresh
    staff = desk.account_dm("Anything else?")

    desk.handle(staff)

    assert desk.instance.comments("CS0000001") == [staff_comment("Anything else?")]
    assert desk.message_of(staff).status == M.COMMENTED
    assert desk.conversation().status == ConversationStatus.NEW


def test_a_staff_comment_on_a_case_deleted_meanwhile_is_recorded_and_the_next_message_opens_one(
    open_case,
):
    desk = open_case
    desk.instance.delete_case("CS0000001")
    staff = desk.account_dm("Anything else?")

    desk.handle(staff)

    message = desk.message_of(staff)
    assert (message.handled, message.failure) == (True, "")
    assert desk.conversation().status == ConversationStatus.NEW
    desk.handle(desk.dm("Yes: where is my parcel?"))
    [case] = desk.cases()
    assert (case["number"], case["description"]) == ("CS0000002", "Yes: where is my parcel?")


def test_an_instance_refusing_our_credentials_on_a_staff_dm_says_so(open_case):
    desk = open_case
    desk.clock.advance(minutes=11)  # the case is read first
    desk.instance.fail(ServiceNowBadCredentials("User Not Authenticated", status_code=401))

    with pytest.raises(ServiceNowBadCredentials):
        desk.handle(desk.account_dm("Anything else?"))

    assert desk.servicenow_status() == (
        "bad_credentials",
        "User Not Authenticated (check admin_user and admin_password).",
    )


def test_a_staff_dm_on_a_case_servicenow_no_longer_has_is_recorded(open_case):
    desk = open_case
    desk.clock.advance(minutes=11)
    desk.instance.fail(ServiceNowNotFound("No record", status_code=404), "get_case")
    staff = desk.account_dm("Anything else?")

    desk.handle(staff)

    assert desk.message_of(staff).status == M.DELIVERED
    assert desk.conversation().status == ConversationStatus.NEW
