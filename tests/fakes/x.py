"""A fake of X's API (twittnow.clients.x.XClient) as the app: OAuth, webhooks and
subscriptions, DMs, reply posts, media and X Chat (ciphertext and public keys only: a
customer's side of a chat is tests.fakes.chat.ChatCustomer). It records what was sent and raises what a test
scripts with `fail`, using the real client's exceptions."""

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from urllib.parse import parse_qsl, urlencode, urlsplit

from sandboxes.x import chat_events
from tests.fakes.chat import key_change_event
from tests.fakes.scripted import Scripted
from twittnow import clock
from twittnow.clients.x import (
    ACTIVITY_EVENT_TYPES,
    DEFAULT_MAX_MEDIA_BYTES,
    OAUTH2_SCOPES,
    AccessToken,
    AccountCredentials,
    BearerCredentials,
    ChatEvent,
    ChatEventsPage,
    DownloadedMedia,
    OAuth2Tokens,
    PublicKeyRecord,
    RequestToken,
    UserCredentials,
    Webhook,
    WebhookApi,
    XChatNeedsOAuth2,
    XConnectionBroken,
    XMediaRefused,
    XNotFound,
    XRequestRejected,
    XUnavailable,
    XUser,
)
from twittnow.clients.x.media import X_MEDIA_DOMAIN, X_MEDIA_HOSTS


@dataclass(frozen=True)
class Sent:
    """A DM (`to` the recipient's X user id) or a reply post (`to` the post it answers),
    sent as the account whose `credentials` it was signed with."""

    id: str
    credentials: AccountCredentials
    to: str
    text: str


@dataclass(frozen=True)
class ChatSent:
    """An X Chat message sent as the account whose `credentials` it went with."""

    credentials: AccountCredentials
    conversation_id: str  # as the call named it (X's paths join a 1:1's ids with "-")
    message_id: str
    encoded_message_create_event: str
    encoded_message_event_signature: str


def _key_version_of(encoded_message_create_event: str) -> str:
    """The conversation key version a message was encrypted with, as X reads it."""
    create_event = chat_events.read_struct(base64.b64decode(encoded_message_create_event))
    version = create_event.get(chat_events.CREATE_EVENT_KEY_VERSION)
    return version.decode() if isinstance(version, bytes) else ""


