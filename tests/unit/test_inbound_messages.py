"""The inbound processor's domain (functions/twitter_activity/inbound.py) on the fakes:
which events are acted on, a customer's first message opening a case and the customer
told its number, comments on the open case, duplicates, the customer's consumer and
handle, revokes, the last failure recorded, and tenants or instances that are not ready.

Custom fields and the case's lifecycle are in test_inbound_cases.py, the account's own
DMs (echoes, staff) in test_inbound_echoes.py, media in test_inbound_media.py."""

from datetime import timedelta

import pytest

from tests.unit.test_inbound_support import (
    ACCOUNT_ID,
    ADMIN_PASSWORD,
    ADMIN_USER,
    CUSTOMER_ID,
    INSTANCE_URL,
    NOW,
    TENANT,
    X_TOKENS,
    Clock,
    Desk,
    acknowledgement,
)
from twitter_activity import inbound
from twittnow import correlation_ids
from twittnow.clients.servicenow import (
    ServiceNowBadCredentials,
    ServiceNowMissingRole,
    ServiceNowNotFound,
    ServiceNowUnavailable,
)
from twittnow.clients.x import (
    UserCredentials,
    XConnectionBroken,
    XRateLimited,
    XRequestRejected,
)
from twittnow.instance_urls import InvalidInstanceUrl
from twittnow.models import Channel, ConversationStatus, MessageStatus
from twittnow.retries import TENANT_ACTION_WAIT_SECONDS, RetryLater
from twittnow.x_events import XEvent

M = MessageStatus


@pytest.fixture
def desk(monkeypatch) -> Desk:
    return Desk(Clock(monkeypatch))


def nothing_happened(desk: Desk) -> None:
    assert desk.ports.conversations.all() == []
    assert desk.instance.calls == []
    assert desk.x.calls == []


# ---------------------------------------------------------------- which events are acted on


def test_an_event_of_no_kind_handled_changes_nothing(desk):
    desk.handle(XEvent(event_id="1", account_id=ACCOUNT_ID, kind="typing"))

    nothing_happened(desk)


@pytest.mark.parametrize("kind", ["dm", "mention", "account_dm"])
def test_an_event_for_an_account_no_tenant_holds_is_dropped(desk, kind):
    event = {
        "dm": lambda: desk.dm("Hello?", account_id="999"),
        "mention": lambda: desk.mention("@nobody hi", account_id="999"),
        "account_dm": lambda: desk.account_dm("Hello!", account_id="999"),
    }[kind]()

    desk.handle(event)

    nothing_happened(desk)


def test_only_the_events_accepted_while_the_account_was_disconnected_are_dropped(desk):
    """The webhook remembers for a minute that an account is held, so it may accept a
    delivery just after the account was disconnected: such an event belongs to no
    connection, even once the account is connected again."""
    before = desk.dm("Accepted while the account was held", received_at=desk.clock.now)
    unstamped = desk.dm("Queued before received_at was kept")
    released_at = desk.clock.advance(seconds=1)
    connection = desk.reconnect(after=timedelta(minutes=1))
    assert connection.account_released_at == released_at
    during = desk.dm("Accepted as the account was released", received_at=released_at)
    late = desk.dm(
        "Accepted just before the reconnect",
        received_at=connection.connected_at - timedelta(microseconds=1),
    )
    after = desk.dm("Accepted as it was connected again", received_at=connection.connected_at)

    for event in (before, unstamped, during, late, after):
        desk.handle(event)

    assert [m.text for m in desk.messages() if m.author == "customer"] == [
        before.text,
        unstamped.text,
        after.text,
    ]


# ---------------------------------------------------------------- the account revoked


def test_a_revoke_marks_the_connection_broken_once(desk):
    revoked_at = NOW + timedelta(minutes=5)
    desk.clock.now = revoked_at + timedelta(seconds=3)

    desk.handle(desk.revoke(revoked_at))
    desk.handle(desk.revoke(revoked_at))  # X delivering it again

    connection = desk.ports.credentials.x_of(TENANT)
    assert (connection.status, connection.status_detail) == (
        "broken",
        "@acme_support revoked Twittnow's access on X at 2025-03-01T12:05:00Z; "
        "connect the account again.",
    )
    [entry] = desk.ports.audit_log.between(NOW, desk.clock.now)
    assert (entry.action, entry.actor_username, entry.resource_id, entry.tenant_id) == (
        "x_connection.broken",
        "X",
        "connection-1",
        TENANT,
    )


