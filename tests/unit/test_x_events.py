"""X deliveries normalized: both shapes (AAA and XAA) of every kind, built with the X
sandbox's payload builders and hand-written from X's documentation examples
(x-api/account-activity/introduction.mdx, x-api/activity/event-payloads.mdx)."""

import copy
import re
from datetime import UTC, datetime

import pydantic
import pytest

from sandboxes.x.payloads import (
    APP_ID,
    Account,
    ActivitySubscription,
    DirectMessage,
    Post,
    aaa_direct_message,
    aaa_post,
    aaa_revoke,
    xaa_direct_message_payload,
    xaa_event,
    xaa_post_payload,
    xaa_revoke,
)
from twittnow.x_events import (
    AccountRevoked,
    DirectMessageReceived,
    DirectMessageSent,
    MalformedDelivery,
    Media,
    Mention,
    conversation_key,
    deduplication_id,
    delivery_account_id,
    normalize,
)

ACME = Account.named("acme")  # the connected company account
CAROL = Account.named("carol")  # customers
DAVE = Account.named("dave")
SENT_AT = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
STAFF_APP_ID = "3033300"  # any app but ours: X's own web app, say


def direct_message(
    sender: Account,
    recipient: Account,
    text: str = "My order is late",
    *,
    id_: str = "1900000000000000001",
    app_id: str | None = None,
) -> DirectMessage:
    return DirectMessage(id_, sender, recipient, text, SENT_AT, app_id)


def post(
    author: Account,
    text: str,
    *mentions: Account,
    id_: str = "1900000000000000099",
    in_reply_to_id: str | None = None,
    in_reply_to: Account | None = None,
) -> Post:
    return Post(id_, author, text, SENT_AT, id_, mentions, in_reply_to_id, in_reply_to)


def activity(
    event_type: str,
    account: Account,
    payload: dict,
    includes: dict | None = None,
    *,
    event_uuid: str = "-6850472171600526495",
) -> dict:
    subscription = ActivitySubscription("sub-1", event_type, account.id, "webhook-1", "twittnow")
    return xaa_event(event_uuid, subscription, payload, includes)


def aaa_dm(for_user: Account, message: DirectMessage) -> dict:
    return aaa_direct_message(for_user, message)


def xaa_dm(for_user: Account, message: DirectMessage) -> dict:
    event_type = "dm.sent" if message.sender == for_user else "dm.received"
    return activity(event_type, for_user, xaa_direct_message_payload(message))


def aaa_mention(for_user: Account, mention: Post) -> dict:
    return aaa_post(for_user, mention)


def xaa_mention(for_user: Account, mention: Post) -> dict:
    return activity("post.mention.create", for_user, *xaa_post_payload(mention))


BOTH_DM_SHAPES = pytest.mark.parametrize("shape", [aaa_dm, xaa_dm], ids=["aaa", "xaa"])
BOTH_MENTION_SHAPES = pytest.mark.parametrize(
    "shape", [aaa_mention, xaa_mention], ids=["aaa", "xaa"]
)


def only(events: list) -> object:
    assert len(events) == 1, events
    return events[0]


# ---------------------------------------------------------------- DMs


@BOTH_DM_SHAPES
def test_a_customers_dm_is_received(shape):
    message = direct_message(CAROL, ACME, "My order is late")

    event = only(normalize(shape(ACME, message)))

    assert event == DirectMessageReceived(
        event_id=message.id,
        account_id=ACME.id,
        customer_id=CAROL.id,
        customer_screen_name="carol",
        customer_name="carol",
        text="My order is late",
        media=[],
        sent_at=SENT_AT,
    )
    assert event.kind == "direct_message_received"


@BOTH_DM_SHAPES
def test_our_own_reply_comes_back_as_a_sent_dm_with_our_app_id(shape):
    message = direct_message(ACME, CAROL, "Sorry! It ships today.", app_id=APP_ID)

    event = only(normalize(shape(ACME, message)))

    assert event == DirectMessageSent(
        event_id=message.id,
        account_id=ACME.id,
        recipient_id=CAROL.id,
        text="Sorry! It ships today.",
        sent_by_app_id=APP_ID,
        sent_at=SENT_AT,
    )
    assert event.kind == "direct_message_sent"


@BOTH_DM_SHAPES
def test_staff_typing_in_xs_app_is_a_sent_dm_without_our_app_id(shape):
    message = direct_message(ACME, CAROL, "Hi Carol, Dana here.")

    event = only(normalize(shape(ACME, message)))

    assert isinstance(event, DirectMessageSent)
    assert event.sent_by_app_id is None
    assert event.recipient_id == CAROL.id


@BOTH_DM_SHAPES
def test_a_dm_between_others_is_none_of_the_accounts_business(shape):
    delivery = shape(ACME, direct_message(CAROL, DAVE))

    assert normalize(delivery) == []


def test_the_same_dm_through_both_apis_is_one_event():
    message = direct_message(CAROL, ACME)

    assert normalize(aaa_dm(ACME, message)) == normalize(xaa_dm(ACME, message))


def test_the_same_echo_through_both_apis_is_one_event():
    message = direct_message(ACME, CAROL, app_id=APP_ID)

    assert normalize(aaa_dm(ACME, message)) == normalize(xaa_dm(ACME, message))


def test_a_retried_delivery_keeps_its_event_ids():
    delivery = aaa_dm(ACME, direct_message(CAROL, ACME))

    assert normalize(copy.deepcopy(delivery)) == normalize(delivery)


