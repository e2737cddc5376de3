"""The sandbox X's webhooks: the v2 webhooks API and its CRC check, the subscriptions of
the Account Activity API v2 (AAA) and of the X Activity API (XAA), and signed deliveries.

The handlers take the call and its caller: the connected account a user-context call is
signed as, or None for the app's bearer token. The server has checked either already.

Deliveries can go missing, as the sandbox's controls ask (issue 16 item 8): the next N of an
event type are dropped (X never delivered them: they are recorded, never posted, and a
replay leaves them out, since X replays what it delivered or attempted), and a webhook can
be "down" for a window: each delivery in it is attempted and fails, and X's CRC re-check
of the webhook then fails too, which marks it invalid (valid false in GET /2/webhooks; X
waits longer before that on transient errors, x-api/webhooks/introduction.mdx, which the
sandbox compresses to none). An invalid webhook gets no deliveries after the window, as
on X ("stop receiving events until it passes again", x-api/webhooks/quickstart.mdx),
until PUT /2/webhooks/{id} or a replay's CRC check passes.

POST /2/webhooks/replay re-delivers to the webhook what was delivered or attempted in a
window of the last 24 hours (x-api/webhooks/create-replay-job-for-webhook.mdx: openapi.json
gives the body and the answer; the failure reasons are those the Account Activity replay
documented, x-api/account-activity/quickstart.mdx): the same bodies and signatures, in the
background, once per event. X's docs are silent on a v2 job's completion event: the
sandbox sends none, and shows each job's state in GET /sandbox. Nor does the sandbox keep
the Account Activity replay's "31 minutes before now" bound, which would make tests wait.
"""

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests

from sandboxes.x.payloads import (
    APP_ID,
    Account,
    ActivitySubscription,
    DirectMessage,
    Post,
    Snowflakes,
    aaa_direct_message,
    aaa_post,
    aaa_revoke,
    iso,
    xaa_direct_message_payload,
    xaa_event,
    xaa_post_payload,
    xaa_revoke,
)
from sandboxes.x.web import (
    NOT_AUTHORIZED,
    NOT_FOUND,
    Call,
    Refused,
    Response,
    invalid,
    json_response,
    problem,
    same_secret,
)

ACCOUNT_ACTIVITY, ACTIVITY = "account_activity", "activity"
SHAPES = (ACCOUNT_ACTIVITY, ACTIVITY)
WEBHOOK_TIMEOUT_SECONDS = 10  # what X gives a webhook to answer
# XAA events that only the account's own authorization may subscribe to.
PRIVATE_EVENT_PREFIXES = ("dm.", "chat.", "post.mention.", "post.reply.", "like.", "block.")
REPLAY_DATE = re.compile(r"[0-9]{12}")  # yyyymmddhhmm, UTC
REPLAY_HOURS = 24  # how far back X keeps deliveries for a replay
DOWN = "The webhook was down (a sandbox control): X's POST failed."


@dataclass
class Webhook:
    id: str
    url: str
    valid: bool
    created_at: datetime

    def v2(self) -> dict:
        return {
            "id": self.id,
            "url": self.url,
            "valid": self.valid,
            "created_at": iso(self.created_at),
        }


@dataclass
class Delivery:
    """One signed POST to a webhook, and how the webhook answered it."""

    id: str
    webhook_id: str
    url: str
    shape: str
    event: str  # dm.received, direct_message_events, tweet_create_events...
    for_user_id: str | None
    body: bytes
    signature: str
    time: datetime
    status: int | None = None
    error: str | None = None
    dropped: bool = False  # X never delivered it: not posted, not replayed
    replay_job_id: str | None = None  # set on a replay's copy

    def summary(self) -> dict:
        return {
            "id": self.id,
            "time": iso(self.time),
            "webhook_id": self.webhook_id,
            "url": self.url,
            "shape": self.shape,
            "event": self.event,
            "for_user_id": self.for_user_id,
            "status": self.status,
            "error": self.error,
            "dropped": self.dropped,
            "replay_job_id": self.replay_job_id,
            "body": json.loads(self.body),
        }


@dataclass
class ReplayJob:
    id: str
    webhook_id: str
    start: datetime  # from_date
    end: datetime  # the end of to_date's minute (exclusive)
    created_at: datetime
    deliveries: int
    state: str = "InProgress"  # then Complete, or Incomplete if a delivery failed

    def view(self) -> dict:
        return {
            "job_id": self.id,
            "webhook_id": self.webhook_id,
            "from": iso(self.start),
            "to": iso(self.end),
            "created_at": iso(self.created_at),
            "deliveries": self.deliveries,
            "state": self.state,
        }