@pytest.mark.parametrize(
    ("revoked", "broken"),
    [
        (timedelta(seconds=-1), False),  # before the reconnect: history
        (timedelta(0), True),  # the same second: X's time has no fraction
    ],
)
def test_a_revoke_older_than_the_connections_last_change_is_history(monkeypatch, revoked, broken):
    clock = Clock(monkeypatch)
    clock.now = NOW + timedelta(milliseconds=700)  # connected at 12:00:00.700
    desk = Desk(clock)

    desk.handle(desk.revoke(NOW + revoked))

    assert desk.ports.credentials.x_of(TENANT).status == ("broken" if broken else "connected")
    assert len(desk.ports.audit_log.between(NOW - timedelta(days=1), clock.now)) == int(broken)


def test_a_revoke_of_an_account_no_tenant_holds_changes_nothing(desk):
    desk.handle(desk.revoke(NOW).model_copy(update={"account_id": "999"}))

    assert desk.ports.credentials.x_of(TENANT).status == "connected"
    assert desk.ports.audit_log.between(NOW - timedelta(days=1), NOW) == []


# ---------------------------------------------------------------- a first message: the case


def test_a_first_dm_opens_a_case_and_the_customer_is_told_its_number(desk):
    event = desk.dm("Where is my parcel?")

    desk.handle(event)

    case = desk.only_case()
    conversation = desk.conversation()
    [consumer] = desk.instance.consumers
    [profile] = desk.instance.profiles
    assert case["short_description"] == "X DM from @jane"
    assert case["description"] == "Where is my parcel?"
    assert case["correlation_id"] == correlation_ids.for_case(conversation.id, event.event_id)
    assert case["contact_type"] == "social"
    assert (case["consumer"], case["sn_app_cs_social_social_profile"]) == (consumer, profile)
    assert desk.instance.profiles[profile]["social_id"] == CUSTOMER_ID
    assert desk.ports.servicenow.connections == [(INSTANCE_URL, ADMIN_USER, ADMIN_PASSWORD)]

    assert conversation.status == ConversationStatus.OPEN
    assert (conversation.case_sys_id, conversation.case_number) == (case["sys_id"], "CS0000001")
    assert conversation.case_checked_at == NOW
    assert conversation.pending_case_correlation_id is None
    assert conversation.case_requested_at is None
    assert conversation.waiting_message_keys == []

    assert desk.summary() == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.DELIVERED, "CS0000001"),
    ]
    customer_message, ack = desk.messages()
    assert (customer_message.handled, customer_message.failure) == (True, "")
    assert customer_message.reply_key == ack.key
    assert (ack.direction, ack.text, ack.x_message_ids) == (
        "outbound",
        acknowledgement("CS0000001"),
        ["dm-1"],
    )
    [dm] = desk.x.dms
    assert (dm.to, dm.text) == (CUSTOMER_ID, acknowledgement("CS0000001"))
    assert dm.credentials == UserCredentials(
        X_TOKENS["access_token"], X_TOKENS["access_token_secret"]
    )
    customer = desk.ports.customers.get(TENANT, CUSTOMER_ID)
    assert (customer.screen_name, customer.name, customer.consumer_sys_id) == (
        "jane",
        "Jane Doe",
        consumer,
    )


def test_a_mention_opens_a_case_of_its_own_answered_by_a_reply_post(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    mention = desk.mention("@acme_support still no parcel")

    desk.handle(mention)

    dm_case, mention_case = desk.cases()
    assert mention_case["short_description"] == "X mention from @jane"
    assert mention_case["description"] == "@acme_support still no parcel"
    assert mention_case["consumer"] == dm_case["consumer"]
    conversation = desk.conversation(Channel.MENTION)
    assert (conversation.case_number, conversation.latest_post_id) == (
        "CS0000002",
        mention.post_id,
    )
    [post] = desk.x.posts
    assert (post.to, post.text) == (mention.post_id, "@jane " + acknowledgement("CS0000002"))
    assert desk.summary(Channel.MENTION) == [
        ("customer", M.CASE_CREATED, "CS0000002"),
        ("bot", M.DELIVERED, "CS0000002"),
    ]


def test_the_next_dm_is_a_comment_on_the_open_case(desk):
    desk.handle(desk.dm("Where is my parcel?"))
    desk.clock.advance(minutes=2)

    desk.handle(desk.dm("It was due Monday."))

    case = desk.only_case()
    assert desk.instance.comments(case["sys_id"]) == ["It was due Monday."]
    assert desk.summary() == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.DELIVERED, "CS0000001"),
        ("customer", M.COMMENTED, "CS0000001"),
    ]
    assert desk.dms_sent() == [acknowledgement("CS0000001")]  # not told again
    assert desk.instance.calls_to("get_case") == []  # what we know of the case is fresh
    assert desk.conversation().last_message_at == desk.clock.now