def _s256(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Authorization:
    """An OAuth 2.0 code X's authorize page gave: for that redirect URI and PKCE
    challenge, good once."""

    redirect_uri: str
    code_challenge: str


class FakeX(Scripted):
    """Also its own builder: Ports.x builds the client on first use, and here answers this
    one (`fake_ports(x=FakeX())`, then `ports.x` is the fake)."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = count(1)
        # The account that approves the app on X's page, and the verifier X's redirect
        # carries: access_token refuses any other (a forged redirect).
        self.account = AccessToken(
            user_id="900",
            screen_name="acme_support",
            credentials=UserCredentials("access-token-900", "access-secret-900"),
        )
        self.verifier = "verifier"
        # OAuth 2.0: the account approve() authorizes (as X's page does), the codes it gave
        # (exchange_code takes each once, with the verifier of its challenge), and the
        # access tokens exchange_code made (me() answers their account).
        self.oauth2_account = XUser(id="900", username="acme_support")
        self.codes: dict[str, Authorization] = {}
        self.access_tokens: dict[str, XUser] = {}
        # The refresh tokens that work now (X rotates them: each works once), and how many
        # refreshes X made and refused.
        self.refresh_tokens: dict[str, XUser] = {}
        self.refreshes = 0
        self.refused_refreshes = 0
        self.webhooks: list[Webhook] = []
        # Replays requested ((webhook id, from_date, to_date)), and the webhooks whose CRC
        # check fails when X runs it again (validate_webhook).
        self.replays: list[tuple[str, str, str]] = []
        self.crc_failing: set[str] = set()
        self.subscriptions: dict[str, tuple[WebhookApi, str]] = {}  # X user id -> (api, webhook id)
        self.dms: list[Sent] = []
        self.posts: list[Sent] = []
        self.media: dict[str, DownloadedMedia] = {}  # by URL: what download_media finds
        # X Chat: users' registered public keys; the key changes posted ((path id, body));
        # the messages sent; each conversation's history (by "A:B" id, newest first) and
        # the key-change events its pages' meta carries; encrypted media by (conversation,
        # media hash key); the users get_user knows.
        self.chat_public_keys: dict[str, list[PublicKeyRecord]] = {}
        self.chat_key_changes: list[tuple[str, dict]] = []
        self.chat_messages: list[ChatSent] = []
        self.chat_history: dict[str, list[ChatEvent]] = {}
        self.chat_key_change_events: dict[str, list[str]] = {}
        self.chat_page_size = 100
        self.chat_media: dict[tuple[str, str], bytes] = {}
        self.users: dict[str, XUser] = {}
        # Each conversation's latest key version as X knows it (by "A:B" id): set by the
        # account's key changes (which also go in the history's key-change events), and by
        # a test for a customer's. A message under another is refused
        # (NonLatestKeyVersion), as the sandbox X does.
        self.chat_key_versions: dict[str, str] = {}
        # By method (send_chat_message, add_conversation_keys): how many calls from now X
        # carries out but whose answer never comes (XUnavailable, as a timeout).
        self.answers_lost: dict[str, int] = {}

    def __call__(self) -> "FakeX":
        return self

    # ------------------------------------------------------------ for tests

    def register_webhook(self, url: str) -> Webhook:
        """As `python -m ops webhooks register` does (not recorded as a call)."""
        webhook = Webhook(id=f"webhook-{next(self._ids)}", url=url, valid=True, created_at=None)
        self.webhooks.append(webhook)
        return webhook

    def set_webhook_valid(self, webhook_id: str, valid: bool) -> None:
        """As X marks a webhook (GET /2/webhooks shows it)."""
        self.webhooks = [
            webhook._replace(valid=valid) if webhook.id == webhook_id else webhook
            for webhook in self.webhooks
        ]

    def add_media(
        self, url: str, data: bytes = b"\xff\xd8", content_type: str = "image/jpeg"
    ) -> None:
        self.media[url] = DownloadedMedia(urlsplit(url).path.rsplit("/", 1)[-1], content_type, data)

    def approve(self, auth_url: str, account: XUser | None = None) -> tuple[str, str]:
        """The account's owner approves on X's page at `auth_url` (as `account`, else
        oauth2_account): answers the (code, state) X's redirect carries."""
        query = dict(parse_qsl(urlsplit(auth_url).query))
        code = f"code-{next(self._ids)}"
        self.codes[code] = Authorization(query["redirect_uri"], query["code_challenge"])
        if account is not None:
            self.oauth2_account = account
        return code, query["state"]

    # ------------------------------------------------------------ XApi

    def request_token(self, callback_url: str) -> RequestToken:
        self._called("request_token", callback_url=callback_url)
        number = next(self._ids)
        return RequestToken(f"request-token-{number}", f"request-secret-{number}")

    def authorize_url(self, oauth_token: str) -> str:
        return f"https://api.x.com/oauth/authorize?{urlencode({'oauth_token': oauth_token})}"

    def access_token(self, request_token: RequestToken, verifier: str) -> AccessToken:
        self._called("access_token", request_token=request_token, verifier=verifier)
        if verifier != self.verifier:
            raise XRequestRejected("X refused to exchange the verifier (401).", status_code=401)
        return self.account

    def oauth2_authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        self._called("oauth2_authorize_url", redirect_uri=redirect_uri)
        query = {
            "response_type": "code",
            "client_id": "fake-client-id",
            "redirect_uri": redirect_uri,
            "scope": " ".join(OAUTH2_SCOPES),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"https://x.com/i/oauth2/authorize?{urlencode(query)}"

    def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> OAuth2Tokens:
        """As X: a code approve() gave, once, for its redirect URI and the verifier of its
        challenge (S256); else XRequestRejected (400)."""
        self._called(
            "exchange_code", code=code, code_verifier=code_verifier, redirect_uri=redirect_uri
        )
        authorization = self.codes.get(code)
        if (
            authorization is None
            or authorization.redirect_uri != redirect_uri
            or authorization.code_challenge != _s256(code_verifier)
        ):
            raise XRequestRejected(
                "X refused the authorization code: it is wrong, expired or already used",
                status_code=400,
            )
        del self.codes[code]
        return self._issue(self.oauth2_account)

    def refresh_oauth2(self, refresh_token: str) -> OAuth2Tokens:
        """As X: a refresh token it issued and nobody used, once (rotated: the answer
        carries the next one); else XRequestRejected (400 invalid_request)."""
        self._called("refresh_oauth2", refresh_token=refresh_token)
        account = self.refresh_tokens.pop(refresh_token, None)
        if account is None:
            self.refused_refreshes += 1
            raise XRequestRejected(
                "X refused the refresh token: it is revoked or already used", status_code=400
            )
        self.refreshes += 1
        return self._issue(account)

    def issue_tokens(self, account: XUser | None = None) -> OAuth2Tokens:
        """For tests: tokens of an OAuth 2.0 grant (of oauth2_account unless `account`),
        as if approved and exchanged (not recorded as a call)."""
        return self._issue(account or self.oauth2_account)

    def _issue(self, account: XUser) -> OAuth2Tokens:
        number = next(self._ids)
        access_token = f"oauth2-access-{number}"
        self.access_tokens[access_token] = account
        self.refresh_tokens[f"oauth2-refresh-{number}"] = account
        return OAuth2Tokens(
            access_token=access_token,
            refresh_token=f"oauth2-refresh-{number}",
            expires_at=clock.now() + timedelta(hours=2),
            scope=" ".join(OAUTH2_SCOPES),
        )

    def me(self, user: AccountCredentials) -> XUser:
        self._called("me", user=user)
        account = (
            self.access_tokens.get(user.access_token)
            if isinstance(user, BearerCredentials)
            else XUser(self.account.user_id, self.account.screen_name)
        )
        if account is None:
            raise XConnectionBroken("X refused the token (401 Unauthorized).", status_code=401)
        return account

    def list_webhooks(self) -> list[Webhook]:
        self._called("list_webhooks")
        return list(self.webhooks)

    def validate_webhook(self, webhook_id: str) -> None:
        """X's CRC check again: valid unless the webhook is in crc_failing
        (XRequestRejected, as CrcValidationFailed); an unknown id is XRequestRejected, as
        X's WebhookIdInvalid."""
        self._called("validate_webhook", webhook_id=webhook_id)
        if webhook_id not in {webhook.id for webhook in self.webhooks}:
            raise XRequestRejected("WebhookIdInvalid", status_code=400)
        valid = webhook_id not in self.crc_failing
        self.set_webhook_valid(webhook_id, valid)
        if not valid:
            raise XRequestRejected("CrcValidationFailed", status_code=400)

    def replay_webhook(self, webhook_id: str, from_date: str, to_date: str) -> str:
        """Records the replay (x.replays); job ids "job-<n>". An unknown webhook is
        XRequestRejected (WebhookIdInvalid)."""
        self._called("replay_webhook", webhook_id=webhook_id, from_date=from_date, to_date=to_date)
        if webhook_id not in {webhook.id for webhook in self.webhooks}:
            raise XRequestRejected("WebhookIdInvalid", status_code=400)
        self.replays.append((webhook_id, from_date, to_date))
        return f"job-{next(self._ids)}"

    def subscribe(
        self, api: WebhookApi, webhook_id: str, user_id: str, user: AccountCredentials
    ) -> str:
        """As X answers: for AAA the user id, for XAA an id per event type; an account
        subscribed already is fine."""
        self._called("subscribe", api=api, webhook_id=webhook_id, user_id=user_id, user=user)
        if not any(webhook.id == webhook_id for webhook in self.webhooks):
            raise XRequestRejected("X refused to subscribe the account: WebhookIdInvalid.")
        self.subscriptions[user_id] = (api, webhook_id)
        if api is WebhookApi.ACCOUNT_ACTIVITY:
            return user_id
        return ",".join(f"{user_id}-{event_type}" for event_type in ACTIVITY_EVENT_TYPES)

    def unsubscribe(
        self, api: WebhookApi, webhook_id: str, user_id: str, subscription_id: str
    ) -> None:
        """A subscription already gone is fine."""
        self._called(
            "unsubscribe",
            api=api,
            webhook_id=webhook_id,
            user_id=user_id,
            subscription_id=subscription_id,
        )
        self.subscriptions.pop(user_id, None)

    def send_dm(self, user: AccountCredentials, participant_id: str, text: str) -> str:
        self._called("send_dm", user=user, participant_id=participant_id, text=text)
        dm = Sent(f"dm-{next(self._ids)}", user, participant_id, text)
        self.dms.append(dm)
        return dm.id

    def reply(self, user: AccountCredentials, in_reply_to_post_id: str, text: str) -> str:
        self._called("reply", user=user, in_reply_to_post_id=in_reply_to_post_id, text=text)
        post = Sent(f"post-{next(self._ids)}", user, in_reply_to_post_id, text)
        self.posts.append(post)
        return post.id

    # ------------------------------------------------------------ X Chat

    def public_keys(self, user: AccountCredentials, user_id: str) -> list[PublicKeyRecord]:
        self._called("public_keys", user=user, user_id=user_id)
        _needs_oauth2(user)
        return list(self.chat_public_keys.get(user_id, []))

    def add_public_key(
        self, user: AccountCredentials, user_id: str, registration_payload: dict
    ) -> str:
        """Registers the payload's keys under its version, as X answers it."""
        self._called(
            "add_public_key", user=user, user_id=user_id, registration_payload=registration_payload
        )
        _needs_oauth2(user)
        keys = registration_payload["public_key"]
        version = str(registration_payload["version"])
        self.chat_public_keys.setdefault(user_id, []).append(
            PublicKeyRecord(
                public_key_version=version,
                public_key=keys["public_key"],
                signing_public_key=keys["signing_public_key"],
                identity_public_key_signature=keys["identity_public_key_signature"],
            )
        )
        return version

    def add_conversation_keys(
        self, user: AccountCredentials, conversation_or_recipient_id: str, body: dict
    ) -> tuple[str, str]:
        """Records the key change; answers the 1:1's canonical id ("A-B", in numeric
        order) and a sequence id."""
        self._called(
            "add_conversation_keys",
            user=user,
            conversation_or_recipient_id=conversation_or_recipient_id,
            body=body,
        )
        _needs_oauth2(user)
        self.chat_key_changes.append((conversation_or_recipient_id, body))
        ids = conversation_or_recipient_id.replace(":", "-").split("-")
        if len(ids) == 1:
            ids.append(self._chat_account(user))
        ids.sort(key=int)
        conversation = ":".join(ids)
        self.chat_key_versions[conversation] = str(body["conversation_key_version"])
        self.chat_key_change_events.setdefault(conversation, []).insert(
            0,
            key_change_event(
                sequence_id=str(next(self._ids)),
                sender_id=self._chat_account(user),
                conversation_id=conversation,
                action_signature=body["action_signatures"][0],
            ),
        )
        self._answer_lost("add_conversation_keys")
        return "-".join(ids), str(next(self._ids))

    def send_chat_message(
        self,
        user: AccountCredentials,
        conversation_id: str,
        message_id: str,
        encoded_message_create_event: str,
        encoded_message_event_signature: str,
    ) -> str:
        self._called(
            "send_chat_message",
            user=user,
            conversation_id=conversation_id,
            message_id=message_id,
        )
        _needs_oauth2(user)
        if any(sent.message_id == message_id for sent in self.chat_messages):
            return f"encoded-event-of-{message_id}"  # a retry: the message stored, once
        key = ":".join(sorted(conversation_id.replace("-", ":").split(":"), key=int))
        latest = self.chat_key_versions.get(key)
        if latest is not None and _key_version_of(encoded_message_create_event) != latest:
            raise XRequestRejected(
                "X refused to send an X Chat message (400 Bad Request): NonLatestKeyVersion: "
                f"the conversation's key version is {latest}.",
                status_code=400,
            )
        self.chat_messages.append(
            ChatSent(
                user,
                conversation_id,
                message_id,
                encoded_message_create_event,
                encoded_message_event_signature,
            )
        )
        self._answer_lost("send_chat_message")
        return f"encoded-event-of-{message_id}"

    def conversation_events(
        self, user: AccountCredentials, conversation_id: str, pagination: str | None = None
    ) -> ChatEventsPage:
        """The conversation's history (chat_history), chat_page_size events a page."""
        self._called(
            "conversation_events", user=user, conversation_id=conversation_id, pagination=pagination
        )
        _needs_oauth2(user)
        key = ":".join(sorted(conversation_id.replace("-", ":").split(":"), key=int))
        history = self.chat_history.get(key, [])
        start = int(pagination or 0)
        end = start + self.chat_page_size
        return ChatEventsPage(
            events=history[start:end],
            key_change_events=list(self.chat_key_change_events.get(key, [])),
            next_token=str(end) if end < len(history) else None,
        )

    def download_chat_media(
        self,
        user: AccountCredentials,
        conversation_id: str,
        media_hash_key: str,
        max_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
    ) -> bytes:
        self._called(
            "download_chat_media",
            user=user,
            conversation_id=conversation_id,
            media_hash_key=media_hash_key,
            max_bytes=max_bytes,
        )
        _needs_oauth2(user)
        key = ":".join(sorted(conversation_id.replace("-", ":").split(":"), key=int))
        data = self.chat_media.get((key, media_hash_key))
        if data is None:
            raise XNotFound("X refused to download X Chat media (404 Not Found).", status_code=404)
        if len(data) > max_bytes:
            raise XMediaRefused(f"The media is larger than {max_bytes} bytes.")
        return data

    def get_user(self, user: AccountCredentials, user_id: str) -> XUser:
        self._called("get_user", user=user, user_id=user_id)
        found = self.users.get(user_id)
        if found is None:
            raise XNotFound("X refused to read an X user (404 Not Found).", status_code=404)
        return found

    def _answer_lost(self, method: str) -> None:
        """Done, but the answer is lost when answers_lost says so."""
        if self.answers_lost.get(method):
            self.answers_lost[method] -= 1
            raise XUnavailable(f"X did not answer within 10 seconds ({method}).")

    def _chat_account(self, user: AccountCredentials) -> str:
        account = self.access_tokens.get(user.access_token)
        if account is None:
            raise XConnectionBroken("X refused the token (401 Unauthorized).", status_code=401)
        return account.id

    def download_media(
        self, user: AccountCredentials, url: str, max_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    ) -> DownloadedMedia:
        """A file added with add_media; refused, as by the client, off X's media hosts or
        past `max_bytes`; XNotFound for any other."""
        self._called("download_media", user=user, url=url, max_bytes=max_bytes)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or not (host in X_MEDIA_HOSTS or host.endswith(X_MEDIA_DOMAIN)):
            raise XMediaRefused(f"Media is downloaded from X's media hosts only, not {host}.")
        media = self.media.get(url)
        if media is None:
            raise XNotFound("X refused to download media (404 Not Found).", status_code=404)
        if len(media.data) > max_bytes:
            raise XMediaRefused(f"The media file is larger than {max_bytes} bytes.")
        return media


def _needs_oauth2(user: AccountCredentials) -> None:
    """As the client: X Chat calls go with an OAuth 2.0 bearer token only."""
    if not isinstance(user, BearerCredentials):
        raise XChatNeedsOAuth2("X Chat works with accounts connected with OAuth 2.0.")