def test_an_aaa_batch_gives_each_dm_in_order():
    first = aaa_dm(ACME, direct_message(CAROL, ACME, "one", id_="1900000000000000001"))
    second = aaa_dm(ACME, direct_message(DAVE, ACME, "two", id_="1900000000000000002"))
    third = aaa_dm(ACME, direct_message(ACME, CAROL, "three", id_="1900000000000000003"))
    batch = {
        "for_user_id": ACME.id,
        "direct_message_events": [
            *first["direct_message_events"],
            *second["direct_message_events"],
            *third["direct_message_events"],
        ],
        "users": {**first["users"], **second["users"], **third["users"]},
    }

    events = normalize(batch)

    assert [(type(event), event.text) for event in events] == [
        (DirectMessageReceived, "one"),
        (DirectMessageReceived, "two"),
        (DirectMessageSent, "three"),
    ]
    assert [event.event_id for event in events] == [
        "1900000000000000001",
        "1900000000000000002",
        "1900000000000000003",
    ]


def test_an_xaa_payload_with_several_dms_gives_each():
    delivery = xaa_dm(ACME, direct_message(CAROL, ACME, "one", id_="1"))
    events = delivery["data"]["payload"]["direct_message_events"]
    events.append({**copy.deepcopy(events[0]), "id": "2"})

    assert [event.event_id for event in normalize(delivery)] == ["1", "2"]


# X's documentation examples, as written there.

AAA_DM_EXAMPLE = {
    "for_user_id": "4337869213",
    "direct_message_events": [
        {
            "type": "message_create",
            "id": "954491830116155396",
            "created_timestamp": "1516403560557",
            "message_create": {
                "target": {"recipient_id": "4337869213"},
                "sender_id": "3001969357",
                "source_app_id": "13090192",
                "message_data": {
                    "text": "Hello World!",
                    "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
                },
            },
        }
    ],
    "apps": {
        "13090192": {
            "id": "13090192",
            "name": "FuriousCamperTestApp1",
            "url": "https://x.com/furiouscamper",
        }
    },
    "users": {
        "3001969357": {
            "id": "3001969357",
            "created_timestamp": "1422556069340",
            "name": "Jordan Brinks",
            "screen_name": "furiouscamper",
            "location": "Boulder, CO",
            "protected": False,
            "verified": False,
            "followers_count": 22,
            "friends_count": 45,
            "statuses_count": 494,
            "profile_image_url_https": (
                "https://pbs.twimg.com/profile_images/851526626785480705/cW4WTi7C_normal.jpg"
            ),
        },
        "4337869213": {
            "id": "4337869213",
            "created_timestamp": "1448312972328",
            "name": "Harrison Test",
            "screen_name": "Harris_0ff",
            "protected": False,
            "verified": False,
            "followers_count": 8,
            "friends_count": 8,
            "statuses_count": 240,
            "profile_image_url_https": (
                "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
            ),
        },
    },
}


def xaa_dm_example(event_type: str, sender: str, recipient: str, text: str) -> dict:
    """dm.sent and dm.received as in event-payloads.mdx (users trimmed to the fields
    that matter)."""
    v2_users = {
        "1111111111111111111": {"username": "ExampleUser", "name": "Example User"},
        "2222222222222222222": {"username": "OtherUser", "name": "OtherUser"},
        "2244994945": {"username": "XDevelopers", "name": "X Developers"},
    }
    return {
        "data": {
            "event_uuid": "-3577827201104920132",
            "filter": {"user_id": "1111111111111111111"},
            "event_type": event_type,
            "tag": "dm-events",
            "payload": {
                "direct_message_events": [
                    {
                        "type": "message_create",
                        "id": "2080763914820927863",
                        "created_timestamp": "1784927750704",
                        "message_create": {
                            "target": {"recipient_id": recipient},
                            "sender_id": sender,
                            "message_data": {
                                "text": text,
                                "entities": {
                                    "hashtags": [],
                                    "symbols": [],
                                    "user_mentions": [],
                                    "urls": [],
                                },
                            },
                        },
                    }
                ],
                "users": {
                    user_id: {"data": {"id": user_id, "protected": False, **v2_users[user_id]}}
                    for user_id in (sender, recipient)
                },
            },
        }
    }


def test_the_aaa_dm_example_of_xs_docs():
    event = only(normalize(AAA_DM_EXAMPLE))

    assert event == DirectMessageReceived(
        event_id="954491830116155396",
        account_id="4337869213",
        customer_id="3001969357",
        customer_screen_name="furiouscamper",
        customer_name="Jordan Brinks",
        text="Hello World!",
        sent_at=datetime(2018, 1, 19, 23, 12, 40, 557000, tzinfo=UTC),
    )


def test_the_xaa_dm_received_example_of_xs_docs():
    delivery = xaa_dm_example("dm.received", "2222222222222222222", "1111111111111111111", "hello!")

    event = only(normalize(delivery))

    assert isinstance(event, DirectMessageReceived)
    assert (event.account_id, event.customer_id) == ("1111111111111111111", "2222222222222222222")
    assert (event.customer_screen_name, event.customer_name) == ("OtherUser", "OtherUser")
    assert event.text == "hello!"
    assert event.event_id == "2080763914820927863"


