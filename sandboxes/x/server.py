"""The sandbox X: a loopback server that behaves like the parts of X the service uses, and
lets a person or a test act as X's users. Not deployed.

X's side, as in xdevplatform/docs (twittnow.clients.x lists the pages):

    POST /oauth/request_token, GET /oauth/authorize, POST /oauth/access_token
        3-legged OAuth 1.0a, with real HMAC-SHA1 signature checks. The authorize page
        approves as any screen name; ?approve=<screen_name> or ?deny=1 redirects at once.
    POST /oauth2/token                              the app-only bearer token
    POST /2/dm_conversations/with/{id}/messages     a DM, as a connected account
    POST /2/tweets                                  a post or a reply, as a connected account
    POST, GET /2/webhooks; PUT, DELETE /2/webhooks/{id}       with X's CRC check
    POST, GET /2/account_activity/webhooks/{id}/subscriptions/all, GET .../all/list,
    DELETE .../subscriptions/{user_id}/all          Account Activity API v2
    POST, GET /2/activity/subscriptions, DELETE .../{id}      X Activity API

The sandbox's own side, JSON under /sandbox:

    GET  /sandbox                                   accounts, webhooks, subscriptions
    POST /sandbox/customers/{screen_name}/dm        {"to", "text", "shape"?}
    POST /sandbox/customers/{screen_name}/mention   {"to", "text", "in_reply_to"?, "shape"?}
    POST /sandbox/accounts/{screen_name}/revoke     the account revokes the app
    GET  /sandbox/sent                              what the service sent: DMs and posts
    GET  /sandbox/deliveries                        what the sandbox delivered to webhooks
    POST /sandbox/deliveries/{id}/redeliver         X's retry: the same signed body again
    GET, POST, DELETE /sandbox/faults               {"endpoint", "status", "times", "reset_in"}
    GET, PUT /sandbox/settings                      {"echo": true | false}

A customer's DM or mention is delivered, signed with x-twitter-webhooks-signature, to each
valid webhook an account it concerns is subscribed to, in the shape of the subscription's
API: "account_activity" or "activity" ("shape" restricts it to one). The answer lists the
deliveries and how the webhooks answered. X also delivers to an account what it sends
itself: with "echo" on (the default), the DMs and posts the service sends come back to it.
"""

import base64
import html
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Self
from urllib.parse import unquote, urlsplit

from sandboxes.loopback import LoopbackSandbox
from sandboxes.x import oauth1
from sandboxes.x.payloads import APP_ID, Account, DirectMessage, Post, Snowflakes, iso
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
from sandboxes.x.webhooks import SHAPES, Webhooks

logger = logging.getLogger(__name__)

FAULT_ENDPOINTS = ("*", "oauth", "dm", "tweet", "webhooks", "subscriptions")
DEFAULT_RESET_IN = 15 * 60  # X's rate-limit windows are 15 minutes
TIMESTAMP_TOLERANCE_SECONDS = 15 * 60
SCREEN_NAME = re.compile(r"\w{1,15}", re.ASCII)
MENTION = re.compile(r"(?<!\w)@(\w{1,15})\b", re.ASCII)
# Who may call a route: the app (bearer token), a connected account (OAuth 1.0a), either.
APP, USER, APP_OR_USER = "app", "user", "app or user"


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