def test_a_message_delivered_late_leaves_the_conversations_last_message_time(desk):
    earlier = desk.dm("Sent first, delivered last")
    desk.clock.advance(minutes=1)
    desk.handle(desk.dm("Sent second"))

    desk.handle(earlier)

    assert desk.conversation().last_message_at == desk.clock.now
    assert desk.instance.comments("CS0000001") == ["Sent first, delivered last"]


@pytest.mark.parametrize("which", ["first", "follow_up"])
def test_a_message_x_delivers_twice_is_handled_once(desk, which):
    first = desk.dm("Where is my parcel?")
    desk.handle(first)
    follow_up = desk.dm("It was due Monday.")
    desk.handle(follow_up)
    calls = len(desk.instance.calls)

    desk.handle(first if which == "first" else follow_up)

    assert len(desk.instance.calls) == calls  # nothing asked of ServiceNow again
    assert len(desk.cases()) == 1
    assert desk.instance.comments("CS0000001") == ["It was due Monday."]
    assert desk.dms_sent() == [acknowledgement("CS0000001")]
    assert [m.status for m in desk.messages()] == [M.CASE_CREATED, M.DELIVERED, M.COMMENTED]


def test_a_message_x_delivers_again_after_its_case_was_finished_opens_no_case(desk):
    first = desk.dm("Where is my parcel?")
    desk.handle(first)
    desk.resolve("CS0000001")  # ServiceNow's event: the conversation is NEW again
    desk.ports.conversations.update(desk.conversation().id, status=ConversationStatus.NEW)
    handled = desk.message_of(first)
    desk.clock.advance(minutes=5)

    desk.handle(first)

    assert len(desk.cases()) == 1
    assert desk.message_of(first) == handled  # not even touched
    assert desk.dms_sent() == [acknowledgement("CS0000001")]


# ---------------------------------------------------------------- the customer's consumer


def test_the_consumer_is_made_once_and_remembered_for_the_next_case(desk):
    desk.handle(desk.dm("My parcel is late."))
    desk.handle(desk.mention("@acme_support still no parcel"))  # another thread: a case

    dm_case, mention_case = desk.cases()
    assert dm_case["consumer"] == mention_case["consumer"]
    assert (
        dm_case["sn_app_cs_social_social_profile"]
        == (mention_case["sn_app_cs_social_social_profile"])
    )
    assert len(desk.instance.calls_to("create_consumer")) == 1
    assert desk.instance.calls_to("find_social_profile") == [
        {"social_channel": "Twitter", "social_id": CUSTOMER_ID}
    ]


def test_a_consumer_whose_profile_has_the_customers_x_user_id_is_theirs(desk):
    theirs = desk.instance.add_consumer("Jane", "Doe")
    profile = desk.instance.add_profile(theirs.sys_id, "jane_old", social_id=CUSTOMER_ID)

    desk.handle(desk.dm("My parcel is late."))

    case = desk.only_case()
    assert (case["consumer"], case["sn_app_cs_social_social_profile"]) == (
        theirs.sys_id,
        profile.sys_id,
    )
    assert desk.instance.calls_to("create_consumer") == []
    assert desk.instance.profiles[profile.sys_id]["profile"] == "jane"  # their handle now


