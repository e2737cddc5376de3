"""X (Twitter) API client: OAuth 1.0a sign-in, DMs, reply posts, and the webhooks and
subscriptions of the Account Activity API v2 (AAA) and the X Activity API (XAA).

Every failure is an XError subclass; `retryable` says whether trying again later may
succeed. The client never retries and never sleeps (a Lambda must not wait out a
15-minute rate-limit window): XRateLimited says until when, and the caller decides.
Consumer and token secrets, the bearer token and Authorization headers never appear in an
error message or a repr.

Facts relied on, from X's documentation (repository xdevplatform/docs):

- fundamentals/authentication/oauth-1-0a/obtaining-user-access-tokens.mdx and
  fundamentals/authentication/api-reference.mdx: POST /oauth/request_token (signed with
  the consumer key, `oauth_callback` in the header) answers the form-encoded
  oauth_token, oauth_token_secret, oauth_callback_confirmed=true; the user approves at
  GET /oauth/authorize?oauth_token=...; X redirects to the callback with oauth_token and
  oauth_verifier (or `denied`); POST /oauth/access_token (signed with the request token,
  oauth_verifier) answers oauth_token, oauth_token_secret, user_id, screen_name.
  POST /oauth2/token (Basic consumer key:secret, grant_type=client_credentials) answers
  {"token_type": "bearer", "access_token"}: the app-only bearer token, to be cached.
- fundamentals/authentication/oauth-1-0a/creating-a-signature.mdx: HMAC-SHA1 signatures.
- x-api/webhooks/introduction.mdx, x-api/webhooks/quickstart.mdx: the v2 webhooks API
  (POST /2/webhooks {"url"}, GET /2/webhooks, PUT /2/webhooks/{id} re-runs the CRC,
  DELETE /2/webhooks/{id}), all with the app-only bearer token; one webhook serves both
  AAA and XAA. CRC: {"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret,
  crc_token))}. Deliveries carry x-twitter-webhooks-signature: "sha256=" + base64 of the
  HMAC-SHA256 of the raw body with the consumer secret.
- x-api/account-activity/introduction.mdx, x-api/account-activity/quickstart.mdx: AAA
  subscriptions. POST /2/account_activity/webhooks/{id}/subscriptions/all with the
  subscribing user's OAuth 1.0a context -> {"data": {"subscribed": true}}; DELETE
  .../subscriptions/{user_id}/all with the bearer token; "SubscriptionNotFound" is a 400.
- x-api/activity/quickstart.mdx, x-api/activity/event-payloads.mdx: XAA subscriptions,
  one per event type and user: POST /2/activity/subscriptions {"event_type", "filter":
  {"user_id"}, "tag", "webhook_id"}, DELETE /2/activity/subscriptions/{id} (bearer).
  dm.received, dm.sent and post.mention.create are private events that need the user's
  authorization. Ambiguities, settled on the v2 API reference
  (x-api/activity/create-x-activity-subscription.mdx, generated from X's OpenAPI spec):
  creation accepts OAuth 1.0a user context, which this client uses (the changelog speaks
  of "OAuth 2.0 user authorization"); the created subscription is read from
  data.subscription.subscription_id, with the quickstart's data.subscription_id accepted too.
- x-api/direct-messages/manage/quickstart.mdx: POST /2/dm_conversations/with/{id}/messages
  {"text"} -> {"data": {"dm_conversation_id", "dm_event_id"}}, user context.
- x-api/posts/manage-tweets/quickstart.mdx: POST /2/tweets {"text", "reply":
  {"in_reply_to_tweet_id"}} -> {"data": {"id", "text"}}, user context.
- x-api/fundamentals/rate-limits.mdx: 429 with x-rate-limit-reset in UTC epoch seconds.
- x-api/fundamentals/response-codes-and-errors.mdx: errors are problem details
  ({"title", "detail", "type"}); older endpoints answer {"errors": [{"code", "message"}]}.
- x-api/direct-messages/media/introduction.mdx and x-api/direct-messages/media/migrate.mdx
  (developer.x.com direct-messages/message-attachments/guides/retrieving-media before):
  a DM's media_url_https is a TON URL, https://ton.twitter.com/1.1/ton/data/dm/{dm_id}/
  {media_id}/{resource_id}, fetched with GET signed with the account's OAuth 1.0a token;
  the account must be a participant of the DM. The newer /2/dm_conversations/media/...
  takes OAuth 2.0 user tokens only, which this app does not hold. A post's media are
  public on pbs.twimg.com (photos) and video.twimg.com (videos' mp4 variants).
"""

