"""The sandbox's accounts, DMs and posts, and their webhook deliveries in X's two shapes:
the Account Activity API's (AAA: for_user_id and direct_message_events or
tweet_create_events, v1.1 objects) and the X Activity API's (XAA: the {"data": {event_uuid,
filter, event_type, tag, payload}} envelope, v2 objects).

Shapes as in xdevplatform/docs x-api/account-activity/introduction.mdx ("Payload
Examples") and x-api/activity/event-payloads.mdx. Media as X attaches them: a DM's one
medium in message_data.attachment, a v1.1 post's in entities.media (the first) and
extended_entities.media (all), a v2 post's in attachments.media_keys and includes.media;
the text ends with the media's t.co link, which entities list. The media's sizes are left
out: the sandbox does not read the files it serves.
"""

import hashlib
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

APP_ID = "27182818"  # the sandbox's X app
APP_NAME = "Twittnow (X sandbox app)"
# X's ids are snowflakes: milliseconds since X's epoch, then a sequence.
X_EPOCH_MS = 1288834974657
ACCOUNTS_CREATED_AT = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULT_PICTURE = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
NO_ENTITIES = {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}
MP4 = "video/mp4"
PHOTO, VIDEO, ANIMATED_GIF = "photo", "video", "animated_gif"
MEDIA_TYPES = (PHOTO, VIDEO, ANIMATED_GIF)
# The prefix of a media key tells the kind of media: 3_ photo, 7_ video, 16_ GIF.
MEDIA_KEY_PREFIXES = {PHOTO: "3", VIDEO: "7", ANIMATED_GIF: "16"}
# The bitrate of the sandbox's one mp4 variant; X gives GIFs' mp4 a bitrate of 0.
BITRATES = {VIDEO: 832000, ANIMATED_GIF: 0}
SCREEN_NAME = re.compile(r"\w{1,15}", re.ASCII)


class Snowflakes:
    """Unique, time-ordered numeric ids, as strings."""

    def __init__(self) -> None:
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            sequence = next(self._sequence)
        milliseconds = int(time.time() * 1000) - X_EPOCH_MS
        return str((milliseconds << 22) | (sequence & 0x3FFFFF))


@dataclass(frozen=True)
class Account:
    """A sandbox X account. Its id depends on its screen name only, so it is the same on
    every run; the `holder`-th user to take a screen name another user left (1, 2...) gets
    another id, as on X, where a handle is recycled but an id is never reused."""

    id: str
    screen_name: str

    @classmethod
    def named(cls, screen_name: str, holder: int = 0) -> "Account":
        seed = screen_name.lower() + (f"#{holder}" if holder else "")
        digest = hashlib.sha256(seed.encode()).digest()
        return cls(str(int.from_bytes(digest[:7]) + 10**9), screen_name)

    def v1(self) -> dict:
        """The user object of AAA deliveries."""
        return {
            "id": self.id,
            "created_timestamp": str(int(ACCOUNTS_CREATED_AT.timestamp() * 1000)),
            "name": self.screen_name,
            "screen_name": self.screen_name,
            "protected": False,
            "verified": False,
            "followers_count": 0,
            "friends_count": 0,
            "statuses_count": 0,
            "profile_image_url_https": DEFAULT_PICTURE,
        }

    def v2(self) -> dict:
        """The user object of XAA deliveries."""
        return {
            "id": self.id,
            "name": self.screen_name,
            "username": self.screen_name,
            "created_at": iso(ACCOUNTS_CREATED_AT),
            "description": "",
            "protected": False,
            "verified": False,
            "verified_type": "none",
            "profile_image_url": DEFAULT_PICTURE,
        }