def test_a_consumer_with_only_the_customers_handle_is_not_theirs(desk):
    """Made for whoever had the handle then: no X user id says it is this customer's."""
    by_handle = desk.instance.add_consumer("Jane", "Doe")
    desk.instance.add_profile(by_handle.sys_id, "jane")

    desk.handle(desk.dm("My parcel is late."))

    case = desk.only_case()
    assert case["consumer"] not in ("", by_handle.sys_id)
    [made] = desk.instance.calls_to("create_consumer")
    assert (made["first_name"], made["last_name"], made["social_handle"]) == ("Jane", "Doe", "jane")


def test_on_an_instance_without_the_x_social_channel_the_case_names_no_profile(desk):
    desk.instance.social_channels = set()

    desk.handle(desk.dm("My parcel is late."))

    case = desk.only_case()
    assert case["consumer"]
    assert "sn_app_cs_social_social_profile" not in case
    assert "sn_app_cs_social_social_profile" not in desk.instance.calls_to("create_case")[0]
    assert desk.dms_sent() == [acknowledgement("CS0000001")]


# ---------------------------------------------------------------- a customer's handle


@pytest.mark.parametrize(
    ("screen_name", "name", "profile_updated"),
    [("jane_new", "Jane New", True), ("jane", "Jane Q. Doe", False)],
    ids=["new_handle", "new_display_name"],
)
def test_a_customer_who_renamed_themselves_shows_the_new_name_everywhere(
    desk, screen_name, name, profile_updated
):
    desk.handle(desk.dm("My parcel is late."))
    desk.handle(desk.mention("@acme_support still no parcel"))
    [profile] = desk.instance.profiles
    desk.instance.calls.clear()
    desk.clock.advance(minutes=1)

    desk.handle(desk.dm("Any news?", screen_name=screen_name, name=name))

    for channel in Channel:
        conversation = desk.conversation(channel)
        assert (conversation.customer_screen_name, conversation.customer_name) == (
            screen_name,
            name,
        )
    customer = desk.ports.customers.get(TENANT, CUSTOMER_ID)
    assert (customer.screen_name, customer.name, customer.screen_name_seen_at) == (
        screen_name,
        name,
        desk.clock.now,
    )
    expected = [
        {"sys_id": profile, "profile": screen_name, "profile_url": f"https://x.com/{screen_name}"}
    ]
    assert desk.instance.calls_to("set_social_profile") == (expected if profile_updated else [])
    assert desk.instance.profiles[profile]["profile"] == (
        screen_name if profile_updated else "jane"
    )
    assert desk.instance.comments("CS0000001") == ["Any news?"]


def test_a_customer_renamed_on_a_conversation_of_one_channel_only(desk):
    desk.handle(desk.dm("My parcel is late."))
    desk.clock.advance(minutes=1)

    desk.handle(desk.dm("Any news?", screen_name="jane_new"))

    assert desk.conversation().customer_screen_name == "jane_new"
    assert desk.ports.conversations.get(desk.conversation_id(Channel.MENTION)) is None


def test_a_late_message_does_not_bring_back_a_handle_its_user_left(desk):
    old = desk.dm("First, as the old handle.")
    desk.clock.advance(minutes=1)
    new = desk.dm("Then, renamed.", screen_name="jane_new", name="Jane New")
    desk.handle(new)

    desk.handle(old)  # X's retry of an older delivery, processed after

    assert desk.conversation().customer_screen_name == "jane_new"
    assert desk.ports.customers.get(TENANT, CUSTOMER_ID).screen_name == "jane_new"
    [profile] = desk.instance.profiles.values()
    assert profile["profile"] == "jane_new"
    assert desk.instance.comments("CS0000001") == ["First, as the old handle."]


def test_a_handle_the_instance_failed_to_take_is_given_it_by_the_retry(desk):
    """The customer record is written last: a retry redoes the profile and conversations."""
    desk.handle(desk.dm("My parcel is late."))
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "set_social_profile")
    desk.clock.advance(minutes=1)
    renamed = desk.dm("Any news?", screen_name="jane_new")

    with pytest.raises(ServiceNowUnavailable):
        desk.handle(renamed)
    assert desk.ports.customers.get(TENANT, CUSTOMER_ID).screen_name == "jane"
    desk.handle(renamed)

    [profile] = desk.instance.profiles.values()
    assert profile["profile"] == "jane_new"
    assert desk.conversation().customer_screen_name == "jane_new"
    assert desk.instance.comments("CS0000001") == ["Any news?"]


