"""Domain records shared by functions. Request and response shapes live with the
functions that take and give them."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """What the repositories store; immutable."""

    # Built on first use, not at import: a function uses a few of these records, and
    # building each at every cold start would cost them all (bench/cold_start.py).
    model_config = ConfigDict(frozen=True, defer_build=True)


class User(Record):
    """A tenant (a company using Twittnow) or an admin of the service."""

    id: str
    username: str
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    is_admin: bool = False
    password_hash: str
    created_at: datetime
    updated_at: datetime


class TokenKind(StrEnum):
    LOGIN = "login"  # from POST /auth/login/, expires after 30 days
    API_KEY = "api_key"  # the developer key from POST /api-key/, for the ServiceNow instance


class Token(Record):
    digest: str
    user_id: str
    kind: TokenKind
    created_at: datetime
    expires_at: datetime | None = None


class ServiceNowDetails(Record):
    """A tenant's ServiceNow instance and integration user. The password is in Secrets
    Manager, at `secret_arn`; it never enters this record."""

    id: str
    user_id: str
    instance_url: str
    admin_user: str
    secret_arn: str
    # The secret's version that holds the password given with this instance_url and
    # admin_user, so that a password stored by a concurrent change never goes with them.
    # None on records made before versions were kept: the current version.
    secret_version: str | None = None
    created_at: datetime
    updated_at: datetime
    # The outcome of the last check against the instance (verify, or a failing call).
    status: str = "unverified"
    status_detail: str = ""
    status_checked_at: datetime | None = None


class CustomField(Record):
    """A question the bot asks a customer before opening a case."""

    id: str
    user_id: str
    field_name: str
    message: str
    created_at: datetime
    updated_at: datetime


class AuditEntry(Record):
    """One change: who made it, to what, when, from where. Field names only, no values,
    so no secret can ever be recorded."""

    id: str
    at: datetime
    actor_id: str | None = None
    actor_username: str
    action: str
    resource_type: str
    resource_id: str
    tenant_id: str | None = None
    source_ip: str
    changed_fields: list[str] = []


class XConnection(Record):
    """A tenant's connected X account. Its access token and secret are in Secrets
    Manager, at `secret_arn`."""

    id: str
    user_id: str
    x_user_id: str
    screen_name: str
    secret_arn: str
    # The secret's version holding this connection's tokens (see ServiceNowDetails);
    # None on connections made before versions were kept: the current version.
    secret_version: str | None = None
    webhook_api: str
    webhook_id: str
    subscription_id: str
    connected_at: datetime
    updated_at: datetime
    # "connected", or "broken" once X says the account revoked us (or a call answers 401).
    status: str = "connected"
    status_detail: str = ""
    # When the account was last disconnected before this connection, if ever: events the
    # webhook accepted between then and connected_at belong to no connection.
    account_released_at: datetime | None = None
    # How the account authorized the app: "oauth2" (its calls send a bearer token), or
    # "oauth1" (signed with OAuth 1.0a), as every connection made before OAuth 2.0 was.
    auth: Literal["oauth1", "oauth2"] = "oauth1"


class OAuthRequest(Record):
    """An authorization between GET /get-auth-url and X's redirect to the callback, found
    by what X's redirect carries: the OAuth 1.0a request token, or for OAuth 2.0 the
    digest of its `state` ("oauth2:<SHA-256 hex>": the state itself is stored nowhere).
    An OAuth 2.0 request keeps its PKCE code verifier, which never leaves the service but
    to X's token endpoint, and the redirect URI the exchange must name again. One started
    from the console (GET /get-auth-url?return_to=console) sends the browser back to it."""

    oauth_token: str
    oauth_token_secret: str = Field(default="", repr=False)
    user_id: str  # the tenant that started it
    expires_at: datetime
    # Redirects whose verifier (OAuth 2.0: code) X refused: a few are allowed (a forged
    # redirect must not end the tenant's authorization), then the request is spent.
    verifier_failures: int = 0
    code_verifier: str = Field(default="", repr=False)
    redirect_uri: str = ""
    return_to_console: bool = False


class PendingXConnection(Record):
    """An X account approved on X and waiting for its tenant to confirm the connection
    (POST /twitter-callback/confirm/ with the code the approving browser was shown). Its
    tokens are sealed with that code (twittnow.confirmation_codes); nothing is subscribed
    and no event is processed for the account meanwhile."""

    code_digest: str
    user_id: str  # the tenant that started the authorization: the only one who may confirm
    x_user_id: str
    screen_name: str
    sealed_tokens: str
    expires_at: datetime


class Channel(StrEnum):
    """Where a conversation happens on X, and so how replies reach the customer."""

    DM = "dm"  # direct messages: replies go as DMs
    MENTION = "mention"  # public posts mentioning the account: replies go as reply posts


class MessageChannel(StrEnum):
    """How one message went between the customer and the company on X."""

    DM = "dm"  # a legacy (unencrypted) direct message
    X_CHAT = "x_chat"  # an end-to-end encrypted X Chat message
    POST = "post"  # a public post: a mention, or a reply in the customer's thread


class ChatMedia(BaseModel):
    """A file attached to an X Chat message: encrypted on X, downloaded by its
    `media_hash_key` and decrypted with the conversation's key of `key_version`. Holds
    no key."""

    model_config = ConfigDict(frozen=True)

    chat_conversation_id: str
    media_hash_key: str
    file_name: str
    content_type: str
    size: int
    key_version: str


class SealedChatMessage(BaseModel):
    """An X Chat message encrypted and signed, as POST /2/chat/conversations/{id}/messages
    takes it: the Chat XDK's message id (inside the signed event), the ciphertext and its
    signature, and the conversation and key version it was sealed for. Holds no key."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # built on first use, as Record

    message_id: str
    chat_conversation_id: str  # as the Chat XDK signs it: "A:B"
    key_version: str
    encoded_message_create_event: str
    encoded_message_event_signature: str


