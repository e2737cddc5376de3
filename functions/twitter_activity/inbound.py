"""The inbound processor's domain: one X event at a time, from the webhook's queue, to
ServiceNow.

A customer's DM, X Chat message, mention or reply in the company's thread becomes a
comment on their open case, or opens a case once the tenant's custom fields are answered,
and the customer is told the case number. The company's own DMs and X Chat messages are
either our echoes (dropped) or staff typing in X's app (recorded on the case). A revoke
marks the tenant's X connection broken.

X Chat messages arrive encrypted: they are verified and decrypted here (twittnow.xchat,
failing closed), then go the way of DMs, in the customer's one DM conversation, found by
their signed message id: one that cannot be verified or decrypted is recorded as failed
in the conversation, with why.

Every step can be retried: the queue redelivers an event until it is handled, and X
delivers some twice. Each step leaves a mark in DynamoDB before or after its call to
ServiceNow or X (the message's status, the conversation's pending correlation id, the
outbound message's X ids), so a retry resumes where the last attempt stopped and nothing
happens twice.
"""

from datetime import timedelta

from twittnow import (
    audit,
    clock,
    consumers,
    correlation_ids,
    customer_channel,
    recovery,
    servicenow_instances,
    x_accounts,
    xchat,
)
from twittnow.clients.servicenow import (
    Case,
    ServiceNowBadCredentials,
    ServiceNowMissingRole,
    ServiceNowNotFound,
)
from twittnow.clients.x import (
    DEFAULT_MAX_MEDIA_BYTES,
    AccountCredentials,
    XConnectionBroken,
    XError,
    XMediaRefused,
    XNotFound,
    XReplyNotAllowed,
    XRequestRejected,
)
from twittnow.instance_urls import InvalidInstanceUrl
from twittnow.models import (
    Channel,
    ChatMedia,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Customer,
    MessageChannel,
    MessageDirection,
    MessageStatus,
    ServiceNowDetails,
    XConnection,
)
from twittnow.observability import annotate_tenant, count, logger
from twittnow.ports import Ports, ServiceNowApi
from twittnow.retries import TENANT_ACTION_WAIT_SECONDS, RetryLater
from twittnow.x_events import (
    AccountRevoked,
    ChatMessage,
    DirectMessageReceived,
    DirectMessageSent,
    Mention,
    XEvent,
)
from twittnow.xchat import ChatAttachment, ChatUndecryptable, DecryptedChatMessage

# A case read from ServiceNow (or written to) more recently than this is taken as still
# open; the update set's events say at once when an agent resolves or closes one.
CASE_STATE_FRESH_FOR = timedelta(minutes=10)
# Our own DM's echo can arrive before its id is recorded, within this long of sending.
ECHO_RACE_WINDOW = timedelta(seconds=30)
ECHO_RECHECK_SECONDS = 5
CUSTOMER = "customer"
STAFF = "staff"
BOT = "bot"


def handle(ports: Ports, event: XEvent) -> None:
    match event:
        case AccountRevoked():
            _account_revoked(ports, event)
        case DirectMessageSent():
            _sent_by_account(ports, event)
        case DirectMessageReceived() | Mention():
            connection = _connection_of(ports, event)
            if connection is not None:
                _customer_message(ports, connection, event).run()
        case ChatMessage():
            connection = _connection_of(ports, event)
            if connection is not None:
                _chat_message(ports, connection, event)


def _customer_message(
    ports: Ports, connection: XConnection, event: DirectMessageReceived | Mention
) -> "CustomerMessage":
    """A thread reply X delivered without its author (event-payloads.mdx's own
    post.reply.create has "includes": {}) is named from the customer's records or by X."""
    if event.customer_screen_name:
        return CustomerMessage.received(ports, connection, event)
    credentials = x_accounts.credentials_of(ports, connection)
    screen_name, name = _customer_names(ports, connection, credentials, event.customer_id)
    named = event.model_copy(update={"customer_screen_name": screen_name, "customer_name": name})
    return CustomerMessage.received(ports, connection, named, names_from_event=False)


def record_failure(ports: Ports, event: XEvent, reason: str) -> None:
    """The event's last attempt failed: its message shows why, in the conversation. Its
    status stays the mark of the last step done, so that a redrive resumes from there."""
    if isinstance(event, ChatMessage):
        _record_chat_failure(ports, event, reason)
        return
    if not isinstance(event, DirectMessageReceived | Mention):
        return
    connection = ports.credentials.x_by_account(event.account_id)
    if connection is None:
        return
    conversation = ports.conversations.get(_conversation_id(connection, event))
    message = ports.messages.get(conversation.id, _message_key(event)) if conversation else None
    if message is not None:
        ports.messages.update(message, failure=reason, updated_at=clock.now())


# ---------------------------------------------------------------- the account's own events


def _account_revoked(ports: Ports, event: AccountRevoked) -> None:
    connection = ports.credentials.x_by_account(event.account_id)
    # A revoke older than the connection's last change (a reconnect) is history; X gives
    # its time in whole seconds.
    if connection is None or connection.updated_at.replace(microsecond=0) > event.revoked_at:
        return
    annotate_tenant(connection.user_id)
    x_accounts.mark_broken(
        ports,
        connection,
        f"@{connection.screen_name} revoked Twittnow's access on X at "
        f"{clock.isoformat(event.revoked_at)}; connect the account again.",
        by=audit.X,
    )


