"""The sandbox X's webhooks: the v2 webhooks API and its CRC check, the subscriptions of
the Account Activity API v2 (AAA) and of the X Activity API (XAA), and signed deliveries.

The handlers take the call and its caller: the connected account a user-context call is
signed as, or None for the app's bearer token. The server has checked either already.
"""

import base64
import hashlib
import hmac
import json
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
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
            "body": json.loads(self.body),
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
        valid = self._crc_check(webhook.url)
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
                            self._event(sub, payload, includes),
                        )
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
        delivering to a webhook that fails its CRC check)."""
        deliveries = []
        for webhook_id, shape, event, for_user, payload in planned:
            webhook = self._webhooks.get(webhook_id)
            if webhook is None or not webhook.valid:
                continue
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
            )
            self._deliveries[delivery.id] = delivery
            deliveries.append(delivery)
        return deliveries

    # ------------------------------------------------------------ sending

    def deliver(self, deliveries: list[Delivery]) -> None:
        """POSTs each delivery to its webhook, and records the answer."""
        for delivery in deliveries:
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

    def deliver_later(self, deliveries: list[Delivery]) -> None:
        """Delivers in the background, as X does: the call that caused the deliveries (the
        service's own DM) is answered first."""
        if not deliveries or self._background is None:
            return
        future = self._background.submit(self.deliver, deliveries)
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
                original, id=self._ids.next(), time=datetime.now(UTC), status=None, error=None
            )
            self._deliveries[again.id] = again
        self.deliver([again])
        return again

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
            }