@dataclass(frozen=True)
class Media:
    """A photo, video or GIF attached to a DM or post, and where the sandbox serves it:
    `url` the photo or the video's mp4 (of `content_type`), `preview_url` a still of it."""

    id: str
    media_type: str  # PHOTO, VIDEO, ANIMATED_GIF
    content_type: str
    url: str
    preview_url: str

    @property
    def media_key(self) -> str:
        return f"{MEDIA_KEY_PREFIXES[self.media_type]}_{self.id}"

    def v1(self, link: str, indices: tuple[int, int], expanded_url: str) -> dict:
        """The v1.1 media object, reached from the text by `link` at `indices`."""
        media = {
            "id": int(self.id),
            "id_str": self.id,
            "indices": list(indices),
            "media_url": self.preview_url,
            "media_url_https": self.preview_url,
            "url": link,
            "display_url": _display_url(link),
            "expanded_url": expanded_url,
            "type": self.media_type,
        }
        if self.media_type != PHOTO:
            variant = {"bitrate": BITRATES[self.media_type], "content_type": MP4, "url": self.url}
            media["video_info"] = {"aspect_ratio": [1, 1], "variants": [variant]}
        return media

    def v2(self) -> dict:
        """The v2 media object of includes.media."""
        if self.media_type == PHOTO:
            return {"media_key": self.media_key, "type": PHOTO, "url": self.url}
        variant = {"bit_rate": BITRATES[self.media_type], "content_type": MP4, "url": self.url}
        return {
            "media_key": self.media_key,
            "type": self.media_type,
            "preview_image_url": self.preview_url,
            "variants": [variant],
        }


@dataclass(frozen=True)
class DirectMessage:
    id: str
    sender: Account
    recipient: Account
    text: str  # as the sender typed it
    created_at: datetime
    source_app_id: str | None  # set when sent through the API by an app
    media: Media | None = None  # X allows one per DM

    @property
    def conversation_id(self) -> str:
        low, high = sorted((self.sender.id, self.recipient.id), key=int)
        return f"{low}-{high}"

    @property
    def delivered_text(self) -> str:
        """The text as X delivers it: with the media's t.co link at the end (after a space,
        even when the sender typed nothing)."""
        return f"{self.text} {media_link(self.id)}" if self.media else self.text


@dataclass(frozen=True)
class Post:
    id: str
    author: Account
    text: str
    created_at: datetime
    conversation_id: str
    mentions: tuple[Account, ...] = ()
    in_reply_to_id: str | None = None
    in_reply_to: Account | None = None  # the replied-to post's author, when known
    media: tuple[Media, ...] = ()  # up to 4
    # Where the text its author typed starts: after the @screen_name X puts before a reply
    # (display_text_range, x-api/activity/event-payloads.mdx "post.reply.create").
    display_from: int = 0

    @property
    def delivered_text(self) -> str:
        """The text as X delivers it: with the media's one t.co link at the end."""
        return f"{self.text} {media_link(self.id)}" if self.media else self.text

    @property
    def display_text_range(self) -> list[int]:
        return [self.display_from, len(self.text)]

    @property
    def explicit_mentions(self) -> tuple[Account, ...]:
        """The accounts @mentioned in what the author typed, not only in the @screen_name
        X puts before a reply: post.mention.create skips those implicit mentions
        (x-api/activity/introduction.mdx)."""
        typed = {
            account for account, start, _ in self.mention_spans() if start >= self.display_from
        }
        return tuple(account for account in self.mentions if account in typed)

    def mention_spans(self) -> list[tuple[Account, int, int]]:
        """Where the mentioned accounts' @screen_names are in the text, each time."""
        spans = []
        for account in self.mentions:
            pattern = rf"(?<!\w)@{re.escape(account.screen_name)}\b"
            spans += [
                (account, found.start(), found.end())
                for found in re.finditer(pattern, self.text, re.IGNORECASE | re.ASCII)
            ]
        return sorted(spans, key=lambda span: span[1])


@dataclass(frozen=True)
class ActivitySubscription:
    id: str
    event_type: str
    user_id: str
    webhook_id: str | None
    tag: str | None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def v2(self) -> dict:
        answer = {
            "subscription_id": self.id,
            "event_type": self.event_type,
            "filter": {"user_id": self.user_id},
            "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
        }
        if self.tag:
            answer["tag"] = self.tag
        if self.webhook_id:
            answer["webhook_id"] = self.webhook_id
        return answer