def _sent_by_account(ports: Ports, event: DirectMessageSent) -> None:
    """Our own DM coming back (dropped), or one the company's staff typed in X's app,
    which goes on the customer's open case as the company's comment."""
    # Only a DM sent through an app can be our echo: one typed in X's own app (no app id)
    # is staff's, even while the service is sending the customer a DM.
    if _is_our_echo(ports, event, event.event_id, maybe_ours=event.sent_by_app_id is not None):
        return
    connection = _connection_of(ports, event)
    if connection is None:
        return
    conversation = ports.conversations.get(_dm_conversation_id(connection, event.recipient_id))
    if conversation is None:
        return  # staff wrote to someone who never wrote to the account: not a support thread
    StaffMessage(ports, connection, event, conversation).run()


def _is_our_echo(
    ports: Ports, event: DirectMessageSent | ChatMessage, x_id: str, maybe_ours: bool
) -> bool:
    """Whether the account's message `x_id` is one the service sent. One that may be ours,
    arriving while the service is sending the customer a message whose id it has not
    recorded yet, is checked again shortly (RetryLater)."""
    echoes = ports.echoes
    if echoes.is_ours(event.account_id, x_id):
        return True
    customer_id = event.recipient_id if isinstance(event, DirectMessageSent) else event.customer_id
    if maybe_ours:
        sending_since = echoes.sending_since(event.account_id, customer_id)
        if sending_since is not None and clock.now() - sending_since < ECHO_RACE_WINDOW:
            raise RetryLater(
                "The service is sending this customer a message; checking for its echo.",
                ECHO_RECHECK_SECONDS,
            )
    return False


def _connection_of(
    ports: Ports,
    event: DirectMessageReceived | DirectMessageSent | Mention | ChatMessage,
) -> XConnection | None:
    """The connection the event belongs to: the one that held the account when the webhook
    accepted the event. None when no tenant holds the account now, and for an event the
    webhook accepted while the account was disconnected (its cached claim said "held"),
    even once the account is connected again."""
    connection = ports.credentials.x_by_account(event.account_id)
    if connection is None:
        logger.info(
            "Event for an X account no tenant holds; dropped.", extra={"account": event.account_id}
        )
        return None
    released_at, received_at = connection.account_released_at, event.received_at
    if released_at and received_at and released_at <= received_at < connection.connected_at:
        logger.info(
            "Event delivered while the X account was disconnected; dropped.",
            extra={"account": event.account_id, "received_at": clock.isoformat(received_at)},
        )
        return None
    return connection


# ---------------------------------------------------------------- X Chat


def _chat_message(ports: Ports, connection: XConnection, event: ChatMessage) -> None:
    """An X Chat message, verified and decrypted (failing closed), then handled as a DM of
    the customer's conversation, once by its signed message id whatever copy of it comes
    (X's retries and replays, the reconciliation's): xchat/real-time-events.mdx has
    deliveries deduplicated on event_uuid and messages on the signed message_id. One that
    cannot be verified or decrypted is recorded as failed, with why: nothing a customer
    sends goes unseen."""
    credentials = x_accounts.credentials_of(ports, connection)
    try:
        chat = _open(ports, connection, credentials, event)
    except ChatUndecryptable as error:
        _unreadable(ports, connection, credentials, event, error.reason)
        return
    if chat is None:
        return  # not a message (a reaction, say): nothing for a case
    if event.direction == "sent":
        _sent_in_chat(ports, connection, event, chat)
    else:
        CustomerMessage.received_in_chat(ports, connection, credentials, event, chat).run()


def _open(
    ports: Ports, connection: XConnection, credentials: AccountCredentials, event: ChatMessage
) -> DecryptedChatMessage | None:
    return xchat.open_message(
        ports,
        connection,
        credentials,
        chat_conversation_id=event.chat_conversation_id,
        sender_id=event.sender_id,
        encoded_event=event.encoded_event,
        key_version=event.key_version,
        key_change_event=event.key_change_event,
    )


def _chat_media(event: ChatMessage, chat: DecryptedChatMessage) -> list[ChatMedia]:
    return [
        ChatMedia(
            chat_conversation_id=event.chat_conversation_id,
            media_hash_key=attachment.media_hash_key,
            file_name=attachment.file_name,
            content_type=attachment.content_type,
            size=attachment.size,
            key_version=chat.key_version,
        )
        for attachment in chat.attachments
    ]


def _customer_names(
    ports: Ports, connection: XConnection, credentials: AccountCredentials, customer_id: str
) -> tuple[str, str]:
    """The customer's (screen name, name), for an event that names neither (X Chat's, a
    post X delivered without its author): what the tenant's customer record (or a
    conversation) has, else what X answers (GET /2/users/{id}), asked once (a user read
    costs the tenant) and kept in a customer record for the next messages."""
    tenant_id = connection.user_id
    customer = ports.customers.get(tenant_id, customer_id)
    if customer is not None:
        return customer.screen_name, customer.name
    now = clock.now()
    for channel in Channel:
        conversation = ports.conversations.get(
            Conversation.id_for(tenant_id, connection.x_user_id, customer_id, channel)
        )
        if conversation is not None:
            screen_name, name = conversation.customer_screen_name, conversation.customer_name
            seen_at = conversation.last_message_at
            break
    else:
        user = ports.x().get_user(credentials, customer_id)
        screen_name, name, seen_at = user.username, user.name, now
    ports.customers.put(
        Customer(
            tenant_id=tenant_id,
            x_user_id=customer_id,
            screen_name=screen_name,
            name=name,
            screen_name_seen_at=seen_at,
            created_at=now,
            updated_at=now,
        )
    )
    return screen_name, name