class Customer(Record):
    """A person on X who wrote to a tenant's account, and what the tenant knows of them:
    their CSM consumer (on the instance it was found on) and their custom-field answers.

    The X user id is who they are; the screen name (handle) and name are only how they are
    shown, kept as their latest message has them: X gives a released handle to the next
    user who asks for it."""

    tenant_id: str
    x_user_id: str
    screen_name: str
    name: str = ""
    # The sent_at of the message screen_name and name were read from: an older message
    # delivered late does not bring back a handle its user has left.
    screen_name_seen_at: datetime | None = None
    consumer_sys_id: str | None = None
    consumer_instance_url: str | None = None
    # The consumer's social profile that carries the X user id (its social_id), once set.
    social_profile_sys_id: str | None = None
    answers: dict[str, str] = {}  # custom field name -> the customer's answer
    created_at: datetime
    updated_at: datetime


class ConversationStatus(StrEnum):
    NEW = "new"  # no case yet: the next message opens one
    COLLECTING = "collecting"  # asking the tenant's custom fields before opening a case
    OPEN = "open"  # a case is open: messages become comments on it


class Conversation(Record):
    """One customer's thread with a tenant's account on one channel, and its current case.
    A DM conversation holds the customer's legacy DMs and X Chat messages alike."""

    id: str
    tenant_id: str
    account_id: str  # the tenant's X account
    customer_id: str  # the customer's X user id
    customer_screen_name: str
    customer_name: str = ""
    channel: Channel
    status: ConversationStatus = ConversationStatus.NEW
    case_sys_id: str | None = None
    case_number: str | None = None
    # When ServiceNow last told us the case was open (creation, a read, an event).
    case_checked_at: datetime | None = None
    # The correlation id of the case to come, from its first message, and when its
    # creation was asked: a retried create looks for the case an earlier attempt made.
    pending_case_correlation_id: str | None = None
    case_requested_at: datetime | None = None
    # The custom field the customer was asked last, while collecting, and the key of that
    # question's message (a retried or repeated message must not ask it twice).
    pending_field: str | None = None
    pending_question_key: str | None = None
    # The keys of the customer's messages held while collecting, for the case to come.
    waiting_message_keys: list[str] = []
    latest_post_id: str | None = None  # mentions: the customer's latest post, to reply to
    # DMs: the X Chat conversation with the customer, once there is one (as X gave it), and
    # how the customer's latest message came (DM or X Chat): replies go the same way.
    # None on conversations from before X Chat: legacy DMs.
    chat_conversation_id: str | None = None
    latest_channel: MessageChannel | None = None
    # How many of its messages show failed (ConversationMessage.shows_failed), kept by the
    # messages repository as they go in and out of it: a list filters on it without
    # reading threads. 0 on conversations from before it was kept.
    failed_messages: int = 0
    created_at: datetime
    last_message_at: datetime

    @staticmethod
    def id_for(tenant_id: str, account_id: str, customer_id: str, channel: Channel) -> str:
        """Stable, so that every event of the thread finds it without a lookup."""
        name = f"twittnow:{tenant_id}:{account_id}:{customer_id}:{channel}"
        return uuid.uuid5(uuid.NAMESPACE_URL, name).hex


