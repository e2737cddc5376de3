"""The sandbox X: a loopback server that behaves like the parts of X the service uses, and
lets a person or a test act as X's users. Not deployed.

X's side, as in xdevplatform/docs (twittnow.clients.x lists the pages):

    POST /oauth/request_token, GET /oauth/authorize, POST /oauth/access_token
        3-legged OAuth 1.0a, with real HMAC-SHA1 signature checks. The authorize page
        approves as any screen name; ?approve=<screen_name> or ?deny=1 redirects at once.
    POST /oauth2/token                              the app-only bearer token
    GET /i/oauth2/authorize, POST /2/oauth2/token   OAuth 2.0 with PKCE and rotating refresh
        tokens: see sandboxes.x.oauth2
    POST /2/dm_conversations/with/{id}/messages     a DM, as a connected account
    POST /2/tweets                                  a post or a reply, as a connected account;
        a reply only to a post whose author summoned the account (mentioned it)
    GET /2/users/me                                 the connected account
    GET /2/users/{id}                               a user: id, username, name
    POST, GET /2/users/{id}/public_keys             X Chat: see sandboxes.x.xchat
    POST /2/chat/conversations/{id}/keys            (keys, conversation keys, encrypted
    POST /2/chat/conversations/{id}/messages         messages, the events history,
    GET /2/chat/conversations/{id}/events            encrypted media; chat.received and
    GET /2/chat/media/{id}/{media_hash_key}          chat.sent deliveries)
    POST, GET /2/webhooks; PUT, DELETE /2/webhooks/{id}       with X's CRC check
    POST /2/webhooks/replay                         {webhook_id, from_date, to_date}: X
        re-delivers what it delivered or attempted: see sandboxes.x.webhooks
    POST, GET /2/account_activity/webhooks/{id}/subscriptions/all, GET .../all/list,
    DELETE .../subscriptions/{user_id}/all          Account Activity API v2
    POST, GET /2/activity/subscriptions, DELETE .../{id}      X Activity API
    GET /1.1/ton/data/dm/{dm_id}/{media_id}/{file_name}       a DM's photo, video or GIF,
    GET /dm_video_preview/{media_id}/img/preview.png          and a still of a DM's video,
        as on ton.twitter.com: signed with OAuth 1.0a as one of the DM's two accounts
    GET /media/{media_key}.{ext}                    a post's photo, video (its mp4 variant)
        or a still of its video ({media_key}.png); public, as on pbs.twimg.com

A connected account calls with OAuth 1.0a or with the bearer access token of its OAuth 2.0
authorization, which must hold the endpoint's scopes (openapi.json).

The sandbox's own side, JSON under /sandbox:

    GET  /sandbox                                   accounts (with their OAuth 2.0
                                                    grants, scopes and refreshes),
                                                    webhooks, subscriptions, and the
                                                    calls X's API received, by route
                                                    handler ("requests"), the deliveries
                                                    dropped or down ("delivery_faults"),
                                                    replay jobs, and X Chat ("chat")
    POST /sandbox/customers/{screen_name}/dm        {"to", "text", "media"?, "shape"?}
    POST /sandbox/customers/{screen_name}/mention   {"to", "text", "media"?, "in_reply_to"?,
                                                     "shape"?}
    POST /sandbox/customers/{screen_name}/reply     {"in_reply_to", "text", "media"?,
                                                     "shape"?}: the customer replies in
                                                    the thread typing no @mention; X puts
                                                    the replied-to @screen_name before the
                                                    text (an implicit mention)
    POST /sandbox/customers/{screen_name}/rename    {"screen_name"}: the customer takes a
                                                    new screen name and keeps their id; the
                                                    next user to take the old one is another
                                                    user, with another id
    POST /sandbox/customers/{screen_name}/chat      {"to", "text", "media"?}: the customer
                                                    writes to the company account in an
                                                    encrypted X Chat (see below)
    GET  /sandbox/customers/{screen_name}/chat      what the customer received in X Chat,
                                                    decrypted and verified with the
                                                    senders' registered signing keys:
                                                    {"messages": [{conversation_id,
                                                    sequence_id, message_id, sender, text,
                                                    verified, key_version, created_at,
                                                    attachments}], "errors": [...]}
    POST /sandbox/customers/{screen_name}/chat/rotate-key  {"to"}: the customer makes the
                                                    conversation's next key
    POST /sandbox/accounts/{screen_name}/dm         {"to", "text", "media"?, "shape"?}: the
                                                    company's staff DMs a customer in X's app
    POST /sandbox/accounts/{screen_name}/revoke     the account revokes the app: its
                                                    OAuth 1.0a token and OAuth 2.0 grants
    POST /sandbox/accounts/{screen_name}/expire-tokens  its OAuth 2.0 access tokens expire now
    GET  /sandbox/sent                              what the service sent: DMs and posts
    GET  /sandbox/deliveries                        what the sandbox delivered to webhooks
    POST /sandbox/deliveries/{id}/redeliver         X's retry: the same signed body again
    POST /sandbox/deliveries/drop                   {"event_type", "times"?}: X never
                                                    delivers the next `times` (1; 0: stop
                                                    dropping) deliveries of the event type
                                                    (a delivery's "event": chat.received,
                                                    dm.received, direct_message_events...)
    POST /sandbox/webhooks/{id}/down                {"seconds"}: the webhook is down from
                                                    now for `seconds` (0: up again): X's
                                                    deliveries fail, and X marks it invalid
    GET, POST, DELETE /sandbox/faults               {"endpoint", "status", "times", "reset_in"}
    GET, PUT /sandbox/settings                      {"echo": true | false,
                                                     "deliver_twice": true | false}

"media" attaches photos, videos and GIFs, up to 4 to a mention and 1 to a DM (as on X):
[{"type": "photo" | "video" | "animated_gif", "file_name"?, "content_type"?,
"data_base64"?}]. Without data the sandbox makes a small file: a 1x1 PNG for a photo, an
mp4 header for a video or GIF. content_type is an image/* type for a photo (image/png by
default) and video/mp4 for a video or GIF, the only type X serves them as. file_name is
the last segment of a DM medium's URL ("photo.png" by default); a post's media are named
by their media key. With media, "text" may be left out, and the delivered text ends with
the media's t.co link. The deliveries carry the media's URLs on the sandbox's own address.

A customer's DM or mention is delivered, signed with x-twitter-webhooks-signature, to each
valid webhook an account it concerns is subscribed to, in the shape of the subscription's
API: "account_activity" or "activity" ("shape" restricts it to one). The answer lists the
deliveries and how the webhooks answered. A post's XAA deliveries are post.mention.create to
the accounts its author @mentioned, and post.reply.create to the author of the post it
replies to: a mention in reply to the company's post is both, a reply typed without
@company only the second. X also delivers to an account what it sends
itself: with "echo" on (the default), the DMs and posts the service sends come back to it.
A DM the account's staff type in X's own app (/sandbox/accounts/{screen_name}/dm) carries
no source_app_id, is delivered to the account as dm.sent (AAA: a message_create from the
account) whatever "echo" says, and is not in /sandbox/sent, which lists what the service
sent. With "deliver_twice" on (off by default), every delivery is made twice, with the same
body and signature, as X's retries do.

A customer's X Chat message (/sandbox/customers/{screen_name}/chat) is encrypted and signed
with the customer's own Chat XDK keys, which the sandbox makes and registers on first use;
the company account must have registered its keys (the service does, when it connects).
The first message makes the conversation key (and a new one when either side registered
newer keys since). The message is stored as X stores it and delivered, signed, to the
account's chat.received subscriptions (with conversation_key_change_event when its key
version is new), and to the customer's chat.sent. "media" as for a DM: the file is
encrypted with the conversation key and served, encrypted, at /2/chat/media/...; the
message carries its attachment. The company's staff typing in X's own app in X Chat
cannot be played: that takes the account's private keys, which only the service holds.
GET /sandbox shows the X Chat state ("chat"): conversations and their key versions, and
each user's registered key versions; never a private or conversation key.
"""