def test_the_xaa_dm_sent_example_of_xs_docs():
    delivery = xaa_dm_example(
        "dm.sent", "1111111111111111111", "2244994945", "Thanks for the update!"
    )

    assert only(normalize(delivery)) == DirectMessageSent(
        event_id="2080763914820927863",
        account_id="1111111111111111111",
        recipient_id="2244994945",
        text="Thanks for the update!",
        sent_by_app_id=None,
        sent_at=datetime.fromtimestamp(1784927750.704, UTC),
    )


def dm_with_attachment(media: dict, text: str) -> dict:
    delivery = aaa_dm(ACME, direct_message(CAROL, ACME))
    message_data = delivery["direct_message_events"][0]["message_create"]["message_data"]
    message_data["text"] = text
    message_data["attachment"] = {"type": "media", "media": media}
    return delivery


def test_a_dms_photo_is_media_and_its_link_leaves_the_text():
    photo = {
        "id": 1234,
        "id_str": "1234",
        "media_url": "https://ton.twitter.com/1.1/ton/data/dm/1/1234/abc.jpg",
        "media_url_https": "https://ton.twitter.com/1.1/ton/data/dm/1/1234/abc.jpg",
        "url": "https://t.co/AbCdEf",
        "display_url": "pic.x.com/AbCdEf",
        "type": "photo",
    }

    event = only(normalize(dm_with_attachment(photo, "Broken on arrival https://t.co/AbCdEf")))

    assert event.text == "Broken on arrival"
    assert event.media == [
        Media(url="https://ton.twitter.com/1.1/ton/data/dm/1/1234/abc.jpg", media_type="photo")
    ]


def test_a_dms_video_is_its_best_mp4():
    video = {
        "id_str": "5678",
        "media_url_https": "https://pbs.twimg.com/dm_video_preview/5678/img/thumb.jpg",
        "url": "https://t.co/VidVid",
        "type": "video",
        "video_info": {
            "variants": [
                {
                    "content_type": "application/x-mpegURL",
                    "url": "https://video.twimg.com/dm/pl.m3u8",
                },
                {
                    "bitrate": 256000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/dm/low.mp4",
                },
                {
                    "bitrate": 832000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/dm/high.mp4",
                },
            ]
        },
    }

    event = only(normalize(dm_with_attachment(video, "https://t.co/VidVid")))

    assert event.text == ""
    assert event.media == [
        Media(
            url="https://video.twimg.com/dm/high.mp4", media_type="video", content_type="video/mp4"
        )
    ]


# ---------------------------------------------------------------- mentions


@BOTH_MENTION_SHAPES
def test_a_customers_post_mentioning_the_account_is_a_mention(shape):
    mention = post(CAROL, "@acme my order is late", ACME)

    event = only(normalize(shape(ACME, mention)))

    assert isinstance(event, Mention)
    assert event.kind == "mention"
    assert (event.event_id, event.post_id) == (mention.id, mention.id)
    assert (event.account_id, event.customer_id) == (ACME.id, CAROL.id)
    assert (event.customer_screen_name, event.customer_name) == ("carol", "carol")
    assert event.text == "@acme my order is late"
    assert event.in_reply_to_post_id is None
    assert event.media == []
    assert event.sent_at in (SENT_AT, SENT_AT.replace(microsecond=0))  # v1.1: whole seconds


@BOTH_MENTION_SHAPES
def test_a_reply_mentioning_the_account_knows_the_post_it_replies_to(shape):
    mention = post(CAROL, "@acme still waiting", ACME, in_reply_to_id="1800", in_reply_to=ACME)

    assert only(normalize(shape(ACME, mention))).in_reply_to_post_id == "1800"


def test_the_same_mention_through_both_apis_is_one_event():
    mention = post(CAROL, "@acme hello", ACME)

    through_aaa = only(normalize(aaa_mention(ACME, mention)))
    through_xaa = only(normalize(xaa_mention(ACME, mention)))

    # v1.1 times have whole seconds, v2 times milliseconds.
    assert through_aaa.model_dump(exclude={"sent_at"}) == through_xaa.model_dump(
        exclude={"sent_at"}
    )
    assert through_aaa.sent_at == through_xaa.sent_at.replace(microsecond=0)


def test_a_reply_to_the_account_without_its_handle_in_the_text_is_a_mention():
    reply = post(CAROL, "any news?", in_reply_to_id="1800", in_reply_to=ACME)

    event = only(normalize(aaa_mention(ACME, reply)))

    assert (event.customer_id, event.in_reply_to_post_id) == (CAROL.id, "1800")


# ---------------------------------------------------------------- replies in a thread


def thread_reply(author: Account, typed: str, *mentions: Account, to: Account = ACME) -> Post:
    """`author`'s reply to a post of `to`, as X makes it: `to`'s @screen_name before what
    the author typed, outside the display range (an implicit mention)."""
    prefix = f"@{to.screen_name} "
    return Post(
        "1900000000000000123",
        author,
        prefix + typed,
        SENT_AT,
        "1800",
        (to, *mentions),
        "1800",
        to,
        display_from=len(prefix),
    )


def xaa_reply(for_user: Account, reply: Post) -> dict:
    return activity("post.reply.create", for_user, *xaa_post_payload(reply))


ALL_REPLY_SHAPES = pytest.mark.parametrize(
    "shape", [aaa_mention, xaa_reply], ids=["aaa", "xaa-post.reply.create"]
)


@ALL_REPLY_SHAPES
def test_a_reply_typed_without_the_accounts_handle_is_a_mention_that_does_not_summon(shape):
    reply = thread_reply(CAROL, "still broken, any news?")

    event = only(normalize(shape(ACME, reply)))

    assert isinstance(event, Mention)
    assert (event.event_id, event.post_id, event.customer_id) == (reply.id, reply.id, CAROL.id)
    assert event.customer_screen_name == "carol"
    assert event.text == "still broken, any news?"  # without X's "@acme " before it
    assert event.in_reply_to_post_id == "1800"
    assert event.mentions_account is False