# ---------------------------------------------------------------- Account Activity API


def aaa_direct_message(for_user: Account, message: DirectMessage) -> dict:
    event = {
        "type": "message_create",
        "id": message.id,
        "created_timestamp": _milliseconds(message.created_at),
        "message_create": {
            "target": {"recipient_id": message.recipient.id},
            "sender_id": message.sender.id,
            "message_data": _dm_message_data(message),
        },
    }
    delivery = {
        "for_user_id": for_user.id,
        "direct_message_events": [event],
        "users": {account.id: account.v1() for account in (message.sender, message.recipient)},
    }
    if message.source_app_id:
        event["message_create"]["source_app_id"] = message.source_app_id
        delivery["apps"] = {
            message.source_app_id: {"id": message.source_app_id, "name": APP_NAME, "url": ""}
        }
    return delivery


def _dm_message_data(message: DirectMessage) -> dict:
    text = message.delivered_text
    if message.media is None:
        return {"text": text, "entities": NO_ENTITIES}
    link, start, end = _link_span(text, message.id)
    expanded_url = f"https://twitter.com/messages/media/{message.id}"
    url = {
        "url": link,
        "expanded_url": expanded_url,
        "display_url": _display_url(link),
        "indices": [start, end],
    }
    media = message.media.v1(link, (start, end), expanded_url)
    return {
        "text": text,
        "entities": {**NO_ENTITIES, "urls": [url]},
        "attachment": {"type": "media", "media": media},
    }


def aaa_post(for_user: Account, post: Post) -> dict:
    delivery = {"for_user_id": for_user.id}
    if post.author != for_user:
        delivery["user_has_blocked"] = "false"  # sic: a string in X's example
    delivery["tweet_create_events"] = [_v1_tweet(post)]
    return delivery


def aaa_revoke(account: Account, at: datetime) -> dict:
    return {
        "user_event": {
            "revoke": {
                "date_time": at.isoformat(timespec="seconds"),
                "target": {"app_id": APP_ID},
                "source": {"user_id": account.id},
            }
        }
    }