import json
import mimetypes
import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from twittnow.clients.responses import json_object, status_line
from twittnow.x_app import AppCredentials

if TYPE_CHECKING:
    import requests

DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)
# The XAA events a connected account is subscribed to: what customers send it, and the
# DMs it sends (so the webhook sees replies typed in X's own app too).
ACTIVITY_EVENT_TYPES = ("dm.received", "dm.sent", "post.mention.create")
ACTIVITY_TAG = "twittnow"
# X's generic problem type: a 403 of this type refuses one request (duplicate content, a
# recipient who does not accept DMs), not the account's connection.
GENERIC_PROBLEM = "about:blank"
# Where X serves the media of DMs (ton) and posts (pbs, video): the only hosts, with the
# client's own base URL (a sandbox), that a media URL from a delivery may name.
X_MEDIA_HOSTS = ("ton.twitter.com", "pbs.twimg.com", "video.twimg.com")
X_MEDIA_DOMAIN = ".twimg.com"
DEFAULT_MAX_MEDIA_BYTES = 25 * 1024 * 1024
MEDIA_CHUNK_BYTES = 64 * 1024
# host[:port], nothing else: no user info, and no character (such as a backslash) that
# another URL parser could read as the end of the host.
HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
PLAIN_NETLOC = re.compile(rf"(?P<host>{HOST_LABEL}(?:\.{HOST_LABEL})*)(?::(?P<port>\d{{1,5}}))?")
SAFE_FILE_NAME_RUN = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILE_NAME_LENGTH = 128


# ---------------------------------------------------------------- credentials and results


@dataclass(frozen=True)
class UserCredentials:
    """A connected account's OAuth 1.0a access token and secret."""

    access_token: str = field(repr=False)
    access_token_secret: str = field(repr=False)


@dataclass(frozen=True)
class RequestToken:
    """The temporary credentials between request_token and access_token."""

    oauth_token: str
    oauth_token_secret: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    """The account that approved the app, and its credentials."""

    user_id: str
    screen_name: str
    credentials: UserCredentials


@dataclass(frozen=True)
class DownloadedMedia:
    """A photo, video or GIF downloaded from X."""

    file_name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    valid: bool
    created_at: str | None


class WebhookApi(StrEnum):
    """Which API delivers a subscribed account's events to a webhook."""

    ACCOUNT_ACTIVITY = "account_activity"  # AAA v2, ends 2027-01-01
    ACTIVITY = "activity"  # XAA


# ---------------------------------------------------------------- errors