@pytest.mark.parametrize(
    "shape", [aaa_mention, xaa_reply, xaa_mention], ids=["aaa", "xaa-reply", "xaa-mention"]
)
def test_a_reply_that_also_types_the_accounts_handle_summons_it(shape):
    reply = thread_reply(CAROL, "@acme still broken", ACME)

    assert only(normalize(shape(ACME, reply))).mentions_account is True


def test_a_reply_typed_with_the_handle_is_one_event_however_x_delivers_it():
    """XAA sends it as post.reply.create and post.mention.create, AAA as one
    tweet_create_events: all three are the same event, so that it lands once."""
    reply = thread_reply(CAROL, "@acme still broken", ACME)

    events = [
        only(normalize(shape(ACME, reply))) for shape in (aaa_mention, xaa_reply, xaa_mention)
    ]

    dumps = [event.model_dump(exclude={"sent_at"}) for event in events]
    assert dumps[0] == dumps[1] == dumps[2]
    assert len({deduplication_id(event) for event in events}) == 1
    assert len({conversation_key(event) for event in events}) == 1


def test_a_plain_mention_summons_the_account():
    assert only(normalize(aaa_mention(ACME, post(CAROL, "@acme hi", ACME)))).mentions_account
    assert only(normalize(xaa_mention(ACME, post(CAROL, "@acme hi", ACME)))).mentions_account


def test_the_accounts_own_reply_in_a_thread_is_not_a_mention():
    own = thread_reply(ACME, "glad to help", to=CAROL)

    assert normalize(xaa_reply(ACME, own)) == []
    assert normalize(aaa_mention(ACME, own)) == []


def test_the_xaa_reply_example_of_xs_docs():
    """x-api/activity/event-payloads.mdx's post.reply.create, as it is: its includes are
    empty, so the customer is known by id only, and the processor names them."""
    delivery = copy.deepcopy(XAA_REPLY_EXAMPLE)

    event = only(normalize(delivery))

    assert isinstance(event, Mention)
    assert (event.event_id, event.customer_id) == ("2090000000000000001", "2222222222222222222")
    assert (event.customer_screen_name, event.customer_name) == ("", "")
    assert event.in_reply_to_post_id == "2080761390344937796"
    assert event.mentions_account is False  # the @ExampleUser at 0 is before the range
    # The range starts past "@ExampleUser ": not only @screen_names before it, so the
    # text stays whole rather than lose what the author typed.
    assert event.text == "@ExampleUser Great post \u2014 thanks for sharing!"
    assert event.sent_at == datetime(2026, 8, 12, 18, 0, tzinfo=UTC)


def test_a_reply_with_its_author_in_includes_names_the_customer():
    delivery = copy.deepcopy(XAA_REPLY_EXAMPLE)
    author = {"id": "2222222222222222222", "username": "OtherUser", "name": "Other"}
    delivery["data"]["includes"] = {"users": [{"data": author}]}

    event = only(normalize(delivery))

    assert (event.customer_screen_name, event.customer_name) == ("OtherUser", "Other")


def test_a_posts_media_left_out_of_includes_keeps_its_link_in_the_text():
    delivery = copy.deepcopy(XAA_MENTION_EXAMPLE)
    payload = delivery["data"]["payload"]
    link = "https://t.co/photo"
    payload["text"] += f" {link}"
    end = len(payload["text"])
    payload["entities"]["urls"] = [
        {"start": end - len(link), "end": end, "url": link, "media_key": "3_1"}
    ]
    payload["attachments"] = {"media_keys": ["3_1"]}

    event = only(normalize(delivery))

    assert event.media == [] and event.text.endswith(link)


XAA_REPLY_EXAMPLE = {
    "data": {
        "event_uuid": "3091827364059182736",
        "filter": {"user_id": "1111111111111111111"},
        "event_type": "post.reply.create",
        "tag": "replies",
        "payload": {
            "created_at": "2026-08-12T18:00:00.000Z",
            "edit_history_tweet_ids": ["2090000000000000001"],
            "conversation_id": "2080761390344937796",
            "in_reply_to_tweet_id": "2080761390344937796",
            "in_reply_to_user_id": "1111111111111111111",
            "referenced_tweets": [{"type": "replied_to", "id": "2080761390344937796"}],
            "display_text_range": [14, 45],
            "text": "@ExampleUser Great post \u2014 thanks for sharing!",
            "entities": {
                "mentions": [
                    {
                        "start": 0,
                        "start_str": "0",
                        "end": 12,
                        "end_str": "12",
                        "username": "ExampleUser",
                        "id": "1111111111111111111",
                    }
                ]
            },
            "author_id": "2222222222222222222",
            "reply_settings": "everyone",
            "id": "2090000000000000001",
            "lang": "en",
        },
        "includes": {},
    }
}


@BOTH_MENTION_SHAPES
def test_the_accounts_own_posts_are_not_mentions(shape):
    own = post(ACME, "@carol sorry about that, @acme is on it", CAROL, ACME)

    assert normalize(shape(ACME, own)) == []


def test_a_post_that_neither_mentions_nor_answers_the_account_is_ignored():
    elsewhere = post(CAROL, "@dave lunch?", DAVE)

    assert normalize(aaa_mention(ACME, elsewhere)) == []