# A delivery to sign: webhook id, shape, event, the account it is for, payload.
_Planned = tuple[str, str, str, Account | None, dict]


class Webhooks:
    """The app's webhooks, the accounts subscribed to them, and what they were sent."""

    def __init__(self, consumer_secret: str, ids: Snowflakes):
        self._consumer_secret = consumer_secret
        self._ids = ids
        self._lock = threading.RLock()
        self._webhooks: dict[str, Webhook] = {}
        self._account_activity: set[tuple[str, str]] = set()  # (webhook id, user id)
        self._activity: dict[str, ActivitySubscription] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._drops: Counter[str] = Counter()  # by event type: deliveries still to drop
        self._down_until: dict[str, float] = {}  # by webhook id: the window's end (monotonic)
        self._replay_jobs: dict[str, ReplayJob] = {}
        self._background: ThreadPoolExecutor | None = None
        self._pending: set[Future] = set()

    def start(self) -> None:
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="x-sandbox")

    def stop(self) -> None:
        if self._background is not None:
            self._background.shutdown(wait=True, cancel_futures=True)
            self._background = None

    # ------------------------------------------------------------ the v2 webhooks API

    def register_webhook(self, call: Call, caller: None) -> Response:
        url = call.json().get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            return invalid("UrlValidationFailed", "the webhook URL must be an absolute URL.")
        with self._lock:
            if any(webhook.url == url for webhook in self._webhooks.values()):
                return invalid("DuplicateUrlFailed", "a webhook with this URL exists.")
        if not self._crc_check(url):
            return invalid("CrcValidationFailed", "the webhook failed the CRC check.")
        webhook = Webhook(self._ids.next(), url, True, datetime.now(UTC))
        with self._lock:
            self._webhooks[webhook.id] = webhook
        return json_response(200, {"data": webhook.v2()})

    def list_webhooks(self, call: Call, caller: None) -> Response:
        with self._lock:
            webhooks = [webhook.v2() for webhook in self._webhooks.values()]
        return json_response(200, {"data": webhooks, "meta": {"result_count": len(webhooks)}})

    def validate_webhook(self, call: Call, caller: None) -> Response:
        """Runs the CRC check again; the webhook is valid, or invalid, after it."""
        webhook = self._webhook(call.params["webhook_id"])
        valid = not self.is_down(webhook.id) and self._crc_check(webhook.url)
        with self._lock:
            webhook.valid = valid
        return json_response(200, {"data": {"valid": valid}})

    def delete_webhook(self, call: Call, caller: None) -> Response:
        webhook = self._webhook(call.params["webhook_id"])
        with self._lock:
            del self._webhooks[webhook.id]
            self._account_activity = {
                pair for pair in self._account_activity if pair[0] != webhook.id
            }
            self._activity = {
                id_: subscription
                for id_, subscription in self._activity.items()
                if subscription.webhook_id != webhook.id
            }
        return json_response(200, {"data": {"deleted": True}})

    def _webhook(self, webhook_id: str) -> Webhook:
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise Refused(invalid("WebhookIdInvalid", "no webhook of this app has this id."))
        return webhook

    def _crc_check(self, url: str) -> bool:
        """X's challenge: GET url?crc_token=... must answer the token's HMAC-SHA256."""
        # Shaped as X's are: base64 of a UUID (and as twittnow.x_app.CRC_TOKEN_SHAPE expects).
        crc_token = base64.urlsafe_b64encode(str(uuid.uuid4()).encode()).decode()
        expected = self._signature(crc_token.encode())
        separator = "&" if urlsplit(url).query else "?"
        try:
            answer = requests.get(
                f"{url}{separator}crc_token={crc_token}",
                timeout=WEBHOOK_TIMEOUT_SECONDS,
                allow_redirects=False,  # X marks a webhook answering 3xx invalid
            )
            token = answer.json().get("response_token") if answer.ok else None
        except (requests.RequestException, ValueError, AttributeError):
            return False
        return isinstance(token, str) and same_secret(token, expected)

    def _signature(self, message: bytes) -> str:
        digest = hmac.new(self._consumer_secret.encode(), message, hashlib.sha256).digest()
        return "sha256=" + base64.b64encode(digest).decode()

    # ------------------------------------------------------------ AAA subscriptions

    def subscribe_account_activity(self, call: Call, caller: Account) -> Response:
        webhook = self._webhook(call.params["webhook_id"])
        with self._lock:
            if (webhook.id, caller.id) in self._account_activity:
                return invalid("DuplicateSubscriptionFailed", "the account is subscribed already.")
            self._account_activity.add((webhook.id, caller.id))
        return json_response(200, {"data": {"subscribed": True}})

    def check_account_activity(self, call: Call, caller: Account) -> Response:
        webhook = self._webhook(call.params["webhook_id"])
        with self._lock:
            subscribed = (webhook.id, caller.id) in self._account_activity
        return json_response(200, {"data": {"subscribed": subscribed}})

    def list_account_activity(self, call: Call, caller: None) -> Response:
        webhook = self._webhook(call.params["webhook_id"])
        with self._lock:
            user_ids = sorted(user for hook, user in self._account_activity if hook == webhook.id)
        data = {
            "application_id": APP_ID,
            "webhook_id": webhook.id,
            "webhook_url": webhook.url,
            "subscriptions": [{"user_id": user_id} for user_id in user_ids],
        }
        return json_response(200, {"data": data})

    def unsubscribe_account_activity(self, call: Call, caller: None) -> Response:
        subscription = (self._webhook(call.params["webhook_id"]).id, call.params["user_id"])
        with self._lock:
            if subscription not in self._account_activity:
                return invalid("SubscriptionNotFound", "the account is not subscribed.")
            self._account_activity.discard(subscription)
        return json_response(200, {"data": {"subscribed": False}})

    # ------------------------------------------------------------ XAA subscriptions

    def subscribe_activity(self, call: Call, caller: Account | None) -> Response:
        body = call.json()
        event_type, tag, webhook_id = (
            body.get("event_type"),
            body.get("tag"),
            body.get("webhook_id"),
        )
        user_id = body["filter"].get("user_id") if isinstance(body.get("filter"), dict) else None
        if not (
            isinstance(event_type, str) and event_type and isinstance(user_id, str) and user_id
        ):
            return invalid("InvalidRequest", "event_type and filter.user_id are required.")
        if tag is not None and not (isinstance(tag, str) and 1 <= len(tag) <= 200):
            return invalid("InvalidRequest", "tag must have 1 to 200 characters.")
        if webhook_id is not None:
            webhook_id = self._webhook(str(webhook_id)).id
        if event_type.startswith(PRIVATE_EVENT_PREFIXES) and (
            caller is None or caller.id != user_id
        ):
            detail = f"{event_type} is private: subscribe with the authorization of {user_id}."
            return problem(403, detail, type_=NOT_AUTHORIZED)
        with self._lock:
            same = (event_type, user_id, webhook_id)
            if any(
                (existing.event_type, existing.user_id, existing.webhook_id) == same
                for existing in self._activity.values()
            ):
                return invalid("DuplicateSubscription", "an identical subscription exists.")
            subscription = ActivitySubscription(self._ids.next(), *same, tag)
            self._activity[subscription.id] = subscription
            total = len(self._activity)
        data = {"subscription": subscription.v2(), "total_subscriptions_for_instance_id": total}
        return json_response(200, {"data": data, "meta": {"total_subscriptions": total}})

    def list_activity(self, call: Call, caller: None) -> Response:
        with self._lock:
            subscriptions = [subscription.v2() for subscription in self._activity.values()]
        meta = {"total_subscriptions": len(subscriptions)}
        return json_response(200, {"data": subscriptions, "meta": meta})

    def unsubscribe_activity(self, call: Call, caller: None) -> Response:
        with self._lock:
            if self._activity.pop(call.params["subscription_id"], None) is None:
                return problem(404, "Could not find the subscription.", type_=NOT_FOUND)
            total = len(self._activity)
        meta = {"total_subscriptions": total}
        return json_response(200, {"data": {"deleted": True}, "meta": meta})

    # ------------------------------------------------------------ what X delivers

    def for_dm(
        self, message: DirectMessage, *, to_sender: bool, shape: str | None
    ) -> list[Delivery]:
        """Deliveries of a DM: to the recipient's subscriptions (dm.received), and to the
        sender's (dm.sent) if `to_sender`. `shape` None: through both APIs."""
        sides = [(message.recipient, "dm.received")]
        if to_sender:
            sides.append((message.sender, "dm.sent"))
        planned: list[_Planned] = []
        with self._lock:
            for account, event_type in sides:
                if shape in (None, ACCOUNT_ACTIVITY):
                    payload = aaa_direct_message(account, message)
                    planned += [
                        (webhook_id, ACCOUNT_ACTIVITY, "direct_message_events", account, payload)
                        for webhook_id in self._account_activity_webhooks(account)
                    ]
                if shape in (None, ACTIVITY):
                    payload = xaa_direct_message_payload(message)
                    planned += [
                        (sub.webhook_id, ACTIVITY, event_type, account, self._event(sub, payload))
                        for sub in self._activity_subscriptions(event_type, account)
                    ]
            return self._signed(planned)

    def for_post(
        self, post: Post, *, to_author: bool, shape: str | None, replied_to: Post | None = None
    ) -> list[Delivery]:
        """Deliveries of a post, which replies to `replied_to` if given: AAA
        tweet_create_events to the mentioned accounts (a reply's implicit mention too), the
        replied-to one, and the author if `to_author`; XAA post.mention.create to the
        accounts the author @mentioned, and post.reply.create to the author of the post it
        directly replies to (x-api/activity/introduction.mdx)."""
        concerned = [*post.mentions, *filter(None, [post.in_reply_to])]
        if to_author:
            concerned.append(post.author)
        events = [("post.mention.create", account) for account in post.explicit_mentions]
        if post.in_reply_to and post.in_reply_to.id != post.author.id:
            events.append(("post.reply.create", post.in_reply_to))
        payload, includes = xaa_post_payload(post, replied_to)
        # As event-payloads.mdx's example of post.reply.create ("includes": {}), its
        # includes name no user: the service must know the author without them.
        includes_of = {
            "post.mention.create": includes,
            "post.reply.create": {key: value for key, value in includes.items() if key != "users"},
        }
        planned: list[_Planned] = []
        with self._lock:
            if shape in (None, ACCOUNT_ACTIVITY):
                for account in dict.fromkeys(concerned):
                    event = aaa_post(account, post)
                    planned += [
                        (webhook_id, ACCOUNT_ACTIVITY, "tweet_create_events", account, event)
                        for webhook_id in self._account_activity_webhooks(account)
                    ]
            if shape in (None, ACTIVITY):
                for event_type, account in events:
                    planned += [
                        (
                            sub.webhook_id,
                            ACTIVITY,
                            event_type,
                            account,
                            self._event(sub, payload, includes_of[event_type]),
                        )
                        for sub in self._activity_subscriptions(event_type, account)
                    ]
            return self._signed(planned)

    def for_chat(
        self, sender: Account, recipient: Account, payload: dict, *, to_sender: bool
    ) -> list[Delivery]:
        """Deliveries of an X Chat message, through the X Activity API only (X Chat has no
        Account Activity events): chat.received to the recipient's subscriptions, and
        chat.sent to the sender's if `to_sender` (xchat/real-time-events.mdx)."""
        sides = [(recipient, "chat.received")]
        if to_sender:
            sides.append((sender, "chat.sent"))
        with self._lock:
            planned: list[_Planned] = [
                (sub.webhook_id, ACTIVITY, event_type, account, self._event(sub, payload))
                for account, event_type in sides
                for sub in self._activity_subscriptions(event_type, account)
            ]
            return self._signed(planned)

    def for_revoke(self, account: Account) -> list[Delivery]:
        """Ends the account's subscriptions; deliveries of the revoke to their webhooks."""
        now = datetime.now(UTC)
        with self._lock:
            planned: list[_Planned] = [
                (webhook_id, ACCOUNT_ACTIVITY, "user_event", None, aaa_revoke(account, now))
                for webhook_id in self._account_activity_webhooks(account)
            ]
            ended = [sub for sub in self._activity.values() if sub.user_id == account.id]
            for webhook_id in sorted({sub.webhook_id for sub in ended if sub.webhook_id}):
                event = xaa_revoke(self._ids.next(), account, now)
                planned.append((webhook_id, ACTIVITY, "oauth.revoke", None, event))
            self._account_activity = {
                pair for pair in self._account_activity if pair[1] != account.id
            }
            for subscription in ended:
                del self._activity[subscription.id]
            return self._signed(planned)

    def _account_activity_webhooks(self, account: Account) -> list[str]:
        return sorted(webhook for webhook, user in self._account_activity if user == account.id)

    def _activity_subscriptions(
        self, event_type: str, account: Account
    ) -> list[ActivitySubscription]:
        return [
            subscription
            for subscription in self._activity.values()
            if (subscription.event_type, subscription.user_id) == (event_type, account.id)
            and subscription.webhook_id
        ]

    def _event(
        self, subscription: ActivitySubscription, payload: dict, includes: dict | None = None
    ) -> dict:
        return xaa_event(self._ids.next(), subscription, payload, includes)

    def _signed(self, planned: list[_Planned]) -> list[Delivery]:
        """The planned deliveries, signed and recorded; none to an invalid webhook (X stops
        delivering to a webhook that fails its CRC check) unless it is in a down window,
        whose deliveries are all attempted. Those of an event type the sandbox drops are
        marked dropped."""
        deliveries = []
        for webhook_id, shape, event, for_user, payload in planned:
            webhook = self._webhooks.get(webhook_id)
            if webhook is None or not (webhook.valid or self.is_down(webhook_id)):
                continue
            dropped = self._drops[event] > 0
            if dropped:
                self._drops[event] -= 1
            body = json.dumps(payload).encode()
            delivery = Delivery(
                id=self._ids.next(),
                webhook_id=webhook_id,
                url=webhook.url,
                shape=shape,
                event=event,
                for_user_id=for_user.id if for_user else None,
                body=body,
                signature=self._signature(body),
                time=datetime.now(UTC),
                dropped=dropped,
            )
            self._deliveries[delivery.id] = delivery
            deliveries.append(delivery)
        return deliveries

    # ------------------------------------------------------------ sending

    def deliver(self, deliveries: list[Delivery]) -> None:
        """POSTs each delivery to its webhook, and records the answer. A dropped one is not
        posted; one to a webhook that is down fails."""
        for delivery in deliveries:
            if delivery.dropped:
                continue
            if self.is_down(delivery.webhook_id):
                self._failed_while_down(delivery)
                continue
            status, error = None, None
            try:
                status = requests.post(
                    delivery.url,
                    data=delivery.body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "x-twitter-webhooks-signature": delivery.signature,
                    },
                    timeout=WEBHOOK_TIMEOUT_SECONDS,
                    allow_redirects=False,
                ).status_code
            except requests.RequestException as exc:
                error = str(exc)
            with self._lock:
                delivery.status, delivery.error = status, error

    def _failed_while_down(self, delivery: Delivery) -> None:
        """X's POST fails, and so does the CRC re-check X then makes: the webhook is
        marked invalid."""
        with self._lock:
            delivery.status, delivery.error = None, DOWN
            webhook = self._webhooks.get(delivery.webhook_id)
            if webhook is not None:
                webhook.valid = False

    def deliver_later(self, deliveries: list[Delivery]) -> None:
        """Delivers in the background, as X does: the call that caused the deliveries (the
        service's own DM) is answered first."""
        if deliveries:
            self._later(self.deliver, deliveries)

    def _later(self, work: Callable[..., None], *args: object) -> None:
        if self._background is None:  # not started: nothing runs in the background
            return
        future = self._background.submit(work, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float) -> bool:
        """Waits for the background deliveries; False on timeout."""
        with self._lock:
            pending = set(self._pending)
        return not wait(pending, timeout=timeout).not_done

    def redeliver(self, delivery_id: str) -> Delivery | None:
        """X's retry of a delivery: the same body and signature, delivered again."""
        with self._lock:
            original = self._deliveries.get(delivery_id)
            if original is None:
                return None
            again = replace(
                original,
                id=self._ids.next(),
                time=datetime.now(UTC),
                status=None,
                error=None,
                dropped=False,
            )
            self._deliveries[again.id] = again
        self.deliver([again])
        return again

    # ------------------------------------------------------------ losing deliveries, and replays

    def drop(self, event_type: str, times: int) -> dict[str, int]:
        """Drops the next `times` deliveries of `event_type` (0: none any more); the
        deliveries each event type still has to drop."""
        with self._lock:
            if times:
                self._drops[event_type] += times
            else:
                self._drops.pop(event_type, None)
            return {event: left for event, left in self._drops.items() if left > 0}

    def take_down(self, webhook_id: str, seconds: float) -> Webhook | None:
        """Takes the webhook down for `seconds` from now (0: up again now); None if there
        is no such webhook."""
        with self._lock:
            webhook = self._webhooks.get(webhook_id)
            if webhook is not None:
                if seconds > 0:
                    self._down_until[webhook_id] = time.monotonic() + seconds
                else:
                    self._down_until.pop(webhook_id, None)
            return webhook

    def is_down(self, webhook_id: str) -> bool:
        with self._lock:
            until = self._down_until.get(webhook_id)
        return until is not None and time.monotonic() < until

    def replay(self, call: Call, caller: None) -> Response:
        """POST /2/webhooks/replay: a job re-delivering, in the background, what was
        delivered or attempted to the webhook from from_date to to_date (minutes, both
        included)."""
        body = call.json()
        webhook_id = body.get("webhook_id")
        if not isinstance(webhook_id, str):
            return invalid("WebhookIdInvalid", "webhook_id must be the webhook's id, a string.")
        webhook = self._webhook(webhook_id)
        now = datetime.now(UTC)
        window = _replay_window(body.get("from_date"), body.get("to_date"), now)
        if isinstance(window, str):
            return invalid("QueryParamInvalid", window)
        if self.is_down(webhook.id) or not self._crc_check(webhook.url):
            return invalid("CrcValidationFailed", "the webhook failed the CRC check.")
        start, end = window
        with self._lock:
            webhook.valid = True  # it passed the CRC check again
            if any(
                job.webhook_id == webhook.id and job.state == "InProgress"
                for job in self._replay_jobs.values()
            ):
                return invalid("ReplayConflictError", "a replay job for this webhook is running.")
            bodies: set[bytes] = set()
            originals = []
            for delivery in self._deliveries.values():
                if (
                    delivery.webhook_id == webhook.id
                    and not delivery.dropped
                    and delivery.replay_job_id is None
                    and start <= delivery.time < end
                    and delivery.body not in bodies
                ):
                    bodies.add(delivery.body)  # once per event, whatever X's retries were
                    originals.append(delivery)
            job = ReplayJob(self._ids.next(), webhook.id, start, end, now, len(originals))
            copies = [
                replace(
                    original,
                    id=self._ids.next(),
                    time=now,
                    status=None,
                    error=None,
                    replay_job_id=job.id,
                )
                for original in originals
            ]
            self._deliveries.update((copy.id, copy) for copy in copies)
            self._replay_jobs[job.id] = job
        self._later(self._replayed, job, copies)
        return json_response(200, {"data": {"job_id": job.id, "created_at": iso(now)}})

    def _replayed(self, job: ReplayJob, copies: list[Delivery]) -> None:
        self.deliver(copies)
        with self._lock:
            delivered = all(copy.status and 200 <= copy.status < 300 for copy in copies)
            job.state = "Complete" if delivered else "Incomplete"

    # ------------------------------------------------------------ records

    def deliveries(self) -> list[dict]:
        with self._lock:
            return [delivery.summary() for delivery in self._deliveries.values()]

    def overview(self) -> dict:
        with self._lock:
            return {
                "webhooks": [webhook.v2() for webhook in self._webhooks.values()],
                # One list for both APIs; an XAA subscription is one event type.
                "subscriptions": [
                    {"api": ACCOUNT_ACTIVITY, "webhook_id": webhook_id, "user_id": user_id}
                    for webhook_id, user_id in sorted(self._account_activity)
                ]
                + [
                    {"api": ACTIVITY, "user_id": subscription.user_id, **subscription.v2()}
                    for subscription in self._activity.values()
                ],
                "drops": {event: left for event, left in self._drops.items() if left > 0},
                "down": sorted(hook for hook in self._down_until if self.is_down(hook)),
                "replay_jobs": [job.view() for job in self._replay_jobs.values()],
            }


def _replay_window(
    from_date: object, to_date: object, now: datetime
) -> tuple[datetime, datetime] | str:
    """From from_date's minute to the end of to_date's; why not, as X's QueryParamInvalid
    detail."""
    try:
        start, last = _minute(from_date), _minute(to_date)
    except ValueError:
        return "from_date and to_date must be UTC times as yyyymmddhhmm."
    if start > now or last > now:
        return "from_date and to_date must not be in the future."
    if start > last:
        return "from_date must not be after to_date."
    oldest = (now - timedelta(hours=REPLAY_HOURS)).replace(second=0, microsecond=0)
    if start < oldest:
        return f"from_date must be within the last {REPLAY_HOURS} hours."
    return start, last + timedelta(minutes=1)


def _minute(value: object) -> datetime:
    if not isinstance(value, str) or not REPLAY_DATE.fullmatch(value):
        raise ValueError(value)
    return datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=UTC)
