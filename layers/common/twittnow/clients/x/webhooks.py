"""The app's webhooks (app-only bearer token) and the subscriptions that have X deliver a
connected account's events to them, through the Account Activity API v2 (AAA) or the X
Activity API (XAA)."""

from contextlib import suppress

from twittnow.clients.x.errors import XError, XNotFound, XRequestRejected, XUnavailable, says
from twittnow.clients.x.models import AccountCredentials, Webhook, WebhookApi
from twittnow.clients.x.transport import XTransport

# The XAA events a connected account is subscribed to: what customers send it, and the
# DMs it sends (so the webhook sees replies typed in X's own app too). post.reply.create:
# a customer answering in the account's thread without typing @account, which
# post.mention.create does not fire for (x-api/activity/event-payloads.mdx). chat.received
# and chat.sent: X Chat's encrypted DMs, received and sent (xchat/real-time-events.mdx).
ACTIVITY_EVENT_TYPES = (
    "dm.received",
    "dm.sent",
    "post.mention.create",
    "post.reply.create",
    "chat.received",
    "chat.sent",
)
ACTIVITY_TAG = "twittnow"


class WebhookCalls(XTransport):
    def register_webhook(self, url: str) -> Webhook:
        """Registers `url`; X runs the CRC check against it first and refuses a failing
        one (XRequestRejected). One webhook serves AAA and XAA subscriptions alike."""
        data = self._app_call("POST", "/2/webhooks", "register the webhook", json={"url": url})
        return _webhook(data)

    def list_webhooks(self) -> list[Webhook]:
        data = self._app_call("GET", "/2/webhooks", "list the webhooks", answer=list)
        return [_webhook(item) for item in data]

    def validate_webhook(self, webhook_id: str) -> None:
        """Has X run the CRC check again, which re-enables a webhook that passes it.
        Raises XRequestRejected when the check fails."""
        data = self._app_call(
            "PUT",
            "/2/webhooks/{webhook_id}",
            "validate the webhook",
            ids={"webhook_id": webhook_id},
        )
        if not data.get("valid"):
            raise XRequestRejected(
                "The webhook failed X's CRC check: it must answer GET ?crc_token= with the "
                "response_token made with the app's consumer secret."
            )

    def delete_webhook(self, webhook_id: str) -> None:
        self._app_call(
            "DELETE",
            "/2/webhooks/{webhook_id}",
            "delete the webhook",
            ids={"webhook_id": webhook_id},
        )

    # ------------------------------------------------------------ subscriptions

    def subscribe(
        self, api: WebhookApi, webhook_id: str, user_id: str, user: AccountCredentials
    ) -> str:
        """Has X deliver the account's events to the webhook, with the account's own
        authorization; an account subscribed already is fine. Returns what unsubscribe
        needs: for AAA the user id; for XAA the ids of its subscriptions (one per event
        type), comma-separated."""
        if api is WebhookApi.ACCOUNT_ACTIVITY:
            try:
                data = self._user_call(
                    user,
                    "POST",
                    "/2/account_activity/webhooks/{webhook_id}/subscriptions/all",
                    "subscribe the account",
                    ids={"webhook_id": webhook_id},
                )
            except XRequestRejected as error:
                if not says(error, "DuplicateSubscription"):
                    raise
            else:
                if data.get("subscribed") is not True:
                    raise XRequestRejected("X did not subscribe the account to the webhook.")
            return user_id
        subscribed: list[str] = []
        try:
            for event_type in ACTIVITY_EVENT_TYPES:
                subscribed.append(self._subscribe_activity(user, webhook_id, user_id, event_type))
        except XError:
            # All or nothing: a retry must not meet half a subscription.
            for id_ in subscribed:
                with suppress(XError):  # best effort: the caller gets the first error
                    self._delete_activity_subscription(id_)
            raise
        return ",".join(subscribed)

    def unsubscribe(
        self, api: WebhookApi, webhook_id: str, user_id: str, subscription_id: str
    ) -> None:
        """Stops the deliveries subscribe started; a subscription already gone is fine."""
        if api is WebhookApi.ACCOUNT_ACTIVITY:
            try:
                self._app_call(
                    "DELETE",
                    "/2/account_activity/webhooks/{webhook_id}/subscriptions/{user_id}/all",
                    "unsubscribe the account",
                    ids={"webhook_id": webhook_id, "user_id": user_id},
                )
            except XRequestRejected as error:
                # AAA answers 400 SubscriptionNotFound for a subscription already gone.
                if not says(error, "SubscriptionNotFound"):
                    raise
            except XNotFound:
                pass
        else:
            for id_ in filter(None, subscription_id.split(",")):
                self._delete_activity_subscription(id_)

    def _subscribe_activity(
        self, user: AccountCredentials, webhook_id: str, user_id: str, event_type: str
    ) -> str:
        """The id of the account's XAA subscription to `event_type` on the webhook: a new
        one, or the one X already has (it refuses a duplicate)."""
        action = f"subscribe the account to {event_type}"
        try:
            data = self._user_call(
                user,
                "POST",
                "/2/activity/subscriptions",
                action,
                json={
                    "event_type": event_type,
                    "filter": {"user_id": user_id},
                    "tag": ACTIVITY_TAG,
                    "webhook_id": webhook_id,
                },
            )
        except XRequestRejected as error:
            if not says(error, "Duplicate"):
                raise
            existing = self._app_call(
                "GET", "/2/activity/subscriptions", "list the subscriptions", answer=list
            )
            found = next(
                (
                    subscription
                    for subscription in existing
                    if isinstance(subscription, dict)
                    and subscription.get("event_type") == event_type
                    and (subscription.get("filter") or {}).get("user_id") == user_id
                    and str(subscription.get("webhook_id")) == webhook_id
                ),
                None,
            )
            if found is None:
                raise
            data = found
        return self._field(data.get("subscription", data), "subscription_id", action)

    def _delete_activity_subscription(self, subscription_id: str) -> None:
        with suppress(XNotFound):  # already gone
            self._app_call(
                "DELETE",
                "/2/activity/subscriptions/{subscription_id}",
                "unsubscribe the account",
                ids={"subscription_id": subscription_id},
            )

    # ------------------------------------------------------------ replay

    def replay_webhook(self, webhook_id: str, from_date: str, to_date: str) -> str:
        """Has X deliver again, to the webhook, every event it delivered or tried to
        deliver there between `from_date` and `to_date` (yyyymmddhhmm UTC, both minutes
        included, within the last 24 hours); returns the replay job's id. X runs one job
        per webhook at a time and refuses another meanwhile (XRequestRejected).

        x-api/webhooks/create-replay-job-for-webhook.mdx (openapi.json,
        createWebhookReplayJob): POST /2/webhooks/replay {webhook_id, from_date, to_date},
        app-only bearer token -> {"data": {"job_id", "created_at"}}. It replaces the
        Account Activity replay endpoint, gone since 2026-03-25 (changelog.mdx), and
        serves XAA and AAA deliveries alike."""
        action = "request a replay of the webhook's deliveries"
        data = self._app_call(
            "POST",
            "/2/webhooks/replay",
            action,
            json={"webhook_id": webhook_id, "from_date": from_date, "to_date": to_date},
        )
        return self._field(data, "job_id", action)


def _webhook(data: dict) -> Webhook:
    if not isinstance(data, dict) or not data.get("id"):
        raise XUnavailable("X's webhook answer lacks the webhook's id.")
    return Webhook(
        id=str(data["id"]),
        url=str(data.get("url", "")),
        valid=bool(data.get("valid")),
        created_at=data.get("created_at"),
    )