def test_a_retweet_of_a_mention_is_not_a_mention():
    retweet = post(DAVE, "RT @carol: @acme my order is late", ACME)
    through_aaa = aaa_mention(ACME, retweet)
    through_aaa["tweet_create_events"][0]["retweeted_status"] = {"id_str": "1800"}
    through_xaa = xaa_mention(ACME, retweet)
    through_xaa["data"]["payload"]["referenced_tweets"] = [{"type": "retweeted", "id": "1800"}]

    assert normalize(through_aaa) == normalize(through_xaa) == []


def test_a_post_mentioning_two_accounts_is_one_event_id_for_each():
    mention = post(CAROL, "@acme @dave who can help?", ACME, DAVE)

    for_acme = only(normalize(aaa_mention(ACME, mention)))
    for_dave = only(normalize(xaa_mention(DAVE, mention)))

    assert for_acme.event_id == for_dave.event_id == mention.id
    assert deduplication_id(for_acme) != deduplication_id(for_dave)


def test_a_longform_post_is_its_full_text():
    """The longform example of account-activity/introduction.mdx, for one of the accounts
    it mentions after the 140th character."""
    full_text = "The Antikythera Mechanism: " + "gears " * 330 + "&amp; more\n@xai\n@HistoryInPics"
    start = full_text.index("@xai")
    delivery = {
        "for_user_id": "1661523610111193088",
        "tweet_create_events": [
            {
                "created_at": "Mon May 19 14:01:46 +0000 2025",
                "id": 1924465506158879000,
                "id_str": "1924465506158878979",
                "text": "The Antikythera Mechanism: A Window into Ancient Ingenuity Discovered "
                "in 1901 among the wreckage of a Roman ship of… https://t.co/bzbEKj8cd8",
                "display_text_range": [0, 140],
                "truncated": True,
                "user": {
                    "id": 1603419180975409153,
                    "id_str": "1603419180975409153",
                    "name": "History Buff",
                    "screen_name": "historybuff",
                },
                "extended_tweet": {
                    "full_text": full_text,
                    "display_text_range": [0, len(full_text)],
                    "entities": {
                        "hashtags": [],
                        "urls": [],
                        "user_mentions": [
                            {
                                "screen_name": "xai",
                                "name": "xAI",
                                "id": 1661523610111193000,
                                "id_str": "1661523610111193088",
                                "indices": [start, start + 4],
                            },
                            {
                                "screen_name": "HistoryInPics",
                                "name": "History Photographed",
                                "id": 1582853809,
                                "id_str": "1582853809",
                                "indices": [start + 5, start + 19],
                            },
                        ],
                        "symbols": [],
                    },
                },
                "entities": {
                    "hashtags": [],
                    "urls": [
                        {
                            "url": "https://t.co/bzbEKj8cd8",
                            "expanded_url": "https://twitter.com/i/web/status/1924465506158878979",
                            "display_url": "twitter.com/i/web/status/1…",
                            "indices": [117, 140],
                        }
                    ],
                    "user_mentions": [],
                    "symbols": [],
                },
            }
        ],
    }

    event = only(normalize(delivery))

    assert event.text == full_text.replace("&amp;", "&")
    assert (event.customer_screen_name, event.customer_name) == ("historybuff", "History Buff")
    assert event.sent_at == datetime(2025, 5, 19, 14, 1, 46, tzinfo=UTC)


def test_a_posts_photos_and_video_are_media_from_its_extended_entities():
    delivery = aaa_mention(ACME, post(CAROL, "@acme look https://t.co/PiCs", ACME))
    tweet = delivery["tweet_create_events"][0]
    photo = {
        "media_url_https": "https://pbs.twimg.com/media/one.jpg",
        "url": "https://t.co/PiCs",
        "type": "photo",
    }
    tweet["entities"]["media"] = [photo]  # v1.1 entities name the first photo only
    tweet["extended_entities"] = {
        "media": [
            photo,
            {**photo, "media_url_https": "https://pbs.twimg.com/media/two.jpg"},
        ]
    }

    event = only(normalize(delivery))

    assert event.text == "@acme look"
    assert [(item.url, item.media_type) for item in event.media] == [
        ("https://pbs.twimg.com/media/one.jpg", "photo"),
        ("https://pbs.twimg.com/media/two.jpg", "photo"),
    ]


def test_a_v2_posts_note_text_and_media_come_from_note_tweet_and_includes():
    delivery = xaa_mention(ACME, post(CAROL, "@acme a long story…", ACME))
    data = delivery["data"]
    data["payload"]["note_tweet"] = {"text": "@acme a long story &lt;3 that goes on and on"}
    data["payload"]["attachments"] = {"media_keys": ["7_1", "3_2"]}
    data["includes"]["media"] = [
        {"media_key": "3_2", "type": "photo", "url": "https://pbs.twimg.com/media/p.jpg"},
        {
            "media_key": "7_1",
            "type": "video",
            "preview_image_url": "https://pbs.twimg.com/ext_tw_video_thumb/v.jpg",
            "variants": [
                {
                    "bit_rate": 632000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/v/632.mp4",
                },
                {
                    "bit_rate": 2176000,
                    "content_type": "video/mp4",
                    "url": "https://video.twimg.com/v/2176.mp4",
                },
                {
                    "content_type": "application/x-mpegURL",
                    "url": "https://video.twimg.com/v/pl.m3u8",
                },
            ],
        },
    ]

    event = only(normalize(delivery))

    assert event.text == "@acme a long story <3 that goes on and on"
    assert event.media == [
        Media(
            url="https://video.twimg.com/v/2176.mp4", media_type="video", content_type="video/mp4"
        ),
        Media(url="https://pbs.twimg.com/media/p.jpg", media_type="photo"),
    ]