class MessageDirection(StrEnum):
    INBOUND = "inbound"  # from the customer (or from the company's staff on X)
    OUTBOUND = "outbound"  # to the customer: acknowledgements, questions, agents' replies


class MessageStatus(StrEnum):
    RECEIVED = "received"
    WAITING_FOR_ANSWERS = "waiting_for_answers"  # held until the custom fields are answered
    ANSWERED = "answered"  # an answer to a custom-field question
    COMMENTING = "commenting"  # being written on the case (a retry checks it landed once)
    COMMENTED = "commented"  # on the case, as a comment
    CASE_CREATED = "case_created"  # in the description of the case it opened
    QUEUED = "queued"  # outbound, waiting to be sent
    DELIVERED = "delivered"  # outbound, accepted by X
    # Outbound, refused by X; or an X Chat message that could not be verified or
    # decrypted. status_detail says why.
    FAILED = "failed"


class ConversationMessage(Record):
    """One message of a conversation, either way, with what became of it."""

    conversation_id: str
    key: str  # sorts as the messages were sent: "<sortable time>#<id>"
    direction: MessageDirection
    author: str  # "customer", "staff" (the company on X), "agent" (ServiceNow), "bot"
    text: str
    media_urls: list[str] = []
    chat_media: list[ChatMedia] = []  # an X Chat message's files
    event_id: str  # X's id of an inbound message; ours (or ServiceNow's) of an outbound one
    # What X answered for an outbound message: its DM event ids or post ids (one per part).
    x_message_ids: list[str] = []
    status: MessageStatus
    status_detail: str = ""
    case_number: str | None = None
    # The media_urls (and chat_media's media_hash_keys) already attached to the case.
    media_attached: list[str] = []
    # How it went (an outbound one: once sent); None on messages from before X Chat: their
    # conversation's channel says (a DM conversation's were DMs, a mention's posts).
    channel: MessageChannel | None = None
    # An outbound X Chat message's part sealed and being sent, kept until X's answer is
    # recorded (with its id in x_message_ids), so that a retry sends that very payload:
    # X takes a message id once, so a send whose answer was lost is not delivered twice.
    pending_chat_part: SealedChatMessage | None = None
    reply_key: str | None = None  # the key of the bot's answer to it (a question, an ack)
    handled: bool = False  # every step done: X delivering it again changes nothing
    failure: str = ""  # why the last attempt to handle it failed, until one succeeds
    sent_at: datetime
    updated_at: datetime

    @property
    def shows_failed(self) -> bool:
        """Failed for good (FAILED), or its last attempt failed and none succeeded since:
        the tenant sees it failed, and its conversation counts it."""
        return self.status == MessageStatus.FAILED or (bool(self.failure) and not self.handled)


class RecoveryState(Record):
    """What the webhook and the scheduled runs know of deliveries, in one item.

    `delivered_at` is the webhook's alone (it only moves forward); the rest are the runs',
    written over the version read."""

    delivered_at: datetime | None = None  # the last accepted delivery (up to a minute early)
    checked_at: datetime | None = None  # the last run
    covered_until: datetime | None = None  # deliveries before this are had, or requested
    gap_from: datetime | None = None  # a gap seen from here, not requested yet
    gap_reason: str = ""
    version: int = 0


class ReplayRequest(Record):
    """A window X was asked to replay."""

    webhook_id: str
    from_date: str  # yyyymmddhhmm UTC, inclusive
    to_date: str  # yyyymmddhhmm UTC, inclusive
    job_id: str
    requested_at: datetime
    requested_by: Literal["service", "operator"]
    reason: str = ""