def _v1_tweet(post: Post) -> dict:
    author = {**post.author.v1(), "id": int(post.author.id), "id_str": post.author.id}
    author["created_at"] = _v1_time(ACCOUNTS_CREATED_AT)
    tweet = {
        "created_at": _v1_time(post.created_at),
        "id": int(post.id),
        "id_str": post.id,
        "text": post.delivered_text,
        "display_text_range": post.display_text_range,
        "source": '<a href="https://x.com" rel="nofollow">Twittnow sandbox</a>',
        "truncated": False,
        "in_reply_to_status_id": int(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_status_id_str": post.in_reply_to_id,
        "in_reply_to_user_id": int(post.in_reply_to.id) if post.in_reply_to else None,
        "in_reply_to_user_id_str": post.in_reply_to.id if post.in_reply_to else None,
        "in_reply_to_screen_name": post.in_reply_to.screen_name if post.in_reply_to else None,
        "user": author,
        "is_quote_status": False,
        "entities": {
            **NO_ENTITIES,
            "user_mentions": [
                {
                    "screen_name": account.screen_name,
                    "name": account.screen_name,
                    "id": int(account.id),
                    "id_str": account.id,
                    "indices": [start, end],
                }
                for account, start, end in post.mention_spans()
            ],
        },
        "lang": "en",
        "timestamp_ms": _milliseconds(post.created_at),
    }
    if post.media:
        link, start, end = _link_span(post.delivered_text, post.id)
        media = [
            item.v1(link, (start, end), _media_page(post, item, number))
            for number, item in enumerate(post.media, start=1)
        ]
        tweet["entities"]["media"] = media[:1]  # v1.1 entities name the first only
        tweet["extended_entities"] = {"media": media}
    return tweet


def _media_page(post: Post, media: Media, number: int) -> str:
    """The expanded_url of the post's `number`th medium: its page on x.com."""
    kind = PHOTO if media.media_type == PHOTO else VIDEO
    return f"https://x.com/{post.author.screen_name}/status/{post.id}/{kind}/{number}"


# ---------------------------------------------------------------- X Activity API


def xaa_event(
    event_uuid: str, subscription: ActivitySubscription, payload: dict, includes: dict | None = None
) -> dict:
    data = {
        "event_uuid": event_uuid,
        "filter": {"user_id": subscription.user_id},
        "event_type": subscription.event_type,
        "payload": payload,
    }
    if subscription.tag:
        data["tag"] = subscription.tag
    if includes is not None:
        data["includes"] = includes
    return {"data": data}


def xaa_direct_message_payload(message: DirectMessage) -> dict:
    """The payload of dm.received and dm.sent: AAA's events, with v2 users wrapped in data."""
    aaa = aaa_direct_message(message.recipient, message)
    return {
        "direct_message_events": aaa["direct_message_events"],
        "users": {
            account.id: {"data": account.v2()} for account in (message.sender, message.recipient)
        },
    }


def xaa_post_payload(post: Post, replied_to: Post | None = None) -> tuple[dict, dict]:
    """The payload (a v2 post) and includes of post.mention.create and post.reply.create;
    the includes name the post replied to, when given."""
    payload = {
        "id": post.id,
        "text": post.delivered_text,
        "display_text_range": post.display_text_range,
        "author_id": post.author.id,
        "created_at": iso(post.created_at),
        "conversation_id": post.conversation_id,
        "edit_history_tweet_ids": [post.id],
        "entities": {
            "mentions": [
                {"start": start, "end": end, "username": account.screen_name, "id": account.id}
                for account, start, end in post.mention_spans()
            ]
        },
        "lang": "en",
        "possibly_sensitive": False,
        "reply_settings": "everyone",
    }
    if post.in_reply_to_id:
        payload["in_reply_to_tweet_id"] = post.in_reply_to_id
        payload["referenced_tweets"] = [{"type": "replied_to", "id": post.in_reply_to_id}]
        if post.in_reply_to:
            payload["in_reply_to_user_id"] = post.in_reply_to.id
    users = {post.author.id: post.author, **{account.id: account for account in post.mentions}}
    tweets = [payload]
    if replied_to is not None:
        users.setdefault(replied_to.author.id, replied_to.author)
        tweets.append(xaa_post_payload(replied_to)[0])
    includes = {"users": [account.v2() for account in users.values()], "tweets": tweets}
    if post.media:
        link, start, end = _link_span(post.delivered_text, post.id)
        first = post.media[0]
        payload["attachments"] = {"media_keys": [item.media_key for item in post.media]}
        payload["entities"]["urls"] = [
            {
                "start": start,
                "end": end,
                "url": link,
                "expanded_url": _media_page(post, first, 1),
                "display_url": _display_url(link),
                "media_key": first.media_key,
            }
        ]
        includes["media"] = [item.v2() for item in post.media]
    return payload, includes


def xaa_revoke(event_uuid: str, account: Account, at: datetime) -> dict:
    return {
        "data": {
            "event_uuid": event_uuid,
            "filter": {},
            "event_type": "oauth.revoke",
            "payload": {
                "date_time": at.isoformat(timespec="seconds"),
                "user_id": account.id,
                "app_id": APP_ID,
            },
        }
    }


# ---------------------------------------------------------------- formats


def media_link(id_: str) -> str:
    """The t.co link X puts in the text of the DM or post `id_` for its media."""
    return "https://t.co/" + hashlib.sha256(f"media {id_}".encode()).hexdigest()[:10]


def _display_url(link: str) -> str:
    return "pic.x.com/" + link.rpartition("/")[2]


def _link_span(text: str, id_: str) -> tuple[str, int, int]:
    """The media link of the DM or post `id_`, and where it is in `text`."""
    link = media_link(id_)
    start = text.rindex(link)
    return link, start, start + len(link)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _v1_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")


def _milliseconds(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))