import base64
import html
import logging
import mimetypes
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Self
from urllib.parse import unquote, urlsplit

from sandboxes.loopback import LoopbackSandbox
from sandboxes.x import oauth1
from sandboxes.x.oauth2 import (
    ACCOUNT_ACTIVITY,
    AUTHORIZE_PATH,
    DM_WRITE,
    TOKEN_PATH,
    TWEET_WRITE,
    USERS_READ,
    OAuth2,
    new_client_credentials,
)
from sandboxes.x.payloads import (
    APP_ID,
    MEDIA_KEY_PREFIXES,
    MEDIA_TYPES,
    MP4,
    PHOTO,
    SCREEN_NAME,
    Account,
    DirectMessage,
    Media,
    Post,
    Snowflakes,
    iso,
)
from sandboxes.x.web import (
    INVALID_REQUEST,
    NOT_FOUND,
    UNSUPPORTED_AUTHENTICATION,
    Call,
    Refused,
    Response,
    Server,
    form_response,
    json_response,
    oauth_error,
    page,
    problem,
    redirect,
    same_secret,
    sandbox_error,
    with_query,
)
from sandboxes.x.webhooks import SHAPES, Delivery, Webhooks
from sandboxes.x.xchat import CHAT_READ, MEDIA_READ, XChat
from sandboxes.x.xchat_customers import ChatCustomers

logger = logging.getLogger(__name__)

FAULT_ENDPOINTS = (
    "*",
    "oauth",
    "dm",
    "tweet",
    "users",
    "webhooks",
    "subscriptions",
    "media",
    "chat",
)
DEFAULT_RESET_IN = 15 * 60  # X's rate-limit windows are 15 minutes
TIMESTAMP_TOLERANCE_SECONDS = 15 * 60
MENTION = re.compile(r"(?<!\w)@(\w{1,15})\b", re.ASCII)
# Who may call a route: the app (its bearer token), a connected account (OAuth 1.0a or an
# OAuth 2.0 access token), either.
APP, USER, APP_OR_USER = "app", "user", "app or user"
MAX_POST_MEDIA, MAX_DM_MEDIA = 4, 1
IMAGE_TYPE = re.compile(r"image/[\w.+-]+", re.ASCII)
FILE_NAME = re.compile(r"\w[\w.-]{0,99}", re.ASCII)
# The files the sandbox makes when a customer attaches media without data: a 1x1 PNG, and
# an mp4's first box (ftyp).
GENERATED_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)
GENERATED_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
# X's 403 to a reply the summoned-reply rule refuses (since 2026-02-23, self-serve apps:
# x-api/posts/manage-tweets/integrate.mdx). The docs give no body; this detail is X's as
# clients met it (gptme/gptme-contrib pull request 811).
NOT_SUMMONED = (
    "Reply to this conversation is not allowed because you have not been mentioned or "
    "otherwise engaged by the author of the post you are replying to."
)
# X's 403 to a reply to a post it does not have (v1.1 error 385's message).
NO_SUCH_POST = "You attempted to reply to a Tweet that is deleted or not visible to you."


@dataclass
class _RequestToken:
    secret: str
    callback: str
    account: Account | None = None  # who approved
    verifier: str | None = None


@dataclass(frozen=True)
class _AccessToken:
    secret: str
    account: Account


@dataclass(frozen=True)
class _Attachment:
    """A photo, video or GIF a customer attaches, as asked for."""

    media_type: str
    file_name: str | None
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class _UserAction:
    """What a customer (or the company's staff, in X's app) does: who, to whom, saying and
    attaching what."""

    sender: Account
    to: Account
    text: str
    shape: str | None  # the one API to deliver through; None: both
    attachments: list[_Attachment]


@dataclass(frozen=True)
class _MediaFile:
    content_type: str
    data: bytes = field(repr=False)
    readers: frozenset[Account] | None = None  # the accounts that may fetch it; None: anyone


@dataclass
class _Fault:
    endpoint: str
    status: int
    times: int
    reset_in: int


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern
    handler: Callable[[Call, Account | None], Response]
    caller: str | None = None  # APP, USER, APP_OR_USER; None: the handler checks
    faults: str | None = None  # the FAULT_ENDPOINTS name that can fail this route
    scopes: tuple[str, ...] = ()  # what an OAuth 2.0 user token must hold for it