def _sent_in_chat(
    ports: Ports, connection: XConnection, event: ChatMessage, chat: DecryptedChatMessage
) -> None:
    """The account's X Chat message: our own reply coming back (dropped), or one the
    company's staff typed in X's app, which goes on the customer's open case. X Chat says
    nothing of the sender's app, but the service records each message id it sends before
    X has it (customer_channel), so an id it has not recorded is staff's, at once."""
    if _is_our_echo(ports, event, chat.message_id, maybe_ours=False):
        return
    conversation = ports.conversations.get(_dm_conversation_id(connection, event.customer_id))
    if conversation is None:
        return  # staff wrote to someone who never wrote to the account: not a support thread
    as_dm = DirectMessageSent(
        event_id=chat.message_id,
        account_id=event.account_id,
        recipient_id=event.customer_id,
        text=chat.text,
        sent_at=chat.sent_at,
        received_at=event.received_at,
    )
    StaffMessage(
        ports,
        connection,
        as_dm,
        conversation,
        channel=MessageChannel.X_CHAT,
        chat_media=_chat_media(event, chat),
    ).run()


def _unreadable(
    ports: Ports,
    connection: XConnection,
    credentials: AccountCredentials,
    event: ChatMessage,
    reason: str,
) -> None:
    """An X Chat message that cannot be verified or decrypted: a failed message of the
    conversation, with why (the account's own only in a conversation there is). Named by
    X's unsigned copy of its id, when the delivery has one, so that every copy of it is
    one record; apart from the message's own key, so that a copy that can be read later
    still goes to the case."""
    count("ChatMessagesUnreadable")
    logger.warning("X Chat message not verified or decrypted", extra={"reason": reason})
    now = clock.now()
    received = event.direction == "received"
    sent_at = event.created_at or event.received_at or now
    conversation_id = _dm_conversation_id(connection, event.customer_id)
    if received:
        screen_name, name = _customer_names(ports, connection, credentials, event.customer_id)
        conversation: Conversation | None = ports.conversations.get_or_create(
            Conversation(
                id=conversation_id,
                tenant_id=connection.user_id,
                account_id=connection.x_user_id,
                customer_id=event.customer_id,
                customer_screen_name=screen_name,
                customer_name=name,
                channel=Channel.DM,
                created_at=now,
                last_message_at=sent_at,
            )
        )
    else:
        conversation = ports.conversations.get(conversation_id)
    if conversation is None:
        return
    x_id = event.message_id or event.event_id
    ports.messages.add(
        ConversationMessage(
            conversation_id=conversation.id,
            key=f"{clock.sortable(sent_at)}#{x_id}#unreadable",
            direction=MessageDirection.INBOUND if received else MessageDirection.OUTBOUND,
            author=CUSTOMER if received else STAFF,
            text="",
            event_id=f"unreadable:{x_id}",
            status=MessageStatus.FAILED,
            status_detail=reason,
            handled=True,
            channel=MessageChannel.X_CHAT,
            sent_at=sent_at,
            updated_at=now,
        )
    )


def _record_chat_failure(ports: Ports, event: ChatMessage, reason: str) -> None:
    """The last attempt at an X Chat message failed: its message, found by the id its
    decryption gives, shows why. One that cannot be decrypted even now (X down all
    along) stays in the dead-letter queue, which is alarmed, and is logged."""
    connection = ports.credentials.x_by_account(event.account_id)
    if connection is None:
        return
    conversation = ports.conversations.get(_dm_conversation_id(connection, event.customer_id))
    if conversation is None:
        return
    try:
        credentials = x_accounts.credentials_of(ports, connection)
        chat = _open(ports, connection, credentials, event)
    except (ChatUndecryptable, XError) as error:
        why = error.reason if isinstance(error, ChatUndecryptable) else error.message
        logger.error(
            "X Chat message failed, and cannot be read to record why on it",
            extra={"reason": why},
        )
        return
    if chat is None:
        return
    key = f"{clock.sortable(chat.sent_at)}#{chat.message_id}"
    message = ports.messages.get(conversation.id, key)
    if message is not None:
        ports.messages.update(message, failure=reason, updated_at=clock.now())


# ---------------------------------------------------------------- keys


def _conversation_id(connection: XConnection, event: DirectMessageReceived | Mention) -> str:
    channel = Channel.MENTION if isinstance(event, Mention) else Channel.DM
    return Conversation.id_for(connection.user_id, connection.x_user_id, event.customer_id, channel)


def _dm_conversation_id(connection: XConnection, customer_id: str) -> str:
    """The customer's conversation of legacy DMs and X Chat messages alike."""
    return Conversation.id_for(connection.user_id, connection.x_user_id, customer_id, Channel.DM)


def _message_key(
    event: DirectMessageReceived | DirectMessageSent | Mention | AccountRevoked,
) -> str:
    sent_at = event.revoked_at if isinstance(event, AccountRevoked) else event.sent_at
    return f"{clock.sortable(sent_at)}#{event.event_id}"


