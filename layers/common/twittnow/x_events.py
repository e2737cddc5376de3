"""X webhook deliveries, in either of X's two shapes, normalized into one event model.

A delivery comes from the Account Activity API (AAA, deprecated since 2026-07-21, no end
date published) or from its successor, the X Activity API (XAA). `normalize` turns either
into the events the inbound processor acts on: a DM a customer sent the company account,
a DM the account sent (our own echo, or staff typing in X's apps), an encrypted X Chat
message either way, a customer's post mentioning the account or replying to one of its
posts, and the account revoking our app. Everything else X delivers (typing, read
receipts, likes, follows, ...) normalizes to nothing.

Event ids: `event_id` is X's own id of the thing that happened, so that X's retries and
the same message arriving through both APIs (during the migration an account may be
subscribed to both) carry the same id:

- a DM: its DM event id (direct_message_events[].id; XAA's dm.* payloads carry the same
  AAA events);
- a mention or reply: the post id (id_str in AAA's v1.1 post, id in XAA's v2 post), so
  that a reply typed with @account, which XAA delivers as both post.reply.create and
  post.mention.create, is one event;
- a revoke: "revoke:<account id>:<epoch seconds of date_time>", as neither AAA's
  user_event nor XAA's oauth.revoke (whose event_uuid AAA lacks) has a shared id;
- an X Chat message: the delivery's event_uuid (XAA only). Its message id is inside the
  encrypted, signed event: the processor deduplicates the message by it once decrypted
  (xchat/real-time-events.mdx: "Deduplicate deliveries on event_uuid and messages on
  the signed message_id").

X sends one post or DM to each connected account it concerns, with the same id: a
customer mentioning two of our tenants is two events with one event_id. Deduplicate on
`deduplication_id(event)`, which adds the account.

Payload facts, from X's documentation (repository xdevplatform/docs):

- x-api/account-activity/introduction.mdx ("Payload Examples", "Support for Longform
  Posts"): {"for_user_id", "direct_message_events": [{"type": "message_create", "id",
  "created_timestamp" (epoch ms), "message_create": {"sender_id", "target":
  {"recipient_id"}, "source_app_id"?, "message_data": {"text", "entities"}}}], "users":
  {id: v1.1 user}, "apps"?}; {"for_user_id", "tweet_create_events": [v1.1 post]}, a
  longform post truncated in "text", whole in extended_tweet.full_text with its own
  entities; {"user_event": {"revoke": {"date_time", "target": {"app_id"}, "source":
  {"user_id"}}}} without for_user_id; typing, read, favorite, follow, block, mute and
  delete events; {"replay_job_status"} when a replay job ends.
- x-api/activity/event-payloads.mdx: {"data": {"event_uuid", "filter": {"user_id"},
  "event_type", "tag"?, "payload", "includes"?}}. dm.received and dm.sent: the payload is
  AAA's direct_message_events with "users": {id: {"data": v2 user}}. post.mention.create:
  the payload is a v2 post (id, text, author_id, created_at, referenced_tweets?), includes
  {"users": [v2 user], "tweets"}. post.reply.create: a user's direct reply to one of the
  account's posts, the same v2 post (with in_reply_to_tweet_id, display_text_range), and
  fires for replies that mention the account only through the @screen_name X puts before
  a reply's text, which post.mention.create skips; "includes may contain related users".
  oauth.revoke: "filter" may be empty; payload {"date_time",
  "user_id", "app_id"}. chat.received and chat.sent: payload {"conversation_id",
  "sender_id", "encoded_event", "conversation_key_version",
  "conversation_key_change_event"?}, and in event-payloads.mdx's examples also X's
  unsigned "id" and "created_at_msec" of the message.
- xchat/real-time-events.mdx: chat.received when the user receives an encrypted DM,
  chat.sent when the user sends one; the conversation id is "A-B" there, "A:B" in
  event-payloads.mdx; xchat/groups.mdx: a group conversation's id starts with "g".
- developer.x.com direct-messages message-create-object and message-attachments: a DM's
  media is message_data.attachment {"type": "media", "media": {v1.1 media}}, downloaded
  with a request signed by the account's OAuth 1.0a token. v1.1 extended entities: media
  type photo, video or animated_gif; video_info.variants [{content_type, url, bitrate}].
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

REVOKE_EVENT_TYPE = "oauth.revoke"
DM_EVENT_TYPES = ("dm.received", "dm.sent")
CHAT_EVENT_TYPES = ("chat.received", "chat.sent")
MENTION_EVENT_TYPE = "post.mention.create"
REPLY_EVENT_TYPE = "post.reply.create"
MP4 = "video/mp4"
V1_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Mon May 19 14:01:46 +0000 2025"
_REPLY_PREFIX = re.compile(r"(?:@\w{1,15}\s*)+", re.ASCII)
# A 1:1 X Chat conversation: its two participants' user ids, joined either way.
_CHAT_PAIR = re.compile(r"([0-9]{1,19})[:-]([0-9]{1,19})", re.ASCII)


class MalformedDelivery(ValueError):
    """The delivery is not what X sends: the message names the missing or wrong field."""


# ---------------------------------------------------------------- the model


class Media(BaseModel):
    """A photo, video or GIF attached to a DM or post. DM media can only be downloaded with
    a request signed by the account's OAuth 1.0a token. `content_type` is known for videos
    (the mp4 variant's); for photos X does not say, and the download's header will."""

    model_config = ConfigDict(frozen=True)

    url: str
    media_type: str  # X's: photo, video, animated_gif
    content_type: str | None = None


class XEvent(BaseModel):
    """What happened to a connected company account (`account_id`) on X."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    account_id: str
    kind: str
    # When the webhook accepted the delivery (None in deliveries queued before it was kept).
    received_at: datetime | None = None


class DirectMessageReceived(XEvent):
    kind: Literal["direct_message_received"] = "direct_message_received"
    customer_id: str
    customer_screen_name: str
    customer_name: str
    text: str
    media: list[Media] = []
    sent_at: datetime


class DirectMessageSent(XEvent):
    """A DM the account sent: through an app (`sent_by_app_id`: ours makes it an echo of
    our own reply) or by staff in X's own apps (no app id, or X's)."""

    kind: Literal["direct_message_sent"] = "direct_message_sent"
    recipient_id: str
    text: str
    sent_by_app_id: str | None = None
    media: list[Media] = []
    sent_at: datetime


class Mention(XEvent):
    """A customer's post that mentions the account or replies to it; `text` is what they
    typed (without the @screen_names X puts before a reply). `mentions_account`:
    the customer typed @account (not only the @screen_name X puts before a reply), which
    summons the account, so that X lets it reply to this post (the summoned-reply rule)."""

    kind: Literal["mention"] = "mention"
    customer_id: str
    # Both "" when X delivered the post without its author (see _v2_mention): the
    # processor names the customer.
    customer_screen_name: str
    customer_name: str
    post_id: str
    text: str
    in_reply_to_post_id: str | None = None
    # True for events queued before the flag was kept: all were explicit mentions then.
    mentions_account: bool = True
    media: list[Media] = []
    sent_at: datetime


class ChatMessage(XEvent):
    """An X Chat event of a 1:1 conversation of the account, still encrypted: the
    processor verifies and decrypts it (the webhook cannot: it only queues). Received
    when the customer (`customer_id`, the participant who is not the account) sent it,
    sent when the account did (our own reply's echo, or staff typing in X's apps).
    `message_id` and `created_at` are X's unsigned copies of what the event says, when
    the delivery has them: they only name a message that cannot be decrypted."""

    kind: Literal["chat_message"] = "chat_message"
    direction: Literal["received", "sent"]
    chat_conversation_id: str  # as X gives it: "A:B" or "A-B"
    sender_id: str
    customer_id: str
    encoded_event: str
    key_version: str
    key_change_event: str | None = None
    message_id: str | None = None
    created_at: datetime | None = None


class AccountRevoked(XEvent):
    kind: Literal["account_revoked"] = "account_revoked"
    revoked_at: datetime


# What the webhook queues for the inbound processor (twittnow.jobs has the other job).
InboundJob = Annotated[
    DirectMessageReceived | DirectMessageSent | Mention | ChatMessage | AccountRevoked,
    Field(discriminator="kind"),
]


def conversation_key(event: XEvent) -> str:
    """The SQS FIFO message group: one customer's events stay in order, customers run in
    parallel. A revoke concerns the whole account."""
    match event:
        case DirectMessageReceived() | Mention() | ChatMessage():
            return f"{event.account_id}:{event.customer_id}"
        case DirectMessageSent():
            return f"{event.account_id}:{event.recipient_id}"
        case _:
            return event.account_id


def deduplication_id(event: XEvent) -> str:
    """The same for X's retries and for both APIs, distinct per connected account."""
    return f"{event.account_id}:{event.event_id}"


# ---------------------------------------------------------------- entry points


def delivery_account_id(delivery: dict) -> str | None:
    """The connected account a delivery is for, read without normalizing it; None when
    the delivery names none (or is not a delivery)."""
    if not isinstance(delivery, dict):
        return None
    if "data" in delivery:
        # oauth.revoke names the account in its payload; its filter may be empty.
        event_type = _get(delivery, "data", "event_type")
        revoke = event_type == REVOKE_EVENT_TYPE
        account_id = _get(delivery, "data", "payload" if revoke else "filter", "user_id")
        if account_id is None and event_type in CHAT_EVENT_TYPES:
            account_id = _chat_account_id(
                str(event_type),
                _get(delivery, "data", "payload", "conversation_id"),
                _get(delivery, "data", "payload", "sender_id"),
            )
    elif "user_event" in delivery:
        account_id = _get(delivery, "user_event", "revoke", "source", "user_id")
    else:
        account_id = delivery.get("for_user_id")
    return account_id if isinstance(account_id, str) and account_id else None


def normalize(delivery: dict) -> list[XEvent]:
    """The events of one delivery, in X's order (AAA batches several). Raises
    MalformedDelivery when the delivery is not shaped like X's."""
    root = _Node(delivery, "delivery")
    if "data" in delivery:
        return _activity_events(root.node("data"))
    if "user_event" in delivery:
        return _aaa_revoke(root.node("user_event"))
    if "replay_job_status" in delivery:
        return []  # a replay job ended: nothing happened to an account
    return _account_activity_events(root)


# ---------------------------------------------------------------- Account Activity API


def _account_activity_events(delivery: _Node) -> list[XEvent]:
    account_id = delivery.text("for_user_id")
    events: list[XEvent] = []
    for dm in delivery.optional_nodes("direct_message_events"):
        events += _direct_message(dm, account_id, delivery)
    for post in delivery.optional_nodes("tweet_create_events"):
        events += _v1_mention(post, account_id)
    return events


def _aaa_revoke(user_event: _Node) -> list[XEvent]:
    if "revoke" not in user_event:
        return []
    revoke = user_event.node("revoke")
    return [_revoked(revoke.node("source").text("user_id"), revoke)]


def _v1_mention(post: _Node, account_id: str) -> list[XEvent]:
    """A v1.1 post: a Mention if a customer wrote it to the account (mentions it, or
    replies to it). AAA also delivers the account's own posts, its retweets and retweets
    of it: not mentions."""
    author = post.node("user")
    if author.text("id_str") == account_id or "retweeted_status" in post:
        return []
    # A longform post's whole text, entities and media are in extended_tweet.
    whole = post.node("extended_tweet") if "extended_tweet" in post else post
    entities = whole.node("entities")
    mentions = entities.nodes("user_mentions")
    mentioned = {mention.text("id_str") for mention in mentions}
    in_reply_to_user_id = post.optional_text("in_reply_to_user_id_str")
    if account_id not in mentioned and in_reply_to_user_id != account_id:
        return []
    typed_from = _display_start(whole)
    typed = {
        mention.text("id_str")
        for mention in mentions
        if _start(mention, "indices", typed_from) >= typed_from
    }
    media_source = whole.node("extended_entities") if "extended_entities" in whole else entities
    text = whole.text("full_text") if whole is not post else post.text("text")
    text = _typed_text(text, typed_from)
    return [
        Mention(
            event_id=post.text("id_str"),
            account_id=account_id,
            customer_id=author.text("id_str"),
            customer_screen_name=author.text("screen_name"),
            customer_name=author.text("name"),
            post_id=post.text("id_str"),
            text=_post_text(text, media_source),
            in_reply_to_post_id=post.optional_text("in_reply_to_status_id_str"),
            mentions_account=account_id in typed,
            media=[_v1_media(item) for item in media_source.optional_nodes("media")],
            sent_at=_v1_time(post, "created_at"),
        )
    ]


# ---------------------------------------------------------------- X Activity API


def _activity_events(data: _Node) -> list[XEvent]:
    event_type = data.text("event_type")
    if event_type == REVOKE_EVENT_TYPE:
        payload = data.node("payload")
        return [_revoked(payload.text("user_id"), payload)]
    if event_type in DM_EVENT_TYPES:
        account_id = data.node("filter").text("user_id")
        payload = data.node("payload")
        events: list[XEvent] = []
        for dm in payload.nodes("direct_message_events"):
            events += _direct_message(dm, account_id, payload)
        return events
    if event_type in (MENTION_EVENT_TYPE, REPLY_EVENT_TYPE):
        return _v2_mention(data, event_type)
    if event_type in CHAT_EVENT_TYPES:
        return _chat_message(data)
    return []  # likes, follows, profile changes, typing, ...: not ours to handle


def _v2_mention(data: _Node, event_type: str) -> list[XEvent]:
    """A v2 post mentioning the account, or replying to its post: a Mention unless the
    account wrote it, or it is a retweet (which repeats the original's mentions). Both
    event types of one post normalize alike, whichever comes first."""
    account_id = data.node("filter").text("user_id")
    post = data.node("payload")
    includes = data.node("includes") if "includes" in data else _Node({}, f"{data.path}.includes")
    author_id = post.text("author_id")
    references = post.optional_nodes("referenced_tweets")
    if author_id == account_id or any(ref.text("type") == "retweeted" for ref in references):
        return []
    # "includes may contain related users": event-payloads.mdx's own post.reply.create
    # has "includes": {}. A post without its author is the customer's all the same.
    users = {user.text("id"): user for user in _v2_users(includes)}
    author = users.get(author_id)
    replied_to = [ref.text("id") for ref in references if ref.text("type") == "replied_to"]
    # A post longer than 280 characters is whole in note_tweet.
    text = post.node("note_tweet").text("text") if "note_tweet" in post else post.text("text")
    # As in v1.1, the text ends with each media's t.co link: entities.urls with a media_key.
    entities = post.node("entities") if "entities" in post else None
    typed_from = _display_start(post)
    typed = {
        mention.text("id")
        for mention in (entities.optional_nodes("mentions") if entities is not None else [])
        if _start(mention, "start", typed_from) >= typed_from
    }
    media, all_media_included = _v2_media(post, includes)
    # The media link (one for all of a post's media) goes from the text when includes has
    # every media; else it stays, the one way to those it left out.
    media_links = [
        url.text("url")
        for url in (entities.optional_nodes("urls") if entities is not None else [])
        if "media_key" in url and "url" in url and all_media_included
    ]
    text = _strip_links(_typed_text(text, typed_from), media_links)
    return [
        Mention(
            event_id=post.text("id"),
            account_id=account_id,
            customer_id=author_id,
            customer_screen_name=author.text("username") if author is not None else "",
            customer_name=author.text("name") if author is not None else "",
            post_id=post.text("id"),
            text=html.unescape(text),
            in_reply_to_post_id=replied_to[0] if replied_to else None,
            # post.mention.create is X saying so, with or without entities.
            mentions_account=event_type == MENTION_EVENT_TYPE or account_id in typed,
            media=media,
            sent_at=_iso_time(post, "created_at"),
        )
    ]


def _chat_message(data: _Node) -> list[XEvent]:
    """An X Chat message of a 1:1 conversation of the account; which way it went is
    whoever sent it (as for DMs). A group conversation ("g..." ids) is not a customer's
    thread with the company: nothing to handle."""
    payload = data.node("payload")
    conversation_id = payload.text("conversation_id")
    sender_id = payload.text("sender_id")
    if conversation_id.startswith("g"):
        return []
    filtered = data.node("filter") if "filter" in data else None
    if filtered is not None and "user_id" in filtered:
        account_id = filtered.text("user_id")
    else:
        # xchat/real-time-events.mdx's live payload has no filter: the account is the
        # sender of chat.sent, the other participant of chat.received.
        event_type = data.text("event_type")
        account_id = _chat_account_id(event_type, conversation_id, sender_id) or ""
    pair = _CHAT_PAIR.fullmatch(conversation_id)
    if pair is None:
        raise MalformedDelivery(
            f"{payload.path}.conversation_id is not an X Chat conversation: {conversation_id!r}"
        )
    participants = pair.groups()
    if account_id not in participants or participants[0] == participants[1]:
        return []  # not the account's, or the account's notes to itself
    customer_id = participants[1] if participants[0] == account_id else participants[0]
    if sender_id not in participants:
        raise MalformedDelivery(
            f"{payload.path}.sender_id {sender_id} is not in conversation {conversation_id}"
        )
    created_at = _epoch_ms(payload, "created_at_msec") if "created_at_msec" in payload else None
    return [
        ChatMessage(
            event_id=data.text("event_uuid"),
            account_id=account_id,
            direction="sent" if sender_id == account_id else "received",
            chat_conversation_id=conversation_id,
            sender_id=sender_id,
            customer_id=customer_id,
            encoded_event=payload.text("encoded_event"),
            key_version=payload.text("conversation_key_version"),
            key_change_event=payload.optional_text("conversation_key_change_event"),
            message_id=payload.optional_text("id"),
            created_at=created_at,
        )
    ]


def _chat_account_id(event_type: str, conversation_id: object, sender_id: object) -> str | None:
    """The account of an X Chat delivery that has no filter, from its 1:1 conversation's
    id; None when that cannot tell it."""
    pair = _CHAT_PAIR.fullmatch(conversation_id) if isinstance(conversation_id, str) else None
    if pair is None or sender_id not in pair.groups():
        return None
    if event_type == "chat.sent":
        return str(sender_id)
    first, second = pair.groups()
    return second if first == sender_id else first


def _v2_users(includes: _Node) -> list[_Node]:
    """includes.users: v2 users, some examples wrapping each in {"data": ...}."""
    users = includes.optional_nodes("users")
    return [user.node("data") if "data" in user else user for user in users]


def _v2_media(post: _Node, includes: _Node) -> tuple[list[Media], bool]:
    """attachments.media_keys found in includes.media, in the post's order, and whether
    every one was."""
    if "attachments" not in post or "media_keys" not in post.node("attachments"):
        return [], True
    keys = post.node("attachments").texts("media_keys")
    found = {item.text("media_key"): item for item in includes.optional_nodes("media")}
    return [_v2_media_item(found[key]) for key in keys if key in found], set(keys) <= set(found)


def _v2_media_item(item: _Node) -> Media:
    """A v2 media object: a video's best mp4 variant, else the photo (or a preview)."""
    best = _best_mp4(item.optional_nodes("variants"), bitrate_key="bit_rate")
    if best is not None:
        return Media(url=best.text("url"), media_type=item.text("type"), content_type=MP4)
    url = item.text("url") if "url" in item else item.text("preview_image_url")
    return Media(url=url, media_type=item.text("type"))


# ---------------------------------------------------------------- shared by both APIs


def _direct_message(dm: _Node, account_id: str, delivery: _Node) -> list[XEvent]:
    """A message_create event: received if a customer wrote to the account, sent if the
    account wrote; a conversation the account is not in is none of its business.
    `delivery` holds the users map (AAA's delivery, XAA's payload)."""
    if dm.text("type") != "message_create":
        return []
    message = dm.node("message_create")
    sender_id = message.text("sender_id")
    recipient_id = message.node("target").text("recipient_id")
    data = message.node("message_data")
    attachment = data.node("attachment") if "attachment" in data else None
    media = (
        [_v1_media(attachment.node("media"))]
        if attachment is not None and attachment.text("type") == "media"
        else []
    )
    text = _without_media_links(data.text("text"), attachment)
    sent_at = _epoch_ms(dm, "created_timestamp")
    if sender_id == account_id and recipient_id != account_id:
        return [
            DirectMessageSent(
                event_id=dm.text("id"),
                account_id=account_id,
                recipient_id=recipient_id,
                text=text,
                sent_by_app_id=message.optional_text("source_app_id"),
                media=media,
                sent_at=sent_at,
            )
        ]
    if recipient_id == account_id and sender_id != account_id:
        screen_name, name = _dm_user(delivery.node("users"), sender_id)
        return [
            DirectMessageReceived(
                event_id=dm.text("id"),
                account_id=account_id,
                customer_id=sender_id,
                customer_screen_name=screen_name,
                customer_name=name,
                text=text,
                media=media,
                sent_at=sent_at,
            )
        ]
    return []


def _dm_user(users: _Node, user_id: str) -> tuple[str, str]:
    """(screen name, name) from a DM delivery's users map: AAA's v1.1 users, or XAA's
    {"data": v2 user}, whose screen name is `username`."""
    if user_id not in users:
        raise MalformedDelivery(f"{users.path} has no user {user_id}")
    user = users.node(user_id)
    if "data" in user:
        user = user.node("data")
        return user.text("username"), user.text("name")
    return user.text("screen_name"), user.text("name")


def _revoked(account_id: str, revoke: _Node) -> AccountRevoked:
    revoked_at = _iso_time(revoke, "date_time")
    return AccountRevoked(
        event_id=f"revoke:{account_id}:{int(revoked_at.timestamp())}",
        account_id=account_id,
        revoked_at=revoked_at,
    )


def _v1_media(media: _Node) -> Media:
    """A v1.1 media object: a video's best mp4 variant, else the image."""
    media_type = media.text("type")
    video_info = media.node("video_info") if "video_info" in media else None
    variants = video_info.optional_nodes("variants") if video_info else []
    best = _best_mp4(variants, bitrate_key="bitrate")
    if best is not None:
        return Media(url=best.text("url"), media_type=media_type, content_type=MP4)
    return Media(url=media.text("media_url_https"), media_type=media_type)


def _best_mp4(variants: list[_Node], *, bitrate_key: str) -> _Node | None:
    """The highest-bitrate mp4 of a video's variants (the others are HLS playlists)."""
    mp4s = [variant for variant in variants if variant.optional_text("content_type") == MP4]
    return max(mp4s, key=lambda variant: variant.number(bitrate_key), default=None)


def _display_start(post: _Node) -> int:
    """Where the text the author typed starts: after the @screen_names X puts before a
    reply's text (display_text_range[0]; 0 when X gives no range)."""
    if "display_text_range" not in post:
        return 0
    bounds = post.numbers("display_text_range")
    return bounds[0] if bounds else 0


def _typed_text(text: str, typed_from: int) -> str:
    """The text without the @screen_names X put before a reply's text (the author did
    not type them); as it is when what precedes `typed_from` is anything else."""
    if typed_from and _REPLY_PREFIX.fullmatch(text[:typed_from]):
        return text[typed_from:]
    return text


def _start(mention: _Node, key: str, default: int) -> int:
    """Where a mention starts in the text: v2's "start", v1.1's "indices"[0]; `default`
    when X does not say (counted as typed)."""
    if key not in mention:
        return default
    if key == "start":
        return mention.number("start")
    indices = mention.numbers("indices")
    return indices[0] if indices else default


def _post_text(text: str, media_source: _Node) -> str:
    """X escapes &, < and > in post text, and appends each media's t.co link."""
    links = [item.text("url") for item in media_source.optional_nodes("media") if "url" in item]
    return html.unescape(_strip_links(text, links))


def _without_media_links(text: str, attachment: _Node | None) -> str:
    """A DM's text ends with its media's t.co link; the media travels separately."""
    if attachment is None or attachment.text("type") != "media":
        return text
    media = attachment.node("media")
    return _strip_links(text, [media.text("url")] if "url" in media else [])


def _strip_links(text: str, links: list[str]) -> str:
    for link in links:
        text = text.replace(link, "")
    return text.strip() if links else text


# ---------------------------------------------------------------- times


def _epoch_ms(node: _Node, key: str) -> datetime:
    value = node.text(key)
    try:
        # isdigit() alone takes "²" for a digit; a year past 9999 overflows.
        if not (value.isascii() and value.isdigit()):
            raise ValueError
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedDelivery(
            f"{node.path}.{key} must be epoch milliseconds, not {value!r}"
        ) from None


def _iso_time(node: _Node, key: str) -> datetime:
    value = node.text(key)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedDelivery(f"{node.path}.{key} is not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _v1_time(node: _Node, key: str) -> datetime:
    value = node.text(key)
    try:
        return datetime.strptime(value, V1_TIME_FORMAT)
    except ValueError:
        raise MalformedDelivery(f"{node.path}.{key} is not a v1.1 time: {value!r}") from None


# ---------------------------------------------------------------- reading JSON


class _Node:
    """A JSON object and where it is in the delivery, so that a missing or mistyped field
    raises MalformedDelivery naming its path instead of a KeyError or TypeError."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise MalformedDelivery(f"{path} must be an object, not {_type_name(value)}")
        self._value = value
        self.path = path

    def __contains__(self, key: str) -> bool:
        return self._value.get(key) is not None

    def node(self, key: str) -> _Node:
        return _Node(self._required(key), f"{self.path}.{key}")

    def nodes(self, key: str) -> list[_Node]:
        items = self._list(key)
        return [_Node(item, f"{self.path}.{key}[{index}]") for index, item in enumerate(items)]

    def optional_nodes(self, key: str) -> list[_Node]:
        return self.nodes(key) if key in self else []

    def text(self, key: str) -> str:
        return self._string(key, self._required(key))

    def optional_text(self, key: str) -> str | None:
        value = self._value.get(key)
        return None if value is None else self._string(key, value)

    def texts(self, key: str) -> list[str]:
        return [self._string(f"{key}[{index}]", item) for index, item in enumerate(self._list(key))]

    def number(self, key: str) -> int:
        """The number at `key`, 0 when absent."""
        return self._integer(key, self._value.get(key) or 0)

    def numbers(self, key: str) -> list[int]:
        return [
            self._integer(f"{key}[{index}]", item) for index, item in enumerate(self._list(key))
        ]

    def _integer(self, key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedDelivery(f"{self.path}.{key} must be a number, not {_type_name(value)}")
        return value

    def _required(self, key: str) -> object:
        value = self._value.get(key)
        if value is None:
            raise MalformedDelivery(f"{self.path}.{key} is missing")
        return value

    def _list(self, key: str) -> list:
        value = self._required(key)
        if not isinstance(value, list):
            raise MalformedDelivery(f"{self.path}.{key} must be a list, not {_type_name(value)}")
        return value

    def _string(self, key: str, value: object) -> str:
        if not isinstance(value, str):
            raise MalformedDelivery(f"{self.path}.{key} must be a string, not {_type_name(value)}")
        return value


def _get(value: object, *path: str) -> object:
    """The value at `path` in nested objects, None where one is missing or not an object."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__