class XError(Exception):
    """X refused or failed a request. `status_code` is None when no HTTP answer came
    back; `detail` is X's problem type or error code, for logs."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail


class XRateLimited(XError):
    """429: try again at `reset_at` (an aware datetime)."""

    retryable = True

    def __init__(self, message: str, *, reset_at: datetime, detail: str = ""):
        super().__init__(message, status_code=429, detail=detail)
        self.reset_at = reset_at


class XUnavailable(XError):
    """5xx, a timeout, a connection failure or an answer X never gives: try again later."""

    retryable = True


class XConnectionBroken(XError):
    """401, or a 403 about authorization, on a call made as a connected account: the
    account revoked the app, was suspended, or its tokens are bad. It must reconnect."""


class XRequestRejected(XError):
    """X refused this request (400, a refusing 403 such as duplicate content, a failed
    OAuth step, a failed CRC check): sending it again as it is will fail again."""


class XNotFound(XError):
    """404: no such resource."""


class XMediaRefused(XError):
    """The client refused to download media: a URL off X's media hosts, or a file larger
    than allowed. Trying again will not help."""


# ---------------------------------------------------------------- the client


class OAuth1:
    """OAuth 1.0a (HMAC-SHA1) in the Authorization header, signed by oauthlib; requests
    takes any callable as `auth`. requests-oauthlib's OAuth1 does the same, but its package
    also loads oauthlib's OAuth 2: about 26 ms of every X function's cold start
    (bench/cold_start.py). OAuth 1.0a signs form-encoded bodies only, and these calls carry
    JSON or none."""

    def __init__(self, consumer_key: str, consumer_secret: str, **token: str):
        from oauthlib.oauth1 import Client  # loaded, like requests, when first needed

        self._client = Client(consumer_key, consumer_secret, **token)

    def __call__(self, request: "requests.PreparedRequest") -> "requests.PreparedRequest":
        request.url, headers, _ = self._client.sign(
            request.url, request.method, headers=dict(request.headers)
        )
        request.prepare_headers(headers)
        return request


class XClient:
    """X's OAuth and v2 endpoints on `base_url` (https://api.x.com, or a sandbox), as the
    app `app`. `timeout` in seconds, for connecting and for each read.

    Calls as a connected account are signed with OAuth 1.0a; webhook management uses the
    app-only bearer token, fetched once per client.
    """

    def __init__(self, base_url: str, app: AppCredentials, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._app = app
        self._timeout = (timeout, timeout)
        # requests loads with the first client, not with this module: about 19 ms of a
        # cold start (bench/cold_start.py) that a request refused before it needs X skips.
        import requests

        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        self._bearer_token: str | None = None

    # ------------------------------------------------------------ 3-legged OAuth 1.0a

    def request_token(self, callback_url: str) -> RequestToken:
        """Step 1: temporary credentials; X sends the user back to `callback_url`."""
        auth = OAuth1(self._app.consumer_key, self._app.consumer_secret, callback_uri=callback_url)
        answer = self._form(
            self._send("POST", "/oauth/request_token", "get a request token", auth=auth)
        )
        if answer.get("oauth_callback_confirmed") != "true" or not answer.get("oauth_token"):
            raise XRequestRejected(
                "X did not confirm the OAuth callback URL: check that it is one of the app's "
                "callback URLs in the X developer console."
            )
        return RequestToken(answer["oauth_token"], answer.get("oauth_token_secret", ""))

    def authorize_url(self, oauth_token: str) -> str:
        """Step 2: where the user approves the app."""
        return f"{self.base_url}/oauth/authorize?{urlencode({'oauth_token': oauth_token})}"

    def access_token(self, request_token: RequestToken, verifier: str) -> AccessToken:
        """Step 3: the approving account and its access token, for the callback's verifier."""
        auth = OAuth1(
            self._app.consumer_key,
            self._app.consumer_secret,
            resource_owner_key=request_token.oauth_token,
            resource_owner_secret=request_token.oauth_token_secret,
            verifier=verifier,
        )
        response = self._send(
            "POST",
            "/oauth/access_token",
            "exchange the verifier for an access token",
            auth=auth,
            secrets=(request_token.oauth_token_secret,),
        )
        answer = self._form(response)
        if not all(answer.get(name) for name in ("oauth_token", "oauth_token_secret", "user_id")):
            raise XUnavailable(
                "X's access token answer lacks the token or the account.",
                status_code=response.status_code,
            )
        return AccessToken(
            user_id=answer["user_id"],
            screen_name=answer.get("screen_name", ""),
            credentials=UserCredentials(answer["oauth_token"], answer["oauth_token_secret"]),
        )

    # ------------------------------------------------------------ as a connected account

    def send_dm(self, user: UserCredentials, participant_id: str, text: str) -> str:
        """Sends `text` to `participant_id` as `user`; returns the DM event id."""
        data = self._user_call(
            user,
            "POST",
            f"/2/dm_conversations/with/{quote(participant_id, safe='')}/messages",
            "send a DM",
            json={"text": text},
        )
        return self._field(data, "dm_event_id", "send a DM")

    def reply(self, user: UserCredentials, in_reply_to_post_id: str, text: str) -> str:
        """Posts `text` as `user` in reply to a post; returns the new post's id."""
        data = self._user_call(
            user,
            "POST",
            "/2/tweets",
            "post a reply",
            json={"text": text, "reply": {"in_reply_to_tweet_id": in_reply_to_post_id}},
        )
        return self._field(data, "id", "post a reply")

    def download_media(
        self, user: UserCredentials, url: str, max_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    ) -> DownloadedMedia:
        """The photo, video or GIF at `url` (a Media url of a delivery), fetched as `user`:
        DM media need the account's signature, and signing a public URL does no harm.

        Refuses (XMediaRefused), before sending anything, a URL that is neither https on
        X's media hosts nor on this client's own base URL; and stops reading a file once
        it grows past `max_bytes`."""
        action = f"download media from {self._media_host(url)}"
        secrets = (user.access_token, user.access_token_secret)
        response = self._send_to(
            "GET",
            url,
            action,
            auth=self._user_auth(user),
            as_user=True,
            secrets=secrets,
            # Uncompressed: a small compressed chunk could unpack to far more than max_bytes.
            headers={"Accept": "*/*", "Accept-Encoding": "identity"},
            stream=True,
        )
        with response:  # gives the connection back however the reading ends
            data = self._media_body(response, action, max_bytes, secrets)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        content_type = content_type or "application/octet-stream"
        return DownloadedMedia(_media_file_name(url, content_type), content_type, data)

    # ------------------------------------------------------------ webhooks (app-only)

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
            "PUT", f"/2/webhooks/{quote(webhook_id, safe='')}", "validate the webhook"
        )
        if not data.get("valid"):
            raise XRequestRejected(
                "The webhook failed X's CRC check: it must answer GET ?crc_token= with the "
                "response_token made with the app's consumer secret."
            )

    def delete_webhook(self, webhook_id: str) -> None:
        self._app_call("DELETE", f"/2/webhooks/{quote(webhook_id, safe='')}", "delete the webhook")

    # ------------------------------------------------------------ subscriptions

    def subscribe(
        self, api: WebhookApi, webhook_id: str, user_id: str, user: UserCredentials
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
                    f"/2/account_activity/webhooks/{quote(webhook_id, safe='')}/subscriptions/all",
                    "subscribe the account",
                )
            except XRequestRejected as error:
                if not _says(error, "DuplicateSubscription"):
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
            path = (
                f"/2/account_activity/webhooks/{quote(webhook_id, safe='')}"
                f"/subscriptions/{quote(user_id, safe='')}/all"
            )
            try:
                self._app_call("DELETE", path, "unsubscribe the account")
            except XRequestRejected as error:
                # AAA answers 400 SubscriptionNotFound for a subscription already gone.
                if not _says(error, "SubscriptionNotFound"):
                    raise
            except XNotFound:
                pass
        else:
            for id_ in filter(None, subscription_id.split(",")):
                self._delete_activity_subscription(id_)

    def _subscribe_activity(
        self, user: UserCredentials, webhook_id: str, user_id: str, event_type: str
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
            if not _says(error, "Duplicate"):
                raise
            existing = self._app_call(
                "GET", "/2/activity/subscriptions", "list the subscriptions", answer=list
            )
            data = next(
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
            if data is None:
                raise
        return self._field(data.get("subscription", data), "subscription_id", action)

    def _delete_activity_subscription(self, subscription_id: str) -> None:
        try:
            self._app_call(
                "DELETE",
                f"/2/activity/subscriptions/{quote(subscription_id, safe='')}",
                "unsubscribe the account",
            )
        except XNotFound:
            pass  # already gone

    # ------------------------------------------------------------ plumbing

    def _user_call(
        self, user: UserCredentials, method: str, path: str, action: str, **kwargs
    ) -> dict:
        """`data` of X's JSON answer to a call made as the connected account."""
        response = self._send(
            method,
            path,
            action,
            auth=self._user_auth(user),
            as_user=True,
            secrets=(user.access_token, user.access_token_secret),
            **kwargs,
        )
        return self._data(response, action, dict)

    def _user_auth(self, user: UserCredentials) -> OAuth1:
        """Signs requests as the connected account (OAuth 1.0a user context)."""
        return OAuth1(
            self._app.consumer_key,
            self._app.consumer_secret,
            resource_owner_key=user.access_token,
            resource_owner_secret=user.access_token_secret,
        )

    def _app_call(
        self, method: str, path: str, action: str, *, answer: type = dict, **kwargs
    ) -> dict | list:
        """`data` of X's JSON answer, a dict or a list, to a call made as the app."""
        token = self._app_bearer_token()
        try:
            response = self._send(
                method,
                path,
                action,
                headers={"Authorization": f"Bearer {token}"},
                secrets=(token,),
                **kwargs,
            )
        except XRequestRejected as error:
            if error.status_code == HTTPStatus.UNAUTHORIZED:
                self._bearer_token = None  # invalidated: the next call fetches a new one
            raise
        return self._data(response, action, answer)

    def _app_bearer_token(self) -> str:
        if self._bearer_token is None:
            # RFC 1738-encoded, then Basic auth, as X's application-only guide says.
            key, secret = (
                quote(value, safe="")
                for value in (self._app.consumer_key, self._app.consumer_secret)
            )
            response = self._send(
                "POST",
                "/oauth2/token",
                "get the app's bearer token",
                auth=(key, secret),
                data={"grant_type": "client_credentials"},
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
            )
            answer = json_object(response) or {}
            token = answer.get("access_token")
            if str(answer.get("token_type", "")).lower() != "bearer" or not token:
                raise XUnavailable(
                    "X's bearer token answer is not a bearer token.",
                    status_code=response.status_code,
                )
            self._bearer_token = token
        return self._bearer_token

    def _send(self, method: str, path: str, action: str, **kwargs) -> "requests.Response":
        """X's 2xx answer to `method path` on the base URL: see _send_to."""
        return self._send_to(method, self.base_url + path, action, **kwargs)

    def _send_to(
        self,
        method: str,
        url: str,
        action: str,
        *,
        as_user: bool = False,
        secrets: tuple[str, ...] = (),
        **kwargs,
    ) -> "requests.Response":
        """X's 2xx answer to `method url`, or the XError its answer means. `action` names
        the call in messages ("send a DM"); `secrets` are scrubbed from them."""
        import requests  # loaded by __init__ already

        secrets = (self._app.consumer_secret, *secrets)
        try:
            # No redirects: following one would carry the Authorization header elsewhere.
            response = self._session.request(
                method, url, timeout=self._timeout, allow_redirects=False, **kwargs
            )
        except requests.Timeout as exc:
            message = f"X did not answer within {self._timeout[1]:g} seconds ({action})."
            detail = str(exc)
        except requests.RequestException as exc:
            parts = urlsplit(url)
            message = f"Could not connect to X at {parts.scheme}://{parts.netloc} ({action})."
            detail = str(exc)
        else:
            if 200 <= response.status_code < 300:
                return response
            raise _error_for(response, action, as_user, secrets)
        # Raised outside the except clauses so that the requests exception, whose request
        # holds the Authorization header, is not chained to it as __context__.
        raise XUnavailable(_scrub(message, secrets), detail=_scrub(detail, secrets))

    def _media_host(self, url: str) -> str:
        """The host of a media URL this client may download: https on X's media hosts, or
        the scheme, host and port of its own base URL. XMediaRefused for any other."""
        try:
            parts = urlsplit(url)
        except ValueError:  # such as an unclosed [ of an IPv6 address
            parts = urlsplit("")
        netloc = PLAIN_NETLOC.fullmatch(parts.netloc.lower())
        own = urlsplit(self.base_url)
        if netloc is not None:
            host = netloc["host"]
            on_x = (
                parts.scheme == "https"
                and netloc["port"] in (None, "443")
                and (host in X_MEDIA_HOSTS or host.endswith(X_MEDIA_DOMAIN))
            )
            if on_x or (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower()):
                return host
        raise XMediaRefused(
            f"Refused to download media from {parts.hostname or 'a URL without a host'}: "
            f"X's media are on https://{', https://'.join(X_MEDIA_HOSTS)} and "
            f"*{X_MEDIA_DOMAIN}."
        )

    def _media_body(
        self, response: "requests.Response", action: str, max_bytes: int, secrets: tuple[str, ...]
    ) -> bytes:
        """The streamed body, read up to `max_bytes`; `secrets` as for _send_to."""
        import requests  # loaded by __init__ already

        too_large = XMediaRefused(
            f"The media is larger than {max_bytes / 2**20:.3g} MB ({action})."
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large
        body, broken_off = bytearray(), None
        try:
            for chunk in response.iter_content(MEDIA_CHUNK_BYTES):
                body += chunk
                if len(body) > max_bytes:
                    raise too_large
        except requests.RequestException as exc:
            broken_off = str(exc)
        if broken_off is not None:
            # Raised here, not in the except clause, for the reason _send_to gives.
            raise XUnavailable(
                f"X stopped sending the media ({action}).",
                status_code=response.status_code,
                detail=_scrub(broken_off, (self._app.consumer_secret, *secrets)),
            )
        return bytes(body)

    @staticmethod
    def _data(response: "requests.Response", action: str, answer: type) -> dict | list:
        body = json_object(response)
        if body is None or not isinstance(body.get("data"), answer):
            raise XUnavailable(
                f"X answered {status_line(response)} without data ({action}).",
                status_code=response.status_code,
            )
        return body["data"]

    @staticmethod
    def _form(response: "requests.Response") -> dict[str, str]:
        return dict(parse_qsl(response.text, keep_blank_values=True))

    @staticmethod
    def _field(data: dict, name: str, action: str) -> str:
        value = data.get(name) if isinstance(data, dict) else None
        if not value:
            raise XUnavailable(f"X's answer lacks {name} ({action}).")
        return str(value)


def _webhook(data: dict) -> Webhook:
    if not isinstance(data, dict) or not data.get("id"):
        raise XUnavailable("X's webhook answer lacks the webhook's id.")
    return Webhook(
        id=str(data["id"]),
        url=str(data.get("url", "")),
        valid=bool(data.get("valid")),
        created_at=data.get("created_at"),
    )


def _error_for(
    response: "requests.Response", action: str, as_user: bool, secrets: tuple[str, ...]
) -> XError:
    status = response.status_code
    said, problem_type = _x_error(response)
    detail = _scrub(problem_type, secrets)
    explanation = _scrub(f": {said}" if said else ".", secrets)
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        reset_at = _reset_at(response)
        return XRateLimited(
            f"X rate-limited the request to {action} until {reset_at.isoformat()}.",
            reset_at=reset_at,
            detail=detail,
        )
    message = f"X refused to {action} ({status_line(response)}){explanation}"
    if status >= 500 or status < 400:
        return XUnavailable(
            f"X failed to {action} ({status_line(response)}){explanation}",
            status_code=status,
            detail=detail,
        )
    if as_user and (
        status == HTTPStatus.UNAUTHORIZED
        or (status == HTTPStatus.FORBIDDEN and problem_type != GENERIC_PROBLEM)
    ):
        return XConnectionBroken(message, status_code=status, detail=detail)
    if status == HTTPStatus.NOT_FOUND:
        return XNotFound(message, status_code=status, detail=detail)
    return XRequestRejected(message, status_code=status, detail=detail)


def _media_file_name(url: str, content_type: str) -> str:
    """The URL's last path segment, in safe characters only, with an extension: the
    content type's when the segment has none, after "media" when nothing is left of it."""
    segment = unquote(urlsplit(url).path.rpartition("/")[2])
    name = SAFE_FILE_NAME_RUN.sub("_", segment)[-MAX_FILE_NAME_LENGTH:].lstrip(".")
    if "." not in name:
        name = (name or "media") + (mimetypes.guess_extension(content_type) or "")
    return name


def _says(error: XError, reason: str) -> bool:
    """Whether X gave `reason` (DuplicateSubscriptionFailed...) for refusing."""
    return reason.lower() in f"{error.detail} {error.message}".lower()


def _x_error(response: "requests.Response") -> tuple[str, str]:
    """X's own (message, type-or-reason) from a problem-details or {"errors": [...]} body."""
    body = json_object(response)
    if body is None:
        return "", ""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message = body.get("detail") or body.get("title") or first.get("message") or ""
    # The most specific label X gave: a reason (WebhookIdInvalid...), a problem type, a code.
    label = body.get("reason") or body.get("type") or first.get("code") or ""
    return str(message)[:500], str(label)




def _reset_at(response: "requests.Response") -> datetime:
    value = response.headers.get("x-rate-limit-reset", "").strip()
    if value.isascii() and value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    return datetime.now(UTC) + DEFAULT_RATE_LIMIT_WAIT




def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