class XSandbox(LoopbackSandbox):
    """The sandbox X of the app `consumer_key`/`consumer_secret` (OAuth 1.0a) and
    `client_id`/`client_secret` (OAuth 2.0; new ones unless given), on host:port (port 0:
    a free one). start() serves in background threads; stop() ends them."""

    name = "X sandbox"
    server_class = Server

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ):
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        super().__init__(host, port)
        self.echo = True
        self.deliver_twice = False
        self._lock = threading.RLock()
        new_id, new_secret = new_client_credentials()
        self._oauth2 = OAuth2(
            client_id or new_id, client_secret or new_secret, self._lock, self._named
        )
        self._ids = Snowflakes()
        self._webhooks = Webhooks(consumer_secret, self._ids)
        self._bearer_token = "AAAAAAAAAAAAAAAAAAAAA" + secrets.token_urlsafe(40)
        self._accounts: dict[str, Account] = {}  # by lower-case screen name
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._nonces: set[tuple[str, int]] = set()
        self._posts: dict[str, Post] = {}
        self._media_files: dict[str, _MediaFile] = {}  # by URL path
        self._sent: list[dict] = []
        self._faults: list[_Fault] = []
        self._requests: Counter[str] = Counter()  # X API calls received, by route handler
        self._chat = XChat(
            self._lock,
            self._ids,
            self._webhooks,
            account_with_id=self._account_with_id,
            deliver=lambda deliveries: self._deliver(deliveries, later=True),
            echo=lambda: self.echo,
            record_sent=self._sent.append,
        )
        self._chat_customers = ChatCustomers(self._chat, self._lock, self._deliver)
        self._routes = self._route_table()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self._webhooks.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self._webhooks.stop()

    @property
    def client_id(self) -> str:
        return self._oauth2.client_id

    @property
    def client_secret(self) -> str:
        return self._oauth2.client_secret

    @property
    def oauth2_authorize_url(self) -> str:
        """Where the service sends an account to authorize the app (X_OAUTH2_AUTHORIZE_URL)."""
        return self.base_url + AUTHORIZE_PATH

    def drain(self, timeout: float = 10.0) -> bool:
        """Waits for the deliveries made in the background (echoes); False on timeout."""
        return self._webhooks.drain(timeout)

    # ------------------------------------------------------------ routing

    def _route_table(self) -> list[_Route]:
        hooks = self._webhooks
        dm = r"/2/dm_conversations/with/(?P<participant_id>\d+)/messages"
        webhook = r"/2/webhooks/(?P<webhook_id>\d+)"
        aaa = r"/2/account_activity/webhooks/(?P<webhook_id>\d+)/subscriptions"
        xaa = "/2/activity/subscriptions"
        public_keys = r"/2/users/(?P<user_id>\d+)/public_keys"
        conversation = r"/2/chat/conversations/(?P<conversation_id>[^/]+)"
        media = r"/2/chat/media/(?P<conversation_id>[^/]+)/(?P<media_hash_key>[A-Za-z0-9]{1,50})"
        customer_chat = "/sandbox/customers/(?P<screen_name>[^/]+)/chat"
        chat, oauth2 = self._chat, self._oauth2
        # fmt: off
        routes = [
            ("POST", "/oauth/request_token", self._request_token, None, "oauth"),
            ("GET", "/oauth/authorize", self._authorize, None, None),
            ("POST", "/oauth/access_token", self._access_token, None, "oauth"),
            ("POST", "/oauth2/token", self._app_token, None, "oauth"),
            ("GET", AUTHORIZE_PATH, oauth2.authorize, None, None),
            ("POST", TOKEN_PATH, oauth2.token, None, "oauth"),
            ("POST", dm, self._send_dm, USER, "dm", DM_WRITE),
            ("POST", "/2/tweets", self._create_post, USER, "tweet", TWEET_WRITE),
            ("GET", "/2/users/me", self._me, USER, "users", USERS_READ),
            ("GET", r"/2/users/(?P<user_id>\d+)", self._user, APP_OR_USER, "users", USERS_READ),
            ("POST", public_keys, chat.register_public_key, USER, "chat", DM_WRITE),
            ("GET", public_keys, chat.public_keys, USER, "chat", CHAT_READ),
            ("POST", conversation + "/keys", chat.add_conversation_keys, USER, "chat", DM_WRITE),
            ("POST", conversation + "/messages", chat.send_message, USER, "chat", DM_WRITE),
            ("GET", conversation + "/events", chat.conversation_events, USER, "chat", CHAT_READ),
            ("GET", media, chat.download_media, USER, "chat", MEDIA_READ),
            ("POST", "/2/webhooks/replay", hooks.replay, APP, "webhooks"),
            ("POST", "/2/webhooks", hooks.register_webhook, APP, "webhooks"),
            ("GET", "/2/webhooks", hooks.list_webhooks, APP, "webhooks"),
            ("PUT", webhook, hooks.validate_webhook, APP, "webhooks"),
            ("DELETE", webhook, hooks.delete_webhook, APP, "webhooks"),
            ("POST", aaa + "/all", hooks.subscribe_account_activity, USER, "subscriptions",
             ACCOUNT_ACTIVITY),
            ("GET", aaa + "/all", hooks.check_account_activity, USER, "subscriptions",
             ACCOUNT_ACTIVITY),
            ("GET", aaa + "/all/list", hooks.list_account_activity, APP, "subscriptions"),
            ("DELETE", aaa + r"/(?P<user_id>\d+)/all", hooks.unsubscribe_account_activity, APP,
             "subscriptions"),
            ("POST", xaa, hooks.subscribe_activity, APP_OR_USER, "subscriptions"),
            ("GET", xaa, hooks.list_activity, APP, "subscriptions"),
            ("DELETE", xaa + r"/(?P<subscription_id>\d+)", hooks.unsubscribe_activity, APP,
             "subscriptions"),
            ("GET", r"/1\.1/ton/data/dm/\d+/\d+/[^/]+", self._media_file, None, "media"),
            ("GET", r"/dm_video_preview/\d+/img/[^/]+", self._media_file, None, "media"),
            ("GET", r"/media/[^/]+", self._media_file, None, "media"),
            ("GET", "/sandbox/?", self._overview, None, None),
            ("POST", "/sandbox/customers/(?P<screen_name>[^/]+)/dm", self._typed_dm, None, None),
            ("POST", "/sandbox/customers/(?P<screen_name>[^/]+)/mention", self._customer_mention,
             None, None),
            ("POST", "/sandbox/customers/(?P<screen_name>[^/]+)/reply", self._customer_reply,
             None, None),
            ("POST", "/sandbox/customers/(?P<screen_name>[^/]+)/rename", self._rename, None,
             None),
            ("POST", customer_chat, self._customer_chat, None, None),
            ("GET", customer_chat, self._customer_chat_received, None, None),
            ("POST", customer_chat + "/rotate-key", self._customer_rotates_key, None, None),
            ("POST", "/sandbox/accounts/(?P<screen_name>[^/]+)/dm", self._typed_dm, None, None),
            ("POST", "/sandbox/accounts/(?P<screen_name>[^/]+)/revoke", self._revoke, None, None),
            ("POST", "/sandbox/accounts/(?P<screen_name>[^/]+)/expire-tokens",
             self._expire_tokens, None, None),
            ("GET", "/sandbox/sent", self._list_sent, None, None),
            ("GET", "/sandbox/deliveries", self._list_deliveries, None, None),
            ("POST", r"/sandbox/deliveries/(?P<delivery_id>\d+)/redeliver", self._redeliver, None,
             None),
            ("POST", "/sandbox/deliveries/drop", self._drop_deliveries, None, None),
            ("POST", r"/sandbox/webhooks/(?P<webhook_id>\d+)/down", self._take_down, None, None),
            ("GET", "/sandbox/faults", self._list_faults, None, None),
            ("POST", "/sandbox/faults", self._add_fault, None, None),
            ("DELETE", "/sandbox/faults", self._clear_faults, None, None),
            ("GET", "/sandbox/settings", self._settings, None, None),
            ("PUT", "/sandbox/settings", self._change_settings, None, None),
        ]
        # fmt: on
        return [_Route(method, re.compile(path), *rest) for method, path, *rest in routes]

    def _answer(self, call: Call) -> Response:
        for route in self._routes:
            found = route.path.fullmatch(call.path)
            if found and route.method == call.method:
                break
        else:
            return problem(404, "Sorry, that page does not exist.", type_=NOT_FOUND)
        if route.faults is not None:  # X's API: not the sandbox's own side, nor X's pages
            with self._lock:
                self._requests[route.handler.__name__.lstrip("_")] += 1
        call = replace(
            call, params={name: unquote(value) for name, value in found.groupdict().items()}
        )
        try:
            caller = self._caller(call, route)
            fault = self._take_fault(route.faults) if route.faults else None
            return fault or route.handler(call, caller)
        except Refused as refusal:
            return refusal.response
        except Exception:
            logger.exception("The X sandbox failed on %s %s", call.method, call.path)
            return problem(500, "The X sandbox failed; its log says why.")

    # ------------------------------------------------------------ who calls

    def _caller(self, call: Call, route: _Route) -> Account | None:
        """The connected account calling (None: the app), once X would have let it in."""
        expected = route.caller
        if expected is None:
            return None
        scheme, _, credentials = call.authorization.partition(" ")
        if scheme.lower() != "bearer":
            if expected != APP:
                return self._signed_account(call)
            if scheme == "OAuth":
                raise Refused(_unsupported("OAuth 1.0a User Context", "OAuth 2.0 Application-Only"))
            raise Refused(problem(401, "Unauthorized"))
        if same_secret(credentials, self._bearer_token):
            if expected == USER:
                raise Refused(
                    _unsupported(
                        "OAuth 2.0 Application-Only",
                        "OAuth 1.0a User Context, OAuth 2.0 User Context",
                    )
                )
            return None
        if expected == APP:
            if self._oauth2.is_access_token(credentials):
                raise Refused(_unsupported("OAuth 2.0 User Context", "OAuth 2.0 Application-Only"))
            raise Refused(problem(401, "Unauthorized"))
        account = self._oauth2.user(credentials, route.scopes)
        if account is None:
            raise Refused(problem(401, "Unauthorized"))
        return account

    def _signed_account(self, call: Call) -> Account:
        """The connected account whose access token signs the call (OAuth 1.0a)."""
        signed = self._verify(call, self._access_token_secret)
        with self._lock:
            held = self._access_tokens.get(signed.token)
        if held is None:  # revoked meanwhile
            raise Refused(problem(401, "Unauthorized"))
        return held.account

    def _access_token_secret(self, token: str | None) -> str | None:
        held = self._access_tokens.get(token or "")
        return held.secret if held else None

    def _verify(
        self, call: Call, token_secret: Callable[[str | None], str | None], *, oauth: bool = False
    ) -> oauth1.SignedRequest:
        """The call's OAuth 1.0a parameters, once its signature is checked as X checks it.
        `token_secret` gives the secret of the call's token, None for an unknown one.
        `oauth`: refuse in the error shape of X's OAuth endpoints."""
        refusal = (
            oauth_error(401, 32, "Could not authenticate you.")
            if oauth
            else problem(401, "Unauthorized")
        )
        signed = oauth1.read_authorization(call.authorization)
        if signed is None or not same_secret(signed.consumer_key, self.consumer_key):
            raise Refused(refusal)
        if abs(time.time() - signed.timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
            raise Refused(refusal)
        with self._lock:
            secret = token_secret(signed.token)
        if secret is None or not oauth1.signature_valid(
            call.method,
            call.url,
            call.authorization,
            call.body,
            call.headers.get("content-type", ""),
            self.consumer_secret,
            secret,
        ):
            raise Refused(refusal)
        with self._lock:
            if (signed.nonce, signed.timestamp) in self._nonces:
                raise Refused(refusal)  # a replayed request
            self._nonces.add((signed.nonce, signed.timestamp))
        return signed

    # ------------------------------------------------------------ 3-legged OAuth 1.0a

    def _request_token(self, call: Call, caller: None) -> Response:
        signed = self._verify(call, lambda token: "" if token is None else None, oauth=True)
        callback = signed.parameters.get("oauth_callback", "")
        parts = urlsplit(callback)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return oauth_error(403, 415, "Callback URL not approved for this client application.")
        token, secret = secrets.token_urlsafe(20), secrets.token_urlsafe(30)
        with self._lock:
            self._request_tokens[token] = _RequestToken(secret, callback)
        return form_response(
            {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}
        )

    def _authorize(self, call: Call, caller: None) -> Response:
        """X's consent page; ?approve=<screen_name> or ?deny=1 answer it at once."""
        token = call.query.get("oauth_token", "")
        screen_name = call.query.get("approve")
        with self._lock:
            request = self._request_tokens.get(token)
            if request is None or request.account is not None:
                return page(400, "This page is no longer valid", "<p>Start again from the app.</p>")
            if call.query.get("deny"):
                del self._request_tokens[token]
                return redirect(with_query(request.callback, {"denied": token}))
            if screen_name is None:
                return page(200, "Authorize Twittnow to use your account?", _consent_form(token))
            if not SCREEN_NAME.fullmatch(screen_name):
                return page(400, "Not a screen name", "<p>1 to 15 letters, digits or _.</p>")
            request.account = self._account(screen_name)
            request.verifier = secrets.token_urlsafe(24)
            parameters = {"oauth_token": token, "oauth_verifier": request.verifier}
        return redirect(with_query(request.callback, parameters))

    def _access_token(self, call: Call, caller: None) -> Response:
        def request_token_secret(token: str | None) -> str | None:
            request = self._request_tokens.get(token or "")
            return request.secret if request else None

        signed = self._verify(call, request_token_secret, oauth=True)
        verifier = signed.parameters.get("oauth_verifier") or call.form().get("oauth_verifier")
        with self._lock:
            # One successful exchange per request token. A wrong verifier is refused and
            # leaves the token for the right one (X's documentation does not say whether X
            # spends it; callers must cope with either, and the callback bounds retries).
            request = self._request_tokens.get(signed.token or "")
            if (
                request is None
                or request.account is None
                or not verifier
                or not same_secret(verifier, request.verifier)
            ):
                return oauth_error(401, 32, "Invalid oauth_verifier parameter")
            del self._request_tokens[signed.token]
            account = request.account
            # An account that approves the app again gets its token again, as on X.
            token = next(
                (token for token, held in self._access_tokens.items() if held.account == account),
                f"{account.id}-{secrets.token_urlsafe(30)}",
            )
            held = self._access_tokens.setdefault(
                token, _AccessToken(secrets.token_urlsafe(34), account)
            )
        return form_response(
            {
                "oauth_token": token,
                "oauth_token_secret": held.secret,
                "user_id": account.id,
                "screen_name": account.screen_name,
            }
        )

    def _app_token(self, call: Call, caller: None) -> Response:
        scheme, _, credentials = call.authorization.partition(" ")
        try:
            key, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except ValueError:
            key = secret = ""
        if (
            scheme.lower() != "basic"
            or not same_secret(unquote(key), self.consumer_key)
            or not same_secret(unquote(secret), self.consumer_secret)
            or call.form().get("grant_type") != "client_credentials"
        ):
            return oauth_error(403, 99, "Unable to verify your credentials")
        return json_response(200, {"token_type": "bearer", "access_token": self._bearer_token})

    # ------------------------------------------------------------ DMs and posts

    def _send_dm(self, call: Call, sender: Account) -> Response:
        text = call.json().get("text")
        if not isinstance(text, str) or not text.strip():
            return problem(400, "text: a DM needs text.", type_=INVALID_REQUEST)
        with self._lock:
            recipient = self._account_with_id(call.params["participant_id"])
        if recipient is None:
            return problem(400, "participant_id: no such user.", type_=INVALID_REQUEST)
        message = DirectMessage(
            self._ids.next(), sender, recipient, text, datetime.now(UTC), APP_ID
        )
        with self._lock:
            self._sent.append(
                {
                    "kind": "dm",
                    "time": iso(message.created_at),
                    "from": _who(sender),
                    "to": _who(recipient),
                    "text": text,
                    "dm_event_id": message.id,
                    "dm_conversation_id": message.conversation_id,
                }
            )
        self._deliver(self._webhooks.for_dm(message, to_sender=self.echo, shape=None), later=True)
        data = {"dm_conversation_id": message.conversation_id, "dm_event_id": message.id}
        return json_response(201, {"data": data})

    def _create_post(self, call: Call, author: Account) -> Response:
        body = call.json()
        text, reply = body.get("text"), body.get("reply")
        in_reply_to = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(text, str) or not text.strip():
            return problem(400, "text: a post needs text.", type_=INVALID_REQUEST)
        with self._lock:
            parent = self._posts.get(str(in_reply_to)) if in_reply_to else None
            if in_reply_to and parent is None:
                return problem(403, NO_SUCH_POST)
            if parent is not None and not _summoned(author, parent):
                return problem(403, NOT_SUMMONED)
            if any(post.author == author and post.text == text for post in self._posts.values()):
                detail = "You are not allowed to create a Tweet with duplicate content."
                return problem(403, detail)
            post = self._new_post(author, text, parent.id if parent else None)
            self._sent.append(
                {
                    "kind": "reply" if post.in_reply_to_id else "post",
                    "time": iso(post.created_at),
                    "from": _who(author),
                    "to": _who(post.in_reply_to) if post.in_reply_to else None,
                    "text": text,
                    "post_id": post.id,
                    "in_reply_to_post_id": post.in_reply_to_id,
                }
            )
        deliveries = self._webhooks.for_post(
            post, to_author=self.echo, shape=None, replied_to=parent
        )
        self._deliver(deliveries, later=True)
        data = {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}
        return json_response(201, {"data": data})

    def _new_post(
        self,
        author: Account,
        text: str,
        in_reply_to_id: str | None,
        media: tuple[Media, ...] = (),
        display_from: int = 0,
    ) -> Post:
        parent = self._posts.get(in_reply_to_id or "")
        id_ = self._ids.next()
        mentioned = {name.lower(): self._account(name) for name in MENTION.findall(text)}
        post = Post(
            id=id_,
            author=author,
            text=text,
            created_at=datetime.now(UTC),
            conversation_id=parent.conversation_id if parent else in_reply_to_id or id_,
            mentions=tuple(account for account in mentioned.values() if account != author),
            in_reply_to_id=in_reply_to_id,
            in_reply_to=parent.author if parent else None,
            media=media,
            display_from=display_from,
        )
        self._posts[post.id] = post
        return post

    def _me(self, call: Call, account: Account) -> Response:
        """The calling account: id, name and username, and the user.fields asked for."""
        fields = {"id", "name", "username", *call.query.get("user.fields", "").split(",")}
        user = {name: value for name, value in account.v2().items() if name in fields}
        return json_response(200, {"data": user})

    def _user(self, call: Call, caller: Account | None) -> Response:
        """A user by id, as _me answers; X's 200 with a not-found error for an unknown
        id (x-api/fundamentals/response-codes-and-errors.mdx, partial errors)."""
        user_id = call.params["user_id"]
        with self._lock:
            account = self._account_with_id(user_id)
        if account is None:
            error = {
                "value": user_id,
                "detail": f"Could not find user with id: [{user_id}].",
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": user_id,
                "type": NOT_FOUND,
            }
            return json_response(200, {"errors": [error]})
        return self._me(call, account)

    # ------------------------------------------------------------ acting as X's users

    def _typed_dm(self, call: Call, caller: None) -> Response:
        """A DM someone types in X's own app, from the path's screen name to "to": a
        customer writing to the company, or its staff writing to a customer. It has no app
        id, so it is not one the service sent (not in /sandbox/sent); it is delivered at
        once to both sides' subscriptions (dm.received, and dm.sent to the sender's)."""
        action = self._user_action(call, call.json(sandbox=True), most_media=MAX_DM_MEDIA)
        id_ = self._ids.next()
        participants = frozenset({action.sender, action.to})
        media = [self._dm_media(id_, item, participants) for item in action.attachments]
        message = DirectMessage(
            id_,
            action.sender,
            action.to,
            action.text,
            datetime.now(UTC),
            None,  # no source_app_id: X's own apps leave it out
            media[0] if media else None,
        )
        deliveries = self._webhooks.for_dm(message, to_sender=True, shape=action.shape)
        self._deliver(deliveries)
        return json_response(
            200,
            {
                "dm": {
                    "dm_event_id": message.id,
                    "dm_conversation_id": message.conversation_id,
                    "from": _who(action.sender),
                    "to": _who(action.to),
                    "text": action.text,
                    "media": [_media_summary(item) for item in media],
                },
                "deliveries": [delivery.summary() for delivery in deliveries],
            },
        )

    def _customer_mention(self, call: Call, caller: None) -> Response:
        body = call.json(sandbox=True)
        action = self._user_action(call, body, most_media=MAX_POST_MEDIA)
        in_reply_to = body.get("in_reply_to")
        if in_reply_to is not None and not str(in_reply_to).isdigit():
            return sandbox_error(400, "in_reply_to must be a post id.")
        text, to = action.text, action.to
        if to.screen_name.lower() not in (name.lower() for name in MENTION.findall(text)):
            text = f"@{to.screen_name} {text}".rstrip()
        media = tuple(self._post_media(item) for item in action.attachments)
        with self._lock:
            parent = self._posts.get(str(in_reply_to)) if in_reply_to else None
            post = self._new_post(
                action.sender, text, str(in_reply_to) if in_reply_to else None, media
            )
        return self._posted(post, action.shape, parent)

    def _customer_reply(self, call: Call, caller: None) -> Response:
        """The customer of the path replies to a post of the sandbox, typing no @mention:
        X puts the replied-to author's @screen_name before the text, outside its display
        range, an implicit mention (x-api/activity/event-payloads.mdx,
        "post.reply.create")."""
        body = call.json(sandbox=True)
        with self._lock:
            parent = self._posts.get(str(body.get("in_reply_to")))
            replied_to = self._account_with_id(parent.author.id) if parent else None
        if parent is None or replied_to is None:
            return sandbox_error(404, "in_reply_to must be the id of a post on the sandbox X.")
        action = self._user_action(call, body, most_media=MAX_POST_MEDIA, to=replied_to)
        prefix = "" if replied_to.id == action.sender.id else f"@{replied_to.screen_name} "
        text = prefix + action.text if action.text else prefix.rstrip()
        media = tuple(self._post_media(item) for item in action.attachments)
        with self._lock:
            post = self._new_post(
                action.sender, text, parent.id, media, display_from=min(len(prefix), len(text))
            )
        return self._posted(post, action.shape, parent)

    def _posted(self, post: Post, shape: str | None, replied_to: Post | None) -> Response:
        """Delivers a customer's post at once; the answer names it and its deliveries."""
        deliveries = self._webhooks.for_post(
            post, to_author=True, shape=shape, replied_to=replied_to
        )
        self._deliver(deliveries)
        return json_response(
            200,
            {
                "post": {
                    "id": post.id,
                    "conversation_id": post.conversation_id,
                    "from": _who(post.author),
                    "text": post.text,
                    "in_reply_to_post_id": post.in_reply_to_id,
                    "media": [_media_summary(item) for item in post.media],
                },
                "deliveries": [delivery.summary() for delivery in deliveries],
            },
        )

    def _user_action(
        self, call: Call, body: dict, *, most_media: int, to: Account | None = None
    ) -> _UserAction:
        """What the body asks the customer of the path to do, to `to` or else to the body's
        "to"; Refused (400) if it is not as the module says. With media, the text may be
        left out."""
        text, shape = body.get("text"), body.get("shape")
        names = [call.params["screen_name"]] if to else [call.params["screen_name"], body.get("to")]
        for name in names:
            if not isinstance(name, str) or not SCREEN_NAME.fullmatch(name.removeprefix("@")):
                message = f"{name!r} is not a screen name: 1 to 15 letters, digits or _."
                raise Refused(sandbox_error(400, message))
        attachments = _attachments(body.get("media", []), most_media)
        if text is None and attachments:
            text = ""
        if not isinstance(text, str) or not (text.strip() or attachments):
            raise Refused(sandbox_error(400, "text is required, unless media are attached."))
        if shape is not None and shape not in SHAPES:
            raise Refused(sandbox_error(400, f"shape must be one of: {', '.join(SHAPES)}."))
        with self._lock:
            customer = self._account(call.params["screen_name"].removeprefix("@"))
            to_account = to or self._account(body["to"].removeprefix("@"))
        return _UserAction(customer, to_account, text, shape, attachments)

    def _customer_chat(self, call: Call, caller: None) -> Response:
        action = self._user_action(call, call.json(sandbox=True), most_media=MAX_DM_MEDIA)
        return self._chat_customers.writes(
            action.sender, action.to, action.text, action.attachments
        )

    def _customer_chat_received(self, call: Call, caller: None) -> Response:
        screen_name = call.params["screen_name"].removeprefix("@")
        with self._lock:
            account = self._accounts.get(screen_name.lower())
            names = {held.id: held.screen_name for held in self._accounts.values()}
        if account is None:
            return sandbox_error(404, f"No user is @{screen_name}.")
        return self._chat_customers.received(account, names)

    def _customer_rotates_key(self, call: Call, caller: None) -> Response:
        screen_name, to = call.params["screen_name"], call.json(sandbox=True).get("to")
        if not (
            isinstance(to, str)
            and SCREEN_NAME.fullmatch(to.removeprefix("@"))
            and SCREEN_NAME.fullmatch(screen_name.removeprefix("@"))
        ):
            return sandbox_error(400, "to must be a screen name: 1 to 15 letters, digits or _.")
        with self._lock:
            customer = self._account(screen_name.removeprefix("@"))
            to_account = self._account(to.removeprefix("@"))
        return self._chat_customers.rotates(customer, to_account)

    def _rename(self, call: Call, caller: None) -> Response:
        """The customer of the path changes their screen name, as X lets a user do."""
        old = call.params["screen_name"].removeprefix("@")
        new = call.json(sandbox=True).get("screen_name")
        if not (isinstance(new, str) and SCREEN_NAME.fullmatch(new.removeprefix("@"))):
            return sandbox_error(400, "screen_name must be 1 to 15 letters, digits or _.")
        new = new.removeprefix("@")
        with self._lock:
            account = self._accounts.get(old.lower())
            if account is None:
                return sandbox_error(404, f"No user is @{old}.")
            if self._connected(account):
                return sandbox_error(409, f"@{old} has authorized the app: only customers rename.")
            if new.lower() != old.lower() and new.lower() in self._accounts:
                return sandbox_error(409, f"@{new} is taken.")
            renamed = replace(account, screen_name=new)
            del self._accounts[old.lower()]
            self._accounts[new.lower()] = renamed
        return json_response(200, {"user": _who(renamed)})

    # ------------------------------------------------------------ media

    def _dm_media(
        self, dm_id: str, attachment: _Attachment, participants: frozenset[Account]
    ) -> Media:
        """Serves a DM's medium to its participants, at a TON URL as X does."""
        media_id = self._ids.next()
        extension = _extension(attachment.content_type)
        file_name = attachment.file_name or f"{attachment.media_type}{extension}"
        path = f"/1.1/ton/data/dm/{dm_id}/{media_id}/{file_name}"
        preview = f"/dm_video_preview/{media_id}/img/preview.png"
        return self._serve(media_id, attachment, path, preview, participants)

    def _post_media(self, attachment: _Attachment) -> Media:
        """Serves a post's medium to anyone, named by its media key as on pbs.twimg.com."""
        media_id = self._ids.next()
        media_key = f"{MEDIA_KEY_PREFIXES[attachment.media_type]}_{media_id}"
        path = f"/media/{media_key}{_extension(attachment.content_type)}"
        return self._serve(media_id, attachment, path, f"/media/{media_key}.png", None)

    def _serve(
        self,
        media_id: str,
        attachment: _Attachment,
        path: str,
        preview_path: str,
        readers: frozenset[Account] | None,
    ) -> Media:
        """Serves the attachment at `path`, and a still of a video or GIF at `preview_path`,
        to `readers` (None: anyone)."""
        files = {path: _MediaFile(attachment.content_type, attachment.data, readers)}
        if attachment.media_type == PHOTO:
            preview_path = path  # a photo is its own still
        else:
            files[preview_path] = _MediaFile("image/png", GENERATED_PNG, readers)
        with self._lock:
            self._media_files.update(files)
        return Media(
            id=media_id,
            media_type=attachment.media_type,
            content_type=attachment.content_type,
            url=self.base_url + path,
            preview_url=self.base_url + preview_path,
        )

    def _media_file(self, call: Call, caller: None) -> Response:
        """A medium's file; a DM's only to its participants, as X's TON does: to a request
        signed with OAuth 1.0a as one of them."""
        with self._lock:
            media_file = self._media_files.get(call.path)
        if media_file is None:
            return problem(404, "Sorry, that page does not exist.", type_=NOT_FOUND)
        if media_file.readers is not None and self._signed_account(call) not in media_file.readers:
            return problem(401, "Unauthorized")
        return Response(200, media_file.data, content_type=media_file.content_type)

    def _revoke(self, call: Call, caller: None) -> Response:
        """The account revokes the app: its OAuth 1.0a token and OAuth 2.0 grants stop
        working (a refresh is refused), its subscriptions end, and X tells the webhooks."""
        screen_name = call.params["screen_name"].removeprefix("@")
        with self._lock:
            account = self._accounts.get(screen_name.lower())
            tokens = [
                token for token, held in self._access_tokens.items() if held.account == account
            ]
            for token in tokens:
                del self._access_tokens[token]
            granted = account is not None and self._oauth2.revoke(account)
        if not (tokens or granted):
            return sandbox_error(404, f"@{screen_name} has not authorized the app.")
        deliveries = self._webhooks.for_revoke(account)
        self._deliver(deliveries)
        return json_response(
            200,
            {
                "revoked": _who(account),
                "deliveries": [delivery.summary() for delivery in deliveries],
            },
        )

    def _expire_tokens(self, call: Call, caller: None) -> Response:
        """The account's OAuth 2.0 access tokens expire now, as two hours after they were
        issued: a call with one is refused (401) until the service refreshes."""
        screen_name = call.params["screen_name"].removeprefix("@")
        with self._lock:
            account = self._accounts.get(screen_name.lower())
        if account is None or not self._oauth2.holds(account):
            return sandbox_error(404, f"@{screen_name} has not authorized the app with OAuth 2.0.")
        expired = self._oauth2.expire(account)
        return json_response(200, {"account": _who(account), "expired_access_tokens": expired})

    # ------------------------------------------------------------ records

    def _overview(self, call: Call, caller: None) -> Response:
        with self._lock:
            accounts = [
                {
                    **_who(account),
                    "connected": self._connected(account),
                    "oauth1": self._has_oauth1_token(account),
                    "oauth2": self._oauth2.view(account),
                }
                for account in self._accounts.values()
            ]
            names = {account.id: account.screen_name for account in self._accounts.values()}
            requests = {"total": self._requests.total(), "by_route": dict(self._requests)}
        hooks = self._webhooks.overview()
        overview = {
            "app": {
                "id": APP_ID,
                "consumer_key": self.consumer_key,
                "client_id": self.client_id,
            },
            "accounts": accounts,
            "webhooks": hooks["webhooks"],
            "subscriptions": [
                {**subscription, "screen_name": names.get(subscription["user_id"])}
                for subscription in hooks["subscriptions"]
            ],
            "requests": requests,
            "settings": self._settings_view(),
            "faults": self._fault_summaries(),
            "delivery_faults": {"drops": hooks["drops"], "down_webhook_ids": hooks["down"]},
            "replay_jobs": hooks["replay_jobs"],
            "chat": self._chat.overview(names),
        }
        return json_response(200, overview)

    def _list_sent(self, call: Call, caller: None) -> Response:
        with self._lock:
            return json_response(200, list(self._sent))

    def _list_deliveries(self, call: Call, caller: None) -> Response:
        return json_response(200, self._webhooks.deliveries())

    def _redeliver(self, call: Call, caller: None) -> Response:
        delivery = self._webhooks.redeliver(call.params["delivery_id"])
        if delivery is None:
            return sandbox_error(404, "No such delivery.")
        return json_response(200, delivery.summary())

    def _drop_deliveries(self, call: Call, caller: None) -> Response:
        body = call.json(sandbox=True)
        event_type, times = body.get("event_type"), body.get("times", 1)
        if not (isinstance(event_type, str) and event_type and _whole(times) and times >= 0):
            return sandbox_error(400, "event_type is required, and times must be at least 0.")
        return json_response(200, {"drops": self._webhooks.drop(event_type, times)})

    def _take_down(self, call: Call, caller: None) -> Response:
        seconds = call.json(sandbox=True).get("seconds")
        if not (
            isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0
        ):
            return sandbox_error(400, "seconds must be a number, at least 0.")
        webhook = self._webhooks.take_down(call.params["webhook_id"], seconds)
        if webhook is None:
            return sandbox_error(404, "No such webhook.")
        return json_response(200, {"webhook": webhook.v2(), "down_for_seconds": seconds})

    # ------------------------------------------------------------ faults and settings

    def _list_faults(self, call: Call, caller: None) -> Response:
        return json_response(200, {"faults": self._fault_summaries()})

    def _add_fault(self, call: Call, caller: None) -> Response:
        body = call.json(sandbox=True)
        endpoint, status = body.get("endpoint", "*"), body.get("status")
        times, reset_in = body.get("times", 1), body.get("reset_in", DEFAULT_RESET_IN)
        if endpoint not in FAULT_ENDPOINTS:
            return sandbox_error(400, f"endpoint must be one of: {', '.join(FAULT_ENDPOINTS)}.")
        if not _whole(status) or not 400 <= status <= 599:
            return sandbox_error(400, "status must be an HTTP error status, such as 429 or 503.")
        if not (_whole(times) and times >= 1 and _whole(reset_in) and reset_in >= 0):
            return sandbox_error(400, "times must be at least 1, and reset_in at least 0.")
        with self._lock:
            self._faults.append(_Fault(endpoint, status, times, reset_in))
        return json_response(201, {"faults": self._fault_summaries()})

    def _clear_faults(self, call: Call, caller: None) -> Response:
        with self._lock:
            self._faults.clear()
        return json_response(200, {"faults": []})

    def _fault_summaries(self) -> list[dict]:
        with self._lock:
            return [vars(fault).copy() for fault in self._faults]

    def _take_fault(self, endpoint: str) -> Response | None:
        """The answer of the first fault set for `endpoint`, which it uses up once."""
        with self._lock:
            fault = next((f for f in self._faults if f.endpoint in ("*", endpoint)), None)
            if fault is None:
                return None
            fault.times -= 1
            if fault.times == 0:
                self._faults.remove(fault)
        if fault.status == HTTPStatus.TOO_MANY_REQUESTS:
            headers = (
                ("x-rate-limit-limit", "300"),
                ("x-rate-limit-remaining", "0"),
                ("x-rate-limit-reset", str(int(time.time()) + fault.reset_in)),
            )
            return replace(problem(429, "Too Many Requests"), headers=headers)
        return problem(fault.status, f"A sandbox fault on {endpoint}.")

    def _settings_view(self) -> dict:
        return {"echo": self.echo, "deliver_twice": self.deliver_twice}

    def _settings(self, call: Call, caller: None) -> Response:
        return json_response(200, self._settings_view())

    def _change_settings(self, call: Call, caller: None) -> Response:
        body = call.json(sandbox=True)
        echo = body.get("echo", self.echo)
        deliver_twice = body.get("deliver_twice", self.deliver_twice)
        if not (isinstance(echo, bool) and isinstance(deliver_twice, bool)):
            return sandbox_error(400, "echo and deliver_twice must be true or false.")
        self.echo, self.deliver_twice = echo, deliver_twice
        return self._settings(call, caller)

    # ------------------------------------------------------------ delivering

    def _deliver(self, deliveries: list[Delivery], *, later: bool = False) -> None:
        """Makes the deliveries (in the background when `later`, so that the call causing
        them is answered first); with deliver_twice, twice."""
        deliver = self._webhooks.deliver_later if later else self._webhooks.deliver
        for _ in range(2 if self.deliver_twice else 1):
            deliver(deliveries)

    # ------------------------------------------------------------ accounts

    def _account(self, screen_name: str) -> Account:
        """The account with this screen name, created on first use: with a new id when a
        user who left the screen name still has the id it would get."""
        account = self._accounts.get(screen_name.lower())
        if account is None:
            ids = {held.id for held in self._accounts.values()}
            holder = 0
            while (account := Account.named(screen_name, holder)).id in ids:
                holder += 1
            self._accounts[screen_name.lower()] = account
        return account

    def _named(self, screen_name: str) -> Account:
        with self._lock:
            return self._account(screen_name)

    def _has_oauth1_token(self, account: Account) -> bool:
        return any(held.account.id == account.id for held in self._access_tokens.values())

    def _connected(self, account: Account) -> bool:
        """Whether the account has authorized the app, with OAuth 1.0a or 2.0."""
        return self._has_oauth1_token(account) or self._oauth2.holds(account)

    def _account_with_id(self, user_id: str) -> Account | None:
        return next((account for account in self._accounts.values() if account.id == user_id), None)


def _who(account: Account) -> dict:
    return {"id": account.id, "screen_name": account.screen_name}


def _summoned(account: Account, post: Post) -> bool:
    """Whether the post's author summoned the account, which may then reply to it via the
    API: mentioned it in what they typed (the @screen_name X puts before a reply does not
    count), or is the account itself (its own thread; the docs do not restrict those).
    Quoting summons too on X; the sandbox's users do not quote."""
    return post.author.id == account.id or any(
        mentioned.id == account.id for mentioned in post.explicit_mentions
    )


def _attachments(items: object, most: int) -> list[_Attachment]:
    """The "media" of a customer action; Refused (400) when not as the module says."""
    if not isinstance(items, list) or len(items) > most:
        where = "a mention" if most == MAX_POST_MEDIA else "a DM, as on X"
        raise Refused(sandbox_error(400, f"media must be a list of at most {most} for {where}."))
    return [_attachment(item, f"media[{index}]") for index, item in enumerate(items)]


def _attachment(item: object, where: str) -> _Attachment:
    def refuse(message: str) -> Refused:
        return Refused(sandbox_error(400, f"{where}.{message}"))

    if not isinstance(item, dict) or item.get("type") not in MEDIA_TYPES:
        raise refuse(f"type must be one of: {', '.join(MEDIA_TYPES)}.")
    photo = item["type"] == PHOTO
    content_type = item.get("content_type", "image/png" if photo else MP4)
    if not (
        isinstance(content_type, str)
        and (IMAGE_TYPE.fullmatch(content_type) if photo else content_type == MP4)
    ):
        raise refuse(
            "content_type must be an image/* type for a photo, and video/mp4 for a video or "
            "GIF: X serves them as mp4."
        )
    file_name = item.get("file_name")
    if file_name is not None and not (
        isinstance(file_name, str) and FILE_NAME.fullmatch(file_name)
    ):
        raise refuse("file_name must be 1 to 100 letters, digits, '.', '_' or '-', not '.' first.")
    encoded = item.get("data_base64")
    if encoded is None:
        data = GENERATED_PNG if photo else GENERATED_MP4
    else:
        try:
            data = base64.b64decode(encoded, validate=True)
        except (TypeError, ValueError):
            data = b""
        if not data:
            raise refuse("data_base64 must be the file's bytes in base64.")
    return _Attachment(item["type"], file_name, content_type, data)


def _extension(content_type: str) -> str:
    return mimetypes.guess_extension(content_type) or ""


def _media_summary(media: Media) -> dict:
    return {
        "id": media.id,
        "media_key": media.media_key,
        "type": media.media_type,
        "content_type": media.content_type,
        "url": media.url,
        "preview_url": media.preview_url,
    }


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unsupported(used: str, supported: str) -> Response:
    detail = (
        f"Authenticating with {used} is forbidden for this endpoint. "
        f"Supported authentication types are [{supported}]."
    )
    return problem(403, detail, type_=UNSUPPORTED_AUTHENTICATION)


def _consent_form(oauth_token: str) -> str:
    token = html.escape(oauth_token, quote=True)
    return (
        "<p>Twittnow will be able to read and send your Direct Messages and post replies.</p>"
        '<form method="get" action="/oauth/authorize">'
        f'<input type="hidden" name="oauth_token" value="{token}">'
        '<p><label>Sign in as @<input name="approve" value="acme" required '
        'pattern="\\w{1,15}" maxlength="15"></label></p>'
        '<button type="submit">Authorize app</button>'
        f'<a href="/oauth/authorize?oauth_token={token}&amp;deny=1">Cancel</a>'
        "</form>"
    )