XAA_MENTION_EXAMPLE = {
    "data": {
        "event_uuid": "2080765813578191303",
        "filter": {"user_id": "1111111111111111111"},
        "event_type": "post.mention.create",
        "tag": "mentions",
        "payload": {
            "paid_partnership": False,
            "created_at": "2026-07-24T21:23:23.000Z",
            "edit_history_tweet_ids": ["2080765813578191303"],
            "conversation_id": "2080765813578191303",
            "display_text_range": [0, 16],
            "text": "hey @ExampleUser",
            "entities": {
                "mentions": [
                    {
                        "start": 4,
                        "start_str": "4",
                        "end": 16,
                        "end_str": "16",
                        "username": "ExampleUser",
                        "id": "1111111111111111111",
                    }
                ]
            },
            "author_id": "2222222222222222222",
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "id": "2080765813578191303",
            "lang": "und",
        },
        "includes": {
            "users": [
                {
                    "username": "OtherUser",
                    "protected": False,
                    "verified_type": "none",
                    "created_at": "2026-04-20T19:55:59.000Z",
                    "name": "OtherUser",
                    "verified": False,
                    "id": "2222222222222222222",
                },
                {
                    "username": "ExampleUser",
                    "name": "Example User",
                    "verified": True,
                    "id": "1111111111111111111",
                },
            ],
            "tweets": [],
        },
    }
}


def test_the_xaa_mention_example_of_xs_docs():
    assert only(normalize(XAA_MENTION_EXAMPLE)) == Mention(
        event_id="2080765813578191303",
        account_id="1111111111111111111",
        customer_id="2222222222222222222",
        customer_screen_name="OtherUser",
        customer_name="OtherUser",
        post_id="2080765813578191303",
        text="hey @ExampleUser",
        in_reply_to_post_id=None,
        sent_at=datetime(2026, 7, 24, 21, 23, 23, tzinfo=UTC),
    )


def test_includes_users_wrapped_in_data_are_read_too():
    """post.delete's example in event-payloads.mdx wraps each included user in "data"."""
    delivery = copy.deepcopy(XAA_MENTION_EXAMPLE)
    users = delivery["data"]["includes"]["users"]
    delivery["data"]["includes"]["users"] = [{"data": user} for user in users]

    assert only(normalize(delivery)).customer_screen_name == "OtherUser"


# ---------------------------------------------------------------- revokes


def test_a_revoke_through_either_api_is_one_event():
    at = datetime(2026, 7, 23, 21, 44, 5, tzinfo=UTC)

    through_aaa = only(normalize(aaa_revoke(ACME, at)))
    through_xaa = only(normalize(xaa_revoke("5934540941047412905", ACME, at)))

    assert (
        through_aaa
        == through_xaa
        == AccountRevoked(
            event_id=f"revoke:{ACME.id}:{int(at.timestamp())}", account_id=ACME.id, revoked_at=at
        )
    )
    assert through_aaa.kind == "account_revoked"


def test_the_revoke_examples_of_xs_docs():
    aaa = {
        "user_event": {
            "revoke": {
                "date_time": "2018-05-24T09:48:12+00:00",
                "target": {"app_id": "13090192"},
                "source": {"user_id": "63046977"},
            }
        }
    }
    xaa = {
        "data": {
            "event_uuid": "5934540941047412905",
            "filter": {},
            "event_type": "oauth.revoke",
            "payload": {
                "date_time": "2026-07-23T21:44:05+00:00",
                "user_id": "1111111111111111111",
                "app_id": "29820954",
            },
        }
    }

    assert only(normalize(aaa)) == AccountRevoked(
        event_id="revoke:63046977:1527155292",
        account_id="63046977",
        revoked_at=datetime(2018, 5, 24, 9, 48, 12, tzinfo=UTC),
    )
    assert only(normalize(xaa)).account_id == "1111111111111111111"


# ---------------------------------------------------------------- ignored


USERS = AAA_DM_EXAMPLE["users"]
IGNORED = {
    "aaa typing": {
        "for_user_id": "4337869213",
        "direct_message_indicate_typing_events": [
            {
                "created_timestamp": "1518127183443",
                "sender_id": "3284025577",
                "target": {"recipient_id": "3001969357"},
            }
        ],
        "users": USERS,
    },
    "aaa read": {
        "for_user_id": "4337869213",
        "direct_message_mark_read_events": [
            {
                "created_timestamp": "1518452444662",
                "sender_id": "199566737",
                "target": {"recipient_id": "3001969357"},
                "last_read_event_id": "963085315333238788",
            }
        ],
        "users": USERS,
    },
    "aaa favorite": {
        "for_user_id": "2244994945",
        "favorite_events": [
            {
                "id": "a7ba59eab0bfcba386f7acedac279542",
                "created_at": "Mon Mar 26 16:33:26 +0000 2018",
                "timestamp_ms": 1522082006140,
                "favorited_status": {},
                "user": {},
            }
        ],
    },
    "aaa follow": {
        "for_user_id": "2244994945",
        "follow_events": [
            {"type": "follow", "created_timestamp": "1517588749178", "target": {}, "source": {}}
        ],
    },
    "aaa tweet delete": {
        "for_user_id": "930524282358325248",
        "tweet_delete_events": [
            {
                "status": {"id": "1045405559317569537", "user_id": "930524282358325248"},
                "timestamp_ms": "1432228155593",
            }
        ],
    },
    "aaa replay job end": {
        "replay_job_status": {
            "webhook_id": "1",
            "job_state": "Complete",
            "job_state_description": "Job completed successfully",
            "job_id": "2",
        }
    },
    "xaa like": {
        "data": {
            "event_uuid": "-3402274206530057851",
            "filter": {"user_id": "1111111111111111111", "direction": "outbound"},
            "event_type": "like.create",
            "tag": "likes",
            "payload": {"id": "87719f50ee17bdfa06a3089098a2b9ed", "liked_tweet_id": "2079"},
        }
    },
    "xaa profile change": {
        "data": {
            "event_uuid": "-8917909039855612786",
            "filter": {"user_id": "1111111111111111111"},
            "event_type": "profile.update.bio",
            "payload": {"before": "a", "after": "b"},
        }
    },
}