def test_a_renamed_customer_of_a_tenant_without_servicenow_details_waits_for_them(desk):
    desk.handle(desk.dm("My parcel is late."))
    desk.ports.credentials.delete_servicenow(desk.details)
    desk.clock.advance(minutes=1)
    renamed = desk.dm("Any news?", screen_name="jane_new")
    desk.instance.calls.clear()

    with pytest.raises(RetryLater):
        desk.handle(renamed)

    assert desk.instance.calls == []  # no instance to show the handle on
    assert desk.conversation().customer_screen_name == "jane_new"
    assert desk.message_of(renamed).status == M.COMMENTING
    desk.ports.credentials.add_servicenow(desk.details)
    desk.handle(renamed)
    assert desk.instance.comments("CS0000001") == ["Any news?"]


# ---------------------------------------------------------------- tenants and instances not ready


def test_a_tenant_without_servicenow_details_holds_the_message_for_five_minutes(monkeypatch):
    desk = Desk(Clock(monkeypatch), servicenow=False)
    event = desk.dm("Hello?")

    with pytest.raises(RetryLater) as raised:
        desk.handle(event)

    assert raised.value.seconds == TENANT_ACTION_WAIT_SECONDS
    assert "POST /servicenow-details/" in raised.value.reason
    assert desk.summary() == [("customer", M.WAITING_FOR_ANSWERS, None)]
    assert desk.x.dms == []
    # Once the tenant gives its details, the message goes through at its next attempt.
    desk.add_servicenow()
    desk.handle(event)
    assert desk.only_case()["description"] == "Hello?"
    assert desk.dms_sent() == [acknowledgement("CS0000001")]


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            ServiceNowBadCredentials("User Not Authenticated", status_code=401),
            "bad_credentials",
            "User Not Authenticated (check admin_user and admin_password).",
        ),
        (
            ServiceNowMissingRole("Insufficient rights", detail="ACL", status_code=403),
            "missing_role",
            "Insufficient rights: ACL (give the integration user the "
            "sn_customerservice_agent and rest_service roles).",
        ),
    ],
    ids=["bad_credentials", "missing_role"],
)
def test_an_instance_refusing_our_credentials_says_so_on_the_tenants_details(
    desk, error, status, detail
):
    desk.instance.fail(error)
    event = desk.dm("Hello?")

    with pytest.raises(type(error)):
        desk.handle(event)

    assert desk.servicenow_status() == (status, detail)
    assert desk.cases() == []
    assert desk.summary() == [("customer", M.WAITING_FOR_ANSWERS, None)]
    assert desk.x.dms == []
    desk.handle(event)  # the tenant fixed it: the retry opens the case
    assert desk.summary()[0] == ("customer", M.CASE_CREATED, "CS0000001")


def test_an_instance_refusing_our_credentials_on_the_open_case_says_so_too(desk):
    desk.handle(desk.dm("Hello?"))
    desk.clock.advance(minutes=11)  # the case's state is stale: it is read first
    desk.instance.fail(ServiceNowBadCredentials("User Not Authenticated", status_code=401))

    with pytest.raises(ServiceNowBadCredentials):
        desk.handle(desk.dm("Anyone?"))

    assert desk.servicenow_status()[0] == "bad_credentials"


def test_an_instance_url_no_longer_allowed_is_never_sent_the_credentials(monkeypatch):
    desk = Desk(Clock(monkeypatch), servicenow=False)
    desk.add_servicenow("https://acme.example.com")

    with pytest.raises(InvalidInstanceUrl) as raised:
        desk.handle(desk.dm("Hello?"))

    assert desk.ports.servicenow.connections == []
    assert desk.servicenow_status() == ("unreachable", str(raised.value))
    assert desk.summary() == [("customer", M.WAITING_FOR_ANSWERS, None)]


@pytest.mark.parametrize(
    "error",
    [
        ServiceNowUnavailable("down", status_code=503),
        ServiceNowNotFound("No such API: is CSM installed?", status_code=404),
    ],
    ids=["unavailable", "not_found"],
)
def test_other_servicenow_failures_leave_the_tenants_details_alone(desk, error):
    desk.instance.fail(error, "create_case")

    with pytest.raises(type(error)):
        desk.handle(desk.dm("Hello?"))

    assert desk.servicenow_status() == ("ok", "")
    assert desk.conversation().case_requested_at == NOW  # a retry looks for it first