class XSandbox(LoopbackSandbox):
    """The sandbox X of the app `consumer_key`/`consumer_secret`, on host:port (port 0: a
    free one). start() serves in background threads; stop() ends them."""

    name = "X sandbox"
    server_class = Server

    def __init__(
        self, consumer_key: str, consumer_secret: str, host: str = "127.0.0.1", port: int = 0
    ):
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        super().__init__(host, port)
        self.echo = True
        self._lock = threading.RLock()
        self._ids = Snowflakes()
        self._webhooks = Webhooks(consumer_secret, self._ids)
        self._bearer_token = "AAAAAAAAAAAAAAAAAAAAA" + secrets.token_urlsafe(40)
        self._accounts: dict[str, Account] = {}  # by lower-case screen name
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._nonces: set[tuple[str, int]] = set()
        self._posts: dict[str, Post] = {}
        self._sent: list[dict] = []
        self._faults: list[_Fault] = []
        self._routes = self._route_table()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self._webhooks.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self._webhooks.stop()

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
        # fmt: off
        routes = [
            ("POST", "/oauth/request_token", self._request_token, None, "oauth"),
            ("GET", "/oauth/authorize", self._authorize, None, None),
            ("POST", "/oauth/access_token", self._access_token, None, "oauth"),
            ("POST", "/oauth2/token", self._app_token, None, "oauth"),
            ("POST", dm, self._send_dm, USER, "dm"),
            ("POST", "/2/tweets", self._create_post, USER, "tweet"),
            ("POST", "/2/webhooks", hooks.register_webhook, APP, "webhooks"),
            ("GET", "/2/webhooks", hooks.list_webhooks, APP, "webhooks"),
            ("PUT", webhook, hooks.validate_webhook, APP, "webhooks"),
            ("DELETE", webhook, hooks.delete_webhook, APP, "webhooks"),
            ("POST", aaa + "/all", hooks.subscribe_account_activity, USER, "subscriptions"),
            ("GET", aaa + "/all", hooks.check_account_activity, USER, "subscriptions"),
            ("GET", aaa + "/all/list", hooks.list_account_activity, APP, "subscriptions"),
            ("DELETE", aaa + r"/(?P<user_id>\d+)/all", hooks.unsubscribe_account_activity, APP,
             "subscriptions"),
            ("POST", xaa, hooks.subscribe_activity, APP_OR_USER, "subscriptions"),
            ("GET", xaa, hooks.list_activity, APP, "subscriptions"),
            ("DELETE", xaa + r"/(?P<subscription_id>\d+)", hooks.unsubscribe_activity, APP,
             "subscriptions"),
            ("GET", "/sandbox/?", self._overview, None, None),
            ("POST", "/sandbox/customers/(?P<screen_name>[^/]+)/dm", self._customer_dm, None, None),
            ("POST", "/sandbox/customers/(?P<screen_name>[^/]+)/mention", self._customer_mention,
             None, None),
            ("POST", "/sandbox/accounts/(?P<screen_name>[^/]+)/revoke", self._revoke, None, None),
            ("GET", "/sandbox/sent", self._list_sent, None, None),
            ("GET", "/sandbox/deliveries", self._list_deliveries, None, None),
            ("POST", r"/sandbox/deliveries/(?P<delivery_id>\d+)/redeliver", self._redeliver, None,
             None),
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
        call = replace(
            call, params={name: unquote(value) for name, value in found.groupdict().items()}
        )
        try:
            caller = self._caller(call, route.caller)
            fault = self._take_fault(route.faults) if route.faults else None
            return fault or route.handler(call, caller)
        except Refused as refusal:
            return refusal.response
        except Exception:
            logger.exception("The X sandbox failed on %s %s", call.method, call.path)
            return problem(500, "The X sandbox failed; its log says why.")

    # ------------------------------------------------------------ who calls

    def _caller(self, call: Call, expected: str | None) -> Account | None:
        """The connected account calling (None: the app), once X would have let it in."""
        if expected is None:
            return None
        as_app = call.authorization.lower().startswith("bearer ")
        if expected == APP or (expected == APP_OR_USER and as_app):
            if call.authorization.startswith("OAuth "):
                raise Refused(_unsupported("OAuth 1.0a User Context", "OAuth 2.0 Application-Only"))
            if not same_secret(call.authorization, f"Bearer {self._bearer_token}"):
                raise Refused(problem(401, "Unauthorized"))
            return None
        if as_app:
            raise Refused(
                _unsupported(
                    "OAuth 2.0 Application-Only", "OAuth 1.0a User Context, OAuth 2.0 User Context"
                )
            )
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
            # One exchange per request token, right or wrong: verifiers cannot be guessed at.
            request = self._request_tokens.pop(signed.token, None)
            if (
                request is None
                or request.account is None
                or not verifier
                or not same_secret(verifier, request.verifier)
            ):
                return oauth_error(401, 32, "Invalid oauth_verifier parameter")
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
        self._webhooks.deliver_later(
            self._webhooks.for_dm(message, to_sender=self.echo, shape=None)
        )
        data = {"dm_conversation_id": message.conversation_id, "dm_event_id": message.id}
        return json_response(201, {"data": data})

    def _create_post(self, call: Call, author: Account) -> Response:
        body = call.json()
        text, reply = body.get("text"), body.get("reply")
        in_reply_to = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(text, str) or not text.strip():
            return problem(400, "text: a post needs text.", type_=INVALID_REQUEST)
        with self._lock:
            if any(post.author == author and post.text == text for post in self._posts.values()):
                detail = "You are not allowed to create a Tweet with duplicate content."
                return problem(403, detail)
            post = self._new_post(author, text, str(in_reply_to) if in_reply_to else None)
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
        self._webhooks.deliver_later(self._webhooks.for_post(post, to_author=self.echo, shape=None))
        data = {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}
        return json_response(201, {"data": data})

    def _new_post(self, author: Account, text: str, in_reply_to_id: str | None) -> Post:
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
        )
        self._posts[post.id] = post
        return post

    # ------------------------------------------------------------ acting as X's users

    def _customer_dm(self, call: Call, caller: None) -> Response:
        customer, to, text, shape = self._customer_action(call, call.json(sandbox=True))
        message = DirectMessage(self._ids.next(), customer, to, text, datetime.now(UTC), None)
        deliveries = self._webhooks.for_dm(message, to_sender=True, shape=shape)
        self._webhooks.deliver(deliveries)
        return json_response(
            200,
            {
                "dm": {
                    "dm_event_id": message.id,
                    "dm_conversation_id": message.conversation_id,
                    "from": _who(customer),
                    "to": _who(to),
                    "text": text,
                },
                "deliveries": [delivery.summary() for delivery in deliveries],
            },
        )

    def _customer_mention(self, call: Call, caller: None) -> Response:
        body = call.json(sandbox=True)
        customer, to, text, shape = self._customer_action(call, body)
        in_reply_to = body.get("in_reply_to")
        if in_reply_to is not None and not str(in_reply_to).isdigit():
            return sandbox_error(400, "in_reply_to must be a post id.")
        if to.screen_name.lower() not in (name.lower() for name in MENTION.findall(text)):
            text = f"@{to.screen_name} {text}"
        with self._lock:
            post = self._new_post(customer, text, str(in_reply_to) if in_reply_to else None)
        deliveries = self._webhooks.for_post(post, to_author=True, shape=shape)
        self._webhooks.deliver(deliveries)
        return json_response(
            200,
            {
                "post": {
                    "id": post.id,
                    "conversation_id": post.conversation_id,
                    "from": _who(customer),
                    "text": text,
                    "in_reply_to_post_id": post.in_reply_to_id,
                },
                "deliveries": [delivery.summary() for delivery in deliveries],
            },
        )

    def _customer_action(self, call: Call, body: dict) -> tuple[Account, Account, str, str | None]:
        """The customer, the account addressed, the text, and the shape asked for."""
        to, text, shape = body.get("to"), body.get("text"), body.get("shape")
        for name in (call.params["screen_name"], to):
            if not isinstance(name, str) or not SCREEN_NAME.fullmatch(name.removeprefix("@")):
                message = f"{name!r} is not a screen name: 1 to 15 letters, digits or _."
                raise Refused(sandbox_error(400, message))
        if not isinstance(text, str) or not text.strip():
            raise Refused(sandbox_error(400, "text is required."))
        if shape is not None and shape not in SHAPES:
            raise Refused(sandbox_error(400, f"shape must be one of: {', '.join(SHAPES)}."))
        with self._lock:
            customer = self._account(call.params["screen_name"].removeprefix("@"))
            return customer, self._account(to.removeprefix("@")), text, shape

    def _revoke(self, call: Call, caller: None) -> Response:
        """The account revokes the app: its token stops working, its subscriptions end, and
        X tells the webhooks."""
        screen_name = call.params["screen_name"].removeprefix("@")
        with self._lock:
            account = self._accounts.get(screen_name.lower())
            tokens = [
                token for token, held in self._access_tokens.items() if held.account == account
            ]
            for token in tokens:
                del self._access_tokens[token]
        if not tokens:
            return sandbox_error(404, f"@{screen_name} has not authorized the app.")
        deliveries = self._webhooks.for_revoke(account)
        self._webhooks.deliver(deliveries)
        return json_response(
            200,
            {
                "revoked": _who(account),
                "deliveries": [delivery.summary() for delivery in deliveries],
            },
        )

    # ------------------------------------------------------------ records

    def _overview(self, call: Call, caller: None) -> Response:
        with self._lock:
            connected = {held.account for held in self._access_tokens.values()}
            accounts = [
                {**_who(account), "connected": account in connected}
                for account in self._accounts.values()
            ]
            names = {account.id: account.screen_name for account in self._accounts.values()}
        hooks = self._webhooks.overview()
        overview = {
            "app": {"id": APP_ID, "consumer_key": self.consumer_key},
            "accounts": accounts,
            "webhooks": hooks["webhooks"],
            "subscriptions": [
                {**subscription, "screen_name": names.get(subscription["user_id"])}
                for subscription in hooks["subscriptions"]
            ],
            "settings": {"echo": self.echo},
            "faults": self._fault_summaries(),
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

    def _settings(self, call: Call, caller: None) -> Response:
        return json_response(200, {"echo": self.echo})

    def _change_settings(self, call: Call, caller: None) -> Response:
        echo = call.json(sandbox=True).get("echo")
        if not isinstance(echo, bool):
            return sandbox_error(400, "echo must be true or false.")
        self.echo = echo
        return self._settings(call, caller)

    # ------------------------------------------------------------ accounts

    def _account(self, screen_name: str) -> Account:
        """The account with this screen name, created on first use."""
        return self._accounts.setdefault(screen_name.lower(), Account.named(screen_name))

    def _account_with_id(self, user_id: str) -> Account | None:
        return next((account for account in self._accounts.values() if account.id == user_id), None)


def _who(account: Account) -> dict:
    return {"id": account.id, "screen_name": account.screen_name}


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