@pytest.mark.parametrize("delivery", IGNORED.values(), ids=IGNORED.keys())
def test_other_activity_is_ignored(delivery):
    assert normalize(delivery) == []


# ---------------------------------------------------------------- keys


def test_a_customers_dms_and_mentions_share_one_conversation_and_others_run_apart():
    carol_writes = only(normalize(aaa_dm(ACME, direct_message(CAROL, ACME))))
    we_answer = only(normalize(xaa_dm(ACME, direct_message(ACME, CAROL, app_id=APP_ID))))
    carol_posts = only(normalize(xaa_mention(ACME, post(CAROL, "@acme hi", ACME))))
    dave_writes = only(normalize(aaa_dm(ACME, direct_message(DAVE, ACME))))

    assert conversation_key(carol_writes) == f"{ACME.id}:{CAROL.id}"
    assert (
        conversation_key(we_answer)
        == conversation_key(carol_posts)
        == conversation_key(carol_writes)
    )
    assert conversation_key(dave_writes) == f"{ACME.id}:{DAVE.id}"


def test_a_revoke_is_the_accounts_own_conversation():
    revoked = only(normalize(aaa_revoke(ACME, SENT_AT)))

    assert conversation_key(revoked) == ACME.id


def test_the_deduplication_id_is_the_account_and_event_id():
    event = only(normalize(AAA_DM_EXAMPLE))

    assert deduplication_id(event) == "4337869213:954491830116155396"


ACCOUNTS = {
    "aaa dm": (aaa_dm(ACME, direct_message(CAROL, ACME)), ACME.id),
    "aaa mention": (aaa_mention(ACME, post(CAROL, "@acme hi", ACME)), ACME.id),
    "aaa revoke": (aaa_revoke(ACME, SENT_AT), ACME.id),
    "aaa typing": (IGNORED["aaa typing"], "4337869213"),
    "xaa dm": (xaa_dm(ACME, direct_message(CAROL, ACME)), ACME.id),
    "xaa mention": (xaa_mention(ACME, post(CAROL, "@acme hi", ACME)), ACME.id),
    "xaa revoke, empty filter": (xaa_revoke("1", ACME, SENT_AT), ACME.id),
    "xaa like": (IGNORED["xaa like"], "1111111111111111111"),
    "replay job end": (IGNORED["aaa replay job end"], None),
    "empty": ({}, None),
    "not a dict": (["for_user_id", "1"], None),
    "id not a string": ({"for_user_id": 4337869213}, None),
    "data not an object": ({"data": "x", "for_user_id": "1"}, None),
    "revoke not an object": ({"user_event": {"revoke": ["63046977"]}}, None),
}


@pytest.mark.parametrize(("delivery", "account_id"), ACCOUNTS.values(), ids=ACCOUNTS.keys())
def test_the_account_a_delivery_is_for(delivery, account_id):
    assert delivery_account_id(delivery) == account_id


# ---------------------------------------------------------------- malformed


def broken(delivery: dict, change) -> dict:
    delivery = copy.deepcopy(delivery)
    change(delivery)
    return delivery


def first_dm(delivery: dict) -> dict:
    return delivery["direct_message_events"][0]