# ---------------------------------------------------------------- X refusing the bot


def test_x_refusing_the_accounts_token_marks_it_broken_and_the_retry_sends_the_ack(desk):
    desk.x.fail(XConnectionBroken("Unauthorized", status_code=401), "send_dm")
    event = desk.dm("Hello?")

    with pytest.raises(XConnectionBroken):
        desk.handle(event)

    connection = desk.ports.credentials.x_of(TENANT)
    assert (connection.status, connection.status_detail) == (
        "broken",
        "X refused @acme_support's token (Unauthorized); connect the account again.",
    )
    assert desk.summary() == [
        ("customer", M.CASE_CREATED, "CS0000001"),
        ("bot", M.QUEUED, "CS0000001"),
    ]
    assert desk.message_of(event).handled is False

    desk.handle(event)  # reconnected, or the 401 passed

    assert desk.ports.credentials.x_of(TENANT).status == "connected"
    assert len(desk.cases()) == 1
    assert desk.dms_sent() == [acknowledgement("CS0000001")]
    assert desk.summary()[1] == ("bot", M.DELIVERED, "CS0000001")
    assert desk.message_of(event).handled is True


def test_x_rate_limiting_the_ack_has_it_sent_by_the_retry_once(desk):
    desk.x.fail(XRateLimited("slow down", reset_at=NOW + timedelta(minutes=15)), "send_dm")
    event = desk.dm("Hello?")

    with pytest.raises(XRateLimited):
        desk.handle(event)
    desk.handle(event)
    desk.handle(event)

    assert desk.dms_sent() == [acknowledgement("CS0000001")]
    assert len(desk.cases()) == 1


def test_x_refusing_the_ack_for_good_is_recorded_and_not_retried(desk):
    desk.x.fail(XRequestRejected("X refused to send a DM (403 Forbidden).", status_code=403))
    event = desk.dm("Hello?")

    desk.handle(event)

    customer_message, ack = desk.messages()
    assert (customer_message.status, customer_message.handled) == (M.CASE_CREATED, True)
    assert (ack.status, ack.status_detail) == (M.FAILED, "X refused to send a DM (403 Forbidden).")
    assert desk.x.dms == []
    assert desk.conversation().failed_messages == 1  # what the console's filter reads


# ---------------------------------------------------------------- the last attempt


def test_the_last_attempts_failure_is_recorded_and_a_redrive_clears_it(desk):
    desk.instance.fail(ServiceNowUnavailable("down", status_code=503), "create_case")
    event = desk.dm("Hello?")
    with pytest.raises(ServiceNowUnavailable):
        desk.handle(event)

    inbound.record_failure(desk.ports, event, "ServiceNow failed: down")

    message = desk.message_of(event)
    assert (message.status, message.failure, message.handled) == (
        M.WAITING_FOR_ANSWERS,  # the mark of the last step done
        "ServiceNow failed: down",
        False,
    )
    inbound.record_failure(desk.ports, event, "ServiceNow failed: down")  # told twice
    assert desk.conversation().failed_messages == 1
    desk.handle(event)  # an operator redrives it
    message = desk.message_of(event)
    assert (message.status, message.failure, message.handled) == (M.CASE_CREATED, "", True)
    assert desk.conversation().failed_messages == 0


@pytest.mark.parametrize("kind", ["revoke", "no_tenant", "no_conversation", "no_message"])
def test_a_failure_with_no_message_to_show_it_on_is_not_recorded(desk, kind):
    desk.handle(desk.mention("@acme_support hello"))  # another conversation
    if kind == "no_message":
        desk.handle(desk.dm("Hello?"))
    before = desk.messages() if kind == "no_message" else []
    event = {
        "revoke": lambda: desk.revoke(NOW),
        "no_tenant": lambda: desk.dm("Hello?", account_id="999"),
        "no_conversation": lambda: desk.dm("Hello?"),
        "no_message": lambda: desk.dm("Never handled"),
    }[kind]()

    inbound.record_failure(desk.ports, event, "X failed: down")

    # A message written for it would be a partial item, which reads as no message.
    assert desk.messages() == before
    assert [m.failure for m in desk.messages(Channel.MENTION)] == ["", ""]