# ---------------------------------------------------------------- ServiceNow of a tenant


class _Instance:
    """The tenant's ServiceNow instance, read on first use."""

    def __init__(self, ports: Ports, tenant_id: str):
        self.ports = ports
        self.tenant_id = tenant_id
        self._details: ServiceNowDetails | None = None
        self._client: ServiceNowApi | None = None

    @property
    def details(self) -> ServiceNowDetails:
        if self._details is None:
            self._details = self.ports.credentials.servicenow_of(self.tenant_id)
            if self._details is None:
                raise RetryLater(
                    "The tenant has no ServiceNow details: POST /servicenow-details/ first.",
                    TENANT_ACTION_WAIT_SECONDS,
                )
        return self._details

    @property
    def client(self) -> ServiceNowApi:
        if self._client is None:
            self._client = servicenow_instances.client_for(self.ports, self.details)
        return self._client

    @property
    def client_if_any(self) -> ServiceNowApi | None:
        """The client, or None when the tenant has no ServiceNow details now."""
        if self._details is None:
            self._details = self.ports.credentials.servicenow_of(self.tenant_id)
        return None if self._details is None else self.client


class _Conversational:
    """What handling a message of a conversation needs: the tenant's connection and
    instance, the conversation, and recording messages and comments in it."""

    ports: Ports
    connection: XConnection
    conversation: Conversation
    instance: _Instance

    def process(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        """Processes the message. When the tenant's instance refuses our credentials, or
        is no longer allowed, its ServiceNow details say so (GET /servicenow-details/{id}/)."""
        logger.append_keys(
            tenant_id=self.connection.user_id,
            conversation_id=self.conversation.id if self.conversation else None,
        )
        annotate_tenant(self.connection.user_id)
        try:
            self.process()
        except (ServiceNowBadCredentials, ServiceNowMissingRole, InvalidInstanceUrl) as error:
            servicenow_instances.record_status(
                self.ports.credentials,
                self.instance.details,
                *servicenow_instances.status_for(error),
            )
            raise

    def _save(self, message: ConversationMessage, **changes) -> ConversationMessage:
        return self.ports.messages.update(message, updated_at=clock.now(), **changes)

    def _update_conversation(self, **changes) -> Conversation:
        self.conversation = self.ports.conversations.update(self.conversation.id, **changes)
        return self.conversation

    def _has_open_case(self) -> bool:
        """Whether the conversation's case takes comments, asking ServiceNow when what we
        know of it is old."""
        conversation = self.conversation
        if conversation.status != ConversationStatus.OPEN or not conversation.case_sys_id:
            return False
        checked_at = conversation.case_checked_at
        if checked_at is not None and clock.now() - checked_at < CASE_STATE_FRESH_FOR:
            return True
        try:
            case = self.instance.client.get_case(conversation.case_sys_id)
        except ServiceNowNotFound:
            case = None
        return self._case_seen(case)

    def _case_seen(self, case: Case | None) -> bool:
        """Keeps what ServiceNow said of the case; answers whether it is open."""
        if case is not None and case.is_open:
            self._update_conversation(case_checked_at=clock.now())
            return True
        # The case stays named on the conversation: ServiceNow's later events about it
        # (closing a resolved case) still find the conversation.
        self._update_conversation(status=ConversationStatus.NEW, case_checked_at=None)
        return False

    def _comment(
        self, message: ConversationMessage, text: str, retrying: bool
    ) -> ConversationMessage | None:
        """Writes `text` on the conversation's case, once: a retry first looks for the
        comment an earlier attempt may have written. Answers the message, commented, or
        None if the case turned out to be gone."""
        case_sys_id, case_number = self.conversation.case_sys_id, self.conversation.case_number
        if case_sys_id is None:  # not expected (the message went to a named case): as one gone
            self._case_seen(None)
            return None
        if not (retrying and _has_comment(self.instance.client, case_sys_id, text)):
            try:
                case = self.instance.client.add_comment(case_sys_id, text)
            except ServiceNowNotFound:
                self._case_seen(None)
                return None
            # A case finished without the update set telling us takes no more comments.
            self._case_seen(case)
        return self._save(message, status=MessageStatus.COMMENTED, case_number=case_number)


def _has_comment(client: ServiceNowApi, case_sys_id: str, text: str) -> bool:
    return any(
        activity.kind == "comments" and activity.text.strip() == text.strip()
        for activity in client.case_activities(case_sys_id)
    )


# ---------------------------------------------------------------- a customer's message


class CustomerMessage(_Conversational):
    """A customer's DM, X Chat message or mention, on its way to their case."""

    def __init__(
        self,
        ports: Ports,
        connection: XConnection,
        event: DirectMessageReceived | Mention,
        conversation: Conversation,
        message: ConversationMessage,
        names_from_event: bool = True,
    ):
        self.ports = ports
        self.connection = connection
        self.event = event
        self.conversation = conversation
        self.message = message
        # False: the customer's names came from our records or a user read, not with
        # the message, so they say nothing new about the customer's handle.
        self.names_from_event = names_from_event
        self.instance = _Instance(ports, connection.user_id)
        self._customer_record: Customer | None = None

    @classmethod
    def received_in_chat(
        cls,
        ports: Ports,
        connection: XConnection,
        credentials: AccountCredentials,
        event: ChatMessage,
        chat: DecryptedChatMessage,
    ) -> "CustomerMessage":
        """A decrypted X Chat message, as a DM of the customer's conversation whose id is
        the chat message's id (signed, the same in every copy X delivers)."""
        screen_name, name = _customer_names(ports, connection, credentials, event.customer_id)
        as_dm = DirectMessageReceived(
            event_id=chat.message_id,
            account_id=event.account_id,
            customer_id=event.customer_id,
            customer_screen_name=screen_name,
            customer_name=name,
            text=chat.text,
            sent_at=chat.sent_at,
            received_at=event.received_at,
        )
        return cls.received(
            ports,
            connection,
            as_dm,
            chat_conversation_id=event.chat_conversation_id,
            chat_media=_chat_media(event, chat),
            names_from_event=False,
        )

    @classmethod
    def received(
        cls,
        ports: Ports,
        connection: XConnection,
        event: DirectMessageReceived | Mention,
        *,
        chat_conversation_id: str | None = None,
        chat_media: list[ChatMedia] | None = None,
        names_from_event: bool = True,
    ) -> "CustomerMessage":
        """The event's conversation and message, recorded on first sight. An X Chat
        message names its chat conversation."""
        now = clock.now()
        channel = Channel.MENTION if isinstance(event, Mention) else Channel.DM
        if isinstance(event, Mention):
            message_channel = MessageChannel.POST
        elif chat_conversation_id is not None:
            message_channel = MessageChannel.X_CHAT
        else:
            message_channel = MessageChannel.DM
        conversation = ports.conversations.get_or_create(
            Conversation(
                id=_conversation_id(connection, event),
                tenant_id=connection.user_id,
                account_id=connection.x_user_id,
                customer_id=event.customer_id,
                customer_screen_name=event.customer_screen_name,
                customer_name=event.customer_name,
                channel=channel,
                created_at=now,
                last_message_at=event.sent_at,
            )
        )
        message, new = ports.messages.add(
            ConversationMessage(
                conversation_id=conversation.id,
                key=_message_key(event),
                direction=MessageDirection.INBOUND,
                author=CUSTOMER,
                text=event.text,
                media_urls=[media.url for media in event.media],
                chat_media=chat_media or [],
                event_id=event.event_id,
                status=MessageStatus.RECEIVED,
                channel=message_channel,
                sent_at=event.sent_at,
                updated_at=now,
            )
        )
        if new:
            recovery.count_if_replayed(event.received_at, event.sent_at)
        changes: dict[str, object] = {
            "last_message_at": max(event.sent_at, conversation.last_message_at)
        }
        # Replies go the way the customer's latest message came (legacy DM or X Chat): an
        # older one, delivered late, does not change it.
        if channel == Channel.DM and event.sent_at >= conversation.last_message_at:
            changes["latest_channel"] = message_channel
        if chat_conversation_id is not None and conversation.chat_conversation_id is None:
            changes["chat_conversation_id"] = chat_conversation_id
        # X lets the account reply only to a post that mentions it (the summoned-reply
        # rule): a reply typed without @account does not move where replies go, unless
        # the customer never mentioned it (then X decides, and says so if it refuses).
        if isinstance(event, Mention) and (
            event.mentions_account or conversation.latest_post_id is None
        ):
            changes["latest_post_id"] = event.post_id
        conversation = ports.conversations.update(conversation.id, **changes)
        return cls(ports, connection, event, conversation, message, names_from_event)

    def process(self) -> None:
        """Takes the message on from the status the last attempt left it in (see
        twittnow.lifecycle.MESSAGE), to its final step: handled."""
        if self.message.handled:
            return  # X delivered it again
        self._keep_customer_current()
        # An attempt that got as far as COMMENTING may have written the comment.
        retrying = self.message.status == MessageStatus.COMMENTING
        if self.message.status == MessageStatus.RECEIVED:
            self._route()
        if self.message.status == MessageStatus.COMMENTING:
            self._comment_on_case(retrying)
        if self.message.status != MessageStatus.COMMENTED:
            self._towards_case()
        self._attach_media()
        self._update_message(handled=True, failure="")
        count("MessagesProcessed")

    def _update_message(self, **changes) -> None:
        self.message = self._save(self.message, **changes)

    def _route(self) -> None:
        """RECEIVED: to the open case (COMMENTING), as the answer to the pending question
        (ANSWERED), or held for the case to come (WAITING_FOR_ANSWERS)."""
        if self._has_open_case():
            self._update_message(status=MessageStatus.COMMENTING)
        elif self.conversation.status == ConversationStatus.COLLECTING:
            self._record_answer()
        else:
            self._hold()

    def _comment_on_case(self, retrying: bool) -> None:
        """COMMENTING: on the case (COMMENTED), or held (WAITING_FOR_ANSWERS) when the case
        was finished meanwhile: this message opens the next."""
        commented = self._comment(self.message, self._comment_text(), retrying)
        if commented is None:
            self._hold()
        else:
            self.message = commented

    def _towards_case(self) -> None:
        """A message held or answering, or one that opened a case: the next question, or
        the case (CASE_CREATED), then the customer told its number."""
        if self.conversation.status != ConversationStatus.OPEN and not self._ask_next_question():
            self._open_case()
        if self.message.case_number and self.message.case_number == self.conversation.case_number:
            self._acknowledge()  # this message opened the case

    # ------------------------------------------------------------ custom fields

    def _record_answer(self) -> None:
        field_name = self.conversation.pending_field
        customer = self._customer()
        if field_name:
            self._save_customer(answers={**customer.answers, field_name: self.event.text})
        self._update_message(status=MessageStatus.ANSWERED)

    def _hold(self) -> None:
        """Keeps the message for the case to come (its description)."""
        conversation = self.conversation
        keys = conversation.waiting_message_keys
        changes: dict[str, object] = {}
        if self.message.key not in keys:
            changes["waiting_message_keys"] = [*keys, self.message.key]
        if not conversation.pending_case_correlation_id:
            # Names the case to come from its first message: a retried create finds it.
            changes["pending_case_correlation_id"] = correlation_ids.for_case(
                conversation.id, self.event.event_id
            )
        if changes:
            self._update_conversation(**changes)
        self._update_message(status=MessageStatus.WAITING_FOR_ANSWERS)

    def _ask_next_question(self) -> bool:
        """Asks the first custom field the customer has not answered; False if none."""
        customer = self._customer()
        unanswered = [
            field
            for field in self.ports.custom_fields.of_tenant(self.connection.user_id)
            if field.field_name not in customer.answers
        ]
        if not unanswered:
            return False
        field = unanswered[0]
        conversation = self.conversation
        question = None
        if conversation.pending_field == field.field_name and conversation.pending_question_key:
            question = self.ports.messages.get(conversation.id, conversation.pending_question_key)
        if question is None:
            question = self._outbound(
                self._reply_key(f"question:{field.field_name}"), field.message
            )
            self._update_conversation(
                status=ConversationStatus.COLLECTING,
                pending_field=field.field_name,
                pending_question_key=question.key,
            )
        self._deliver(question)
        return True

    # ------------------------------------------------------------ the case

    def _open_case(self) -> None:
        conversation = self.conversation
        correlation_id = conversation.pending_case_correlation_id or (
            correlation_ids.for_case(conversation.id, self.event.event_id)
        )
        client = self.instance.client
        waiting = self._waiting_messages()
        case = None
        if conversation.case_requested_at is not None:
            case = client.find_case_by_correlation_id(correlation_id)  # an earlier attempt's
        if case is None:
            self._update_conversation(
                pending_case_correlation_id=correlation_id, case_requested_at=clock.now()
            )
            customer = consumers.consumer_of(self.ports.customers, client, self._customer())
            self._customer_record = customer
            # The profile by its sys_id: given a handle, the Case API would make or pick a
            # profile by that handle, whoever holds it now.
            profile = {}
            if customer.social_profile_sys_id:
                profile["sn_app_cs_social_social_profile"] = customer.social_profile_sys_id
            assert customer.consumer_sys_id, "consumers.consumer_of names the consumer"
            case = client.create_case(
                short_description=self._short_description(),
                description=self._description(waiting),
                consumer_sys_id=customer.consumer_sys_id,
                correlation_id=correlation_id,
                **profile,
            )
            count("CasesCreated")
        # The held messages' media, while the conversation still names them: a retry finds
        # the case by its correlation id and attaches what is left.
        for held in waiting:
            if held.key != self.message.key:
                self._attach_media_of(held, case.sys_id)
        self._update_conversation(
            status=ConversationStatus.OPEN,
            case_sys_id=case.sys_id,
            case_number=case.number,
            case_checked_at=clock.now(),
            pending_case_correlation_id=None,
            case_requested_at=None,
            pending_field=None,
            pending_question_key=None,
            waiting_message_keys=[],
        )
        for held in waiting:
            if held.key != self.message.key:
                # Every step of theirs is done: a redrive of one whose last attempt failed
                # must not take it for the message that opened the case (and acknowledge).
                self._save(
                    held,
                    status=MessageStatus.CASE_CREATED,
                    case_number=case.number,
                    handled=True,
                    failure="",
                )
        if self.message.status == MessageStatus.ANSWERED:
            self._update_message(case_number=case.number)  # an answer stays one
        else:
            self._update_message(status=MessageStatus.CASE_CREATED, case_number=case.number)

    def _waiting_messages(self) -> list[ConversationMessage]:
        keys = list(self.conversation.waiting_message_keys)
        if self.message.status != MessageStatus.ANSWERED and self.message.key not in keys:
            keys.append(self.message.key)
        found = (self.ports.messages.get(self.conversation.id, key) for key in keys)
        return [message for message in found if message is not None]

    def _short_description(self) -> str:
        if self.conversation.channel == Channel.MENTION:
            where = "mention"
        elif self.message.channel == MessageChannel.X_CHAT:
            where = "Chat message"
        else:
            where = "DM"
        return f"X {where} from @{self.conversation.customer_screen_name}"

    def _description(self, waiting: list[ConversationMessage]) -> str:
        texts = [_with_media_links(message.text, message) for message in waiting]
        answers = self._customer().answers
        fields = self.ports.custom_fields.of_tenant(self.connection.user_id)
        answered = [
            f"{field.field_name}: {answers[field.field_name]}"
            for field in fields
            if field.field_name in answers
        ]
        return "\n\n".join(part for part in ("\n\n".join(texts), "\n".join(answered)) if part)

    def _acknowledge(self) -> None:
        """Tells the customer the number of the case their message opened, once."""
        number = self.message.case_number
        if not number:
            return
        text = (
            f"Thanks for getting in touch! We opened case {number} for you; "
            "an agent will reply here."
        )
        self._deliver(self._outbound(self._reply_key("ack"), text))

    # ------------------------------------------------------------ comments and media

    def _comment_text(self) -> str:
        return _with_media_links(self.message.text, self.message)

    def _attach_media(self) -> None:
        """Attaches the message's media to its case (those of the messages held for the
        case, _open_case attaches)."""
        if self.conversation.case_sys_id:
            self.message = self._attach_media_of(self.message, self.conversation.case_sys_id)

    def _attach_media_of(
        self, message: ConversationMessage, case_sys_id: str
    ) -> ConversationMessage:
        """Attaches the message's media to the case where X lets us fetch them, once each;
        the links are in the comment or description either way. Answers the message."""
        pending = [url for url in message.media_urls if url not in message.media_attached]
        pending_chat = [
            media
            for media in message.chat_media
            if media.media_hash_key not in message.media_attached
        ]
        if not pending and not pending_chat:
            return message
        credentials = x_accounts.credentials_of(self.ports, self.connection)
        attached = list(message.media_attached)
        for chat_media in pending_chat:
            self._attach_chat_media(credentials, chat_media, case_sys_id)
            attached.append(chat_media.media_hash_key)
            message = self._save(message, media_attached=attached)
        for url in pending:
            try:
                media = self.ports.x().download_media(credentials, url)
            except (XMediaRefused, XNotFound, XRequestRejected, XConnectionBroken) as error:
                # A withheld or deleted file: its link stays on the case all the same.
                logger.warning("Media not attached", extra={"reason": error.message})
            else:
                self.instance.client.attach_file(
                    case_sys_id, media.file_name, media.content_type, media.data
                )
            attached.append(url)
            message = self._save(message, media_attached=attached)
        return message

    def _attach_chat_media(
        self, credentials: AccountCredentials, media: ChatMedia, case_sys_id: str
    ) -> None:
        """Downloads and decrypts an X Chat file and attaches it to the case, with the size
        limit of DM media. One that cannot be had leaves a work note saying so: its
        message is on the case all the same, naming the file."""
        try:
            downloaded = xchat.download_attachment(
                self.ports,
                self.connection,
                credentials,
                chat_conversation_id=media.chat_conversation_id,
                attachment=ChatAttachment(
                    media_hash_key=media.media_hash_key,
                    file_name=media.file_name,
                    content_type=media.content_type,
                    size=media.size,
                ),
                key_version=media.key_version,
                max_bytes=DEFAULT_MAX_MEDIA_BYTES,
            )
        except (XMediaRefused, XNotFound, XRequestRejected, XConnectionBroken) as error:
            self._media_not_attached(media, case_sys_id, error.message)
        except ChatUndecryptable as error:
            self._media_not_attached(media, case_sys_id, error.reason)
        else:
            self.instance.client.attach_file(
                case_sys_id, downloaded.file_name, downloaded.content_type, downloaded.data
            )

    def _media_not_attached(self, media: ChatMedia, case_sys_id: str, reason: str) -> None:
        logger.warning("X Chat media not attached", extra={"reason": reason})
        count("ChatMediaNotAttached")
        self.instance.client.add_work_note(
            case_sys_id,
            f"Could not attach {media.file_name} from "
            f"@{self.conversation.customer_screen_name}'s X Chat message: {reason}",
        )

    # ------------------------------------------------------------ the customer and replies

    def _customer(self) -> Customer:
        if self._customer_record is None:
            tenant_id, customer_id = self.connection.user_id, self.event.customer_id
            customer = self.ports.customers.get(tenant_id, customer_id)
            if customer is None:
                now = clock.now()
                customer = Customer(
                    tenant_id=tenant_id,
                    x_user_id=customer_id,
                    screen_name=self.event.customer_screen_name,
                    name=self.event.customer_name,
                    screen_name_seen_at=self.event.sent_at,
                    created_at=now,
                    updated_at=now,
                )
            self._customer_record = customer
        return self._customer_record

    def _keep_customer_current(self) -> None:
        """The same X user under a new handle or name: their records show it (the social
        profile on the instance, their conversations, our customer record, last, so that
        a retry redoes the rest). The handle replies mention must be theirs now."""
        if not self.names_from_event:
            return  # names from our records or X's user read: _customer_names keeps them
        customer, event = self._customer(), self.event
        seen_at = customer.screen_name_seen_at
        if seen_at is not None and event.sent_at <= seen_at:
            return  # an older message, delivered late, has an older handle
        screen_name, name = event.customer_screen_name, event.customer_name
        if customer.screen_name != screen_name:
            consumers.handle_changed(self.instance.client_if_any, customer, screen_name)
        if (customer.screen_name, customer.name) != (screen_name, name):
            for channel in Channel:  # the other channel's replies mention the handle too
                self._show_on_conversation(channel, screen_name, name)
        self._save_customer(screen_name=screen_name, name=name, screen_name_seen_at=event.sent_at)

    def _show_on_conversation(self, channel: Channel, screen_name: str, name: str) -> None:
        conversations = self.ports.conversations
        conversation_id = Conversation.id_for(
            self.connection.user_id, self.connection.x_user_id, self.event.customer_id, channel
        )
        conversation = conversations.get(conversation_id)
        if conversation is None or (
            conversation.customer_screen_name,
            conversation.customer_name,
        ) == (screen_name, name):
            return
        updated = conversations.update(
            conversation_id, customer_screen_name=screen_name, customer_name=name
        )
        if conversation_id == self.conversation.id:
            self.conversation = updated

    def _save_customer(self, **changes) -> None:
        customer = self._customer().model_copy(update={**changes, "updated_at": clock.now()})
        self.ports.customers.put(customer)
        self._customer_record = customer

    def _reply_key(self, kind: str) -> str:
        """The key of the bot's answer of this kind to this message: its time of sending,
        so that it is listed after what the customer wrote meanwhile, chosen once for every
        retry. A retry that answers otherwise (the question's field was deleted meanwhile,
        so the case opens) takes a new key: the old one names the other answer."""
        key = self.message.reply_key
        if key is None or key.partition("#")[2] != f"{self.message.event_id}#{kind}":
            key = f"{clock.sortable(clock.now())}#{self.message.event_id}#{kind}"
            self._update_message(reply_key=key)
        return key

    def _outbound(self, key: str, text: str) -> ConversationMessage:
        """The bot's message with this key: recorded now, or as an earlier attempt did."""
        message, _ = self.ports.messages.add(
            ConversationMessage(
                conversation_id=self.conversation.id,
                key=key,
                direction=MessageDirection.OUTBOUND,
                author=BOT,
                text=text,
                event_id=key,
                status=MessageStatus.QUEUED,
                case_number=self.conversation.case_number,
                sent_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        return message

    def _deliver(self, message: ConversationMessage) -> None:
        """Sends the bot's message unless it was delivered. A refusal that retrying cannot
        fix (the customer does not accept DMs...) is recorded on it, not retried; one by
        X's summoned-reply rule is final, and noted on the case for the agent."""
        if message.status == MessageStatus.DELIVERED or message.handled:
            return
        channel = customer_channel.channel_of(self.conversation, message)
        try:
            customer_channel.send(
                self.ports,
                self.connection,
                self.conversation,
                message.text,
                message.x_message_ids,
                on_sent=lambda ids: self._save(
                    message, x_message_ids=ids, channel=channel, pending_chat_part=None
                ),
                channel=channel,
                # An X Chat part is kept sealed until its id is recorded: a retry sends it
                # again as it was.
                sealed=message.pending_chat_part,
                on_sealed=lambda part: self._save(message, pending_chat_part=part, channel=channel),
            )
        except XReplyNotAllowed:
            note = customer_channel.not_allowed_note(self.connection, self.conversation)
            count("RepliesNotAllowedByX")
            conversation = self.conversation
            if conversation.status == ConversationStatus.OPEN and conversation.case_sys_id:
                self.instance.client.add_work_note(conversation.case_sys_id, note)
            self._save(message, status=MessageStatus.FAILED, status_detail=note, handled=True)
            return
        except XRequestRejected as error:
            self._save(message, status=MessageStatus.FAILED, status_detail=error.message)
            return
        self._save(message, status=MessageStatus.DELIVERED)


# ---------------------------------------------------------------- staff on X


class StaffMessage(_Conversational):
    """A DM or X Chat message the company's staff sent from X's own app: recorded on the
    customer's open case as the company's comment, so agents in ServiceNow see the whole
    exchange."""

    def __init__(
        self,
        ports: Ports,
        connection: XConnection,
        event: DirectMessageSent,
        conversation: Conversation,
        *,
        channel: MessageChannel = MessageChannel.DM,
        chat_media: list[ChatMedia] | None = None,
    ):
        self.ports = ports
        self.connection = connection
        self.event = event
        self.instance = _Instance(ports, connection.user_id)
        self.conversation = conversation
        self.channel = channel
        self.chat_media = chat_media or []

    def process(self) -> None:
        now = clock.now()
        message, _ = self.ports.messages.add(
            ConversationMessage(
                conversation_id=self.conversation.id,
                key=_message_key(self.event),
                direction=MessageDirection.OUTBOUND,
                author=STAFF,
                text=self.event.text,
                media_urls=[media.url for media in self.event.media],
                chat_media=self.chat_media,
                event_id=self.event.event_id,
                x_message_ids=[self.event.event_id],
                status=MessageStatus.DELIVERED,
                channel=self.channel,
                sent_at=self.event.sent_at,
                updated_at=now,
            )
        )
        if message.handled:
            return
        if message.status == MessageStatus.COMMENTING or self._has_open_case():
            retrying = message.status == MessageStatus.COMMENTING
            message = self._save(message, status=MessageStatus.COMMENTING)
            text = _with_media_links(
                f"Sent on X by @{self.connection.screen_name}: {self.event.text}", message
            )
            message = self._comment(message, text, retrying) or message
        self._save(message, handled=True, failure="")


# ---------------------------------------------------------------- text


def _with_media_links(text: str, message: ConversationMessage) -> str:
    """`text` with a line per attachment of the message: a DM's or post's link, an X Chat
    file's name (its link would not open: it is encrypted)."""
    lines = [f"Attachment: {url}" for url in message.media_urls]
    lines += [f"Attachment (X Chat): {media.file_name}" for media in message.chat_media]
    if not lines:
        return text
    links = "\n".join(lines)
    return f"{text}\n{links}" if text else links