AAA_DM = aaa_dm(ACME, direct_message(CAROL, ACME))
AAA_MENTION = aaa_mention(ACME, post(CAROL, "@acme hi", ACME))
XAA_DM = xaa_dm(ACME, direct_message(CAROL, ACME))
MALFORMED = {
    "a list": (["for_user_id"], "delivery must be an object, not list"),
    "null": (None, "delivery must be an object, not null"),
    "a string": ("{}", "delivery must be an object, not str"),
    "empty": ({}, "delivery.for_user_id is missing"),
    "account id a number": ({"for_user_id": 1}, "delivery.for_user_id must be a string, not int"),
    "dm events not a list": (
        {"for_user_id": "1", "direct_message_events": {}},
        "delivery.direct_message_events must be a list, not dict",
    ),
    "dm event not an object": (
        {"for_user_id": "1", "direct_message_events": ["x"]},
        "delivery.direct_message_events[0] must be an object, not str",
    ),
    "dm without message_create": (
        broken(AAA_DM, lambda d: first_dm(d).pop("message_create")),
        "delivery.direct_message_events[0].message_create is missing",
    ),
    "dm without sender": (
        broken(AAA_DM, lambda d: first_dm(d)["message_create"].pop("sender_id")),
        "delivery.direct_message_events[0].message_create.sender_id is missing",
    ),
    "dm without text": (
        broken(AAA_DM, lambda d: first_dm(d)["message_create"]["message_data"].pop("text")),
        "message_data.text is missing",
    ),
    "dm time not epoch ms": (
        broken(AAA_DM, lambda d: first_dm(d).update(created_timestamp="yesterday")),
        "created_timestamp must be epoch milliseconds",
    ),
    "dm without users": (broken(AAA_DM, lambda d: d.pop("users")), "delivery.users is missing"),
    "dm sender not in users": (
        broken(AAA_DM, lambda d: d["users"].pop(CAROL.id)),
        f"delivery.users has no user {CAROL.id}",
    ),
    "post without user": (
        broken(AAA_MENTION, lambda d: d["tweet_create_events"][0].pop("user")),
        "delivery.tweet_create_events[0].user is missing",
    ),
    "post time not v1.1": (
        broken(AAA_MENTION, lambda d: d["tweet_create_events"][0].update(created_at="2026")),
        "created_at is not a v1.1 time",
    ),
    "mention id a number": (
        broken(
            AAA_MENTION,
            lambda d: d["tweet_create_events"][0]["entities"]["user_mentions"][0].update(id_str=1),
        ),
        "user_mentions[0].id_str must be a string, not int",
    ),
    "data not an object": ({"data": []}, "delivery.data must be an object, not list"),
    "xaa without event type": (
        broken(XAA_DM, lambda d: d["data"].pop("event_type")),
        "delivery.data.event_type is missing",
    ),
    "xaa dm without filter": (
        broken(XAA_DM, lambda d: d["data"].update(filter={})),
        "delivery.data.filter.user_id is missing",
    ),
    "xaa dm user empty": (
        broken(XAA_DM, lambda d: d["data"]["payload"]["users"].update({CAROL.id: {}})),
        f"delivery.data.payload.users.{CAROL.id}.screen_name is missing",
    ),
    "xaa mention time not ISO": (
        broken(XAA_MENTION_EXAMPLE, lambda d: d["data"]["payload"].update(created_at="soon")),
        "delivery.data.payload.created_at is not an ISO 8601 time",
    ),
    "xaa revoke without user": (
        broken(xaa_revoke("1", ACME, SENT_AT), lambda d: d["data"]["payload"].pop("user_id")),
        "delivery.data.payload.user_id is missing",
    ),
    "aaa revoke without source": (
        broken(aaa_revoke(ACME, SENT_AT), lambda d: d["user_event"]["revoke"].pop("source")),
        "delivery.user_event.revoke.source is missing",
    ),
}


@pytest.mark.parametrize(("delivery", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_delivery_says_what_is_wrong(delivery, message):
    with pytest.raises(MalformedDelivery, match=re.escape(message)):
        normalize(delivery)


def test_malformed_is_a_value_error():
    assert issubclass(MalformedDelivery, ValueError)


def test_events_are_frozen():
    event = only(normalize(AAA_DM_EXAMPLE))

    with pytest.raises(pydantic.ValidationError):
        event.text = "changed"


def mutations(value, path=()):
    """Every field of a delivery removed, or replaced by a value of each wrong type."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, child in children:
        for replacement in (None, 7, 1.5, True, "x", [], {}, ["x"], [{}]):
            yield (*path, key), replacement
        yield (*path, key), "<removed>"
        yield from mutations(child, (*path, key))


def mutated(delivery, path, replacement):
    delivery = copy.deepcopy(delivery)
    parent = delivery
    for key in path[:-1]:
        parent = parent[key]
    if replacement == "<removed>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return delivery


SAMPLES = {
    "aaa dm": AAA_DM_EXAMPLE,
    "aaa dm with video": dm_with_attachment(
        {
            "type": "video",
            "media_url_https": "https://pbs.twimg.com/v.jpg",
            "url": "https://t.co/v",
            "video_info": {
                "variants": [
                    {"bitrate": 1, "content_type": "video/mp4", "url": "https://video.twimg.com/1"},
                    {"bitrate": 2, "content_type": "video/mp4", "url": "https://video.twimg.com/2"},
                ]
            },
        },
        "look https://t.co/v",
    ),
    "aaa mention": aaa_mention(
        ACME, post(CAROL, "@acme hi", ACME, in_reply_to_id="1800", in_reply_to=ACME)
    ),
    "aaa revoke": aaa_revoke(ACME, SENT_AT),
    "xaa dm": xaa_dm(ACME, direct_message(CAROL, ACME)),
    "xaa mention": XAA_MENTION_EXAMPLE,
    "xaa reply": XAA_REPLY_EXAMPLE,
    "aaa reply": aaa_mention(ACME, thread_reply(CAROL, "@acme hi", ACME)),
    "xaa revoke": xaa_revoke("1", ACME, SENT_AT),
}


@pytest.mark.parametrize("delivery", SAMPLES.values(), ids=SAMPLES.keys())
def test_no_mangling_raises_anything_but_malformed_delivery(delivery):
    for path, replacement in mutations(delivery):
        broken_delivery = mutated(delivery, path, replacement)
        try:
            events = normalize(broken_delivery)
        except MalformedDelivery:
            continue
        except Exception as error:  # anything else is the bug this test looks for
            error.add_note(f"with {'.'.join(map(str, path))} = {replacement!r}")
            raise
        assert isinstance(events, list)
        account_id = delivery_account_id(broken_delivery)
        assert account_id is None or isinstance(account_id, str)
