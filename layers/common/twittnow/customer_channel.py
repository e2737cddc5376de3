"""Writing to a customer on X, on their conversation's channel: a DM conversation gets
DMs, or X Chat messages when the customer's latest message came in X Chat; a mention
conversation gets reply posts in the customer's thread. Used for the bot's questions and
acknowledgements, and for agents' replies."""

import re
from collections.abc import Callable
from http import HTTPStatus

from twittnow import audit, x_accounts, x_text, xchat
from twittnow.clients.x import AccountCredentials, XConnectionBroken, XNotFound, XRequestRejected
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    MessageChannel,
    SealedChatMessage,
    XConnection,
)
from twittnow.ports import Ports, XApi

POST_WEIGHT_LIMIT = 280
# X Chat messages are split as DMs are: X's docs give no length limit for them
# (x-api/chat/send-chat-message.mdx, openapi.json's SendChatMessageRequest).
DM_LENGTH_LIMIT = 10_000
URL_WEIGHT = 23  # X counts every link as a t.co link of 23 characters
_URL = re.compile(r"https?://\S+")
# twitter-text's ranges of code points that count as one character; all others count two.
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def channel_for(conversation: Conversation) -> MessageChannel:
    """How a message to the customer goes now: reply posts in a mention conversation; in
    a DM conversation, the way the customer's latest message came (X Chat, or a legacy
    DM, as every conversation from before X Chat)."""
    if conversation.channel == Channel.MENTION:
        return MessageChannel.POST
    if conversation.latest_channel == MessageChannel.X_CHAT:
        return MessageChannel.X_CHAT
    return MessageChannel.DM


def channel_of(conversation: Conversation, message: ConversationMessage) -> MessageChannel:
    """How `message` goes: as its parts sent already went (a retry finishes it there), in
    X Chat when a part was sealed for it (X may have taken it), else as channel_for says
    now."""
    if message.pending_chat_part is not None:
        return MessageChannel.X_CHAT
    if message.x_message_ids and message.channel is not None:
        return message.channel
    return channel_for(conversation)


def send(
    ports: Ports,
    connection: XConnection,
    conversation: Conversation,
    text: str,
    already_sent: list[str] | None = None,
    on_sent: Callable[[list[str]], object] = lambda ids: None,
    channel: MessageChannel | None = None,
    sealed: SealedChatMessage | None = None,
    on_sealed: Callable[[SealedChatMessage], object] = lambda part: None,
) -> list[str]:
    """Sends `text` to the conversation's customer, in as many DMs, X Chat messages or
    posts as it takes, on `channel` (by default channel_for's); answers X's ids of them.
    A retry passes the ids a failed attempt got (`already_sent`) and only the rest is
    sent; `on_sent` hears the ids after each part, to record them.

    An X Chat part is sealed first (xchat.seal_text: encrypted with the conversation's
    current key, which it makes when there is none yet; the conversation then keeps the
    chat conversation's id), and `on_sealed` hears it before it is posted, to record it
    (ciphertext, no key). A retry passes back the part a failed attempt sealed (`sealed`),
    and that same payload is posted again: X takes a message id once, so a part X took
    whose answer was lost is not delivered twice. The caller's record of the part's id
    (`on_sent`) must drop the sealed part in the same write. A part X refuses because the
    customer's app replaced the conversation's key since is sealed again with the new
    key. A customer who has no X Chat keys, or an account without its X Chat keys,
    cannot be written to there: XRequestRejected, as for a DM X refuses.

    Every text the service sends on X goes through here, and is sent as x_text.clean
    leaves it; nothing is sent when that is blank.

    Raises the X client's errors; XConnectionBroken marks the connection broken first.
    An OAuth 2.0 token X answers 401 to is renewed once and the part sent once more
    (x_accounts.renewed_credentials); a renewal X refuses marks the connection broken.
    XReplyNotAllowed (X's summoned-reply rule) refuses this reply only: the connection is
    fine, and `not_allowed_note` says what to do.

    A connection marked broken still sends: the mark may be stale (a passing 401, or the
    account authorized the app again on X), and X refusing costs one call. A send that
    X takes marks it connected again."""
    text = x_text.clean(text)
    sent = list(already_sent or [])
    if not text.strip():
        return sent
    channel = channel or channel_for(conversation)
    credentials = x_accounts.credentials_of(ports, connection)
    client = ports.x()
    if channel == MessageChannel.POST:
        parts = split_post(text, conversation.customer_screen_name)
    else:
        parts = split_dm(text)
    pending = sealed

    def sealed_now(part: SealedChatMessage) -> None:
        nonlocal pending
        pending = part
        on_sealed(part)

    renewed = False
    for part in parts[len(sent) :]:
        while True:
            try:
                if channel == MessageChannel.X_CHAT:
                    x_id, conversation = _send_chat_part(
                        ports, credentials, connection, conversation, part, pending, sealed_now
                    )
                else:
                    x_id = _send_part(
                        ports, client, credentials, connection, conversation, channel, part, sent
                    )
            except XConnectionBroken as error:
                # An OAuth 2.0 access token X no longer takes: renewed once, and the part
                # tried once more with the new one (a refused renewal is broken already).
                retry = None
                if not renewed and error.status_code == HTTPStatus.UNAUTHORIZED:
                    retry = x_accounts.renewed_credentials(ports, connection, credentials)
                if retry is not None:
                    credentials, renewed = retry, True
                    continue
                x_accounts.mark_broken(
                    ports,
                    connection,
                    f"X refused @{connection.screen_name}'s token ({error.message}); "
                    "connect the account again.",
                    by=audit.SYSTEM,
                )
                raise
            break
        sent.append(x_id)
        pending = None
        on_sent(sent)
    x_accounts.mark_restored(ports, connection)
    return sent


def _send_part(
    ports: Ports,
    client: XApi,
    credentials: AccountCredentials,
    connection: XConnection,
    conversation: Conversation,
    channel: MessageChannel,
    part: str,
    sent: list[str],
) -> str:
    """Sends one reply post or DM: answers X's id of it (as its echo will carry it)."""
    if channel == MessageChannel.POST:
        # Each part answers the previous one: the reply reads as one thread. The first
        # answers the customer's latest post that mentions the account (X lets apps reply
        # only to those: inbound keeps it in latest_post_id).
        in_reply_to = sent[-1] if sent else conversation.latest_post_id
        if in_reply_to is None:
            # Not expected: a mention conversation has its post from its first mention on.
            # Undeliverable, as a reply to a post X no longer has.
            raise XNotFound("The conversation has no customer post to reply to.")
        return client.reply(credentials, in_reply_to, part)
    account_id = connection.x_user_id
    # Its echo may come back before its id is recorded: inbound waits for it meanwhile.
    ports.echoes.sending(account_id, conversation.customer_id)
    x_id = client.send_dm(credentials, conversation.customer_id, part)
    ports.echoes.sent(account_id, x_id)
    return x_id


def _send_chat_part(
    ports: Ports,
    credentials: AccountCredentials,
    connection: XConnection,
    conversation: Conversation,
    part: str,
    sealed: SealedChatMessage | None,
    on_sealed: Callable[[SealedChatMessage], object],
) -> tuple[str, Conversation]:
    """Sends one X Chat part: `sealed` again, or the part sealed now (and heard by
    `on_sealed` before it is posted). Answers its message id, and the conversation, which
    names the chat conversation seal_text made if it had none."""

    def seal(replaced_key_version: str | None = None) -> SealedChatMessage:
        new = xchat.seal_text(
            ports,
            connection,
            credentials,
            customer_id=conversation.customer_id,
            chat_conversation_id=conversation.chat_conversation_id,
            text=part,
            replaced_key_version=replaced_key_version,
        )
        # Known before it is posted: its chat.sent echo is ours even if X's answer is lost.
        ports.echoes.sent(connection.x_user_id, new.message_id)
        on_sealed(new)
        return new

    try:
        if sealed is None:
            sealed = seal()
        if conversation.chat_conversation_id is None:
            conversation = ports.conversations.update(
                conversation.id, chat_conversation_id=sealed.chat_conversation_id
            )
        while True:
            try:
                xchat.post_sealed(ports, credentials, sealed)
                return sealed.message_id, conversation
            except xchat.ChatKeyReplaced as replaced:
                # X took nothing: sealed again, each time with a newer key than the one
                # refused (or ChatUndecryptable when there is none), so this ends.
                sealed = seal(replaced.key_version)
    except (xchat.ChatRecipientHasNoKeys, xchat.ChatUndecryptable) as error:
        # Nothing can be encrypted to the customer, or with the account's keys: as a DM X
        # refuses, undeliverable until someone acts.
        raise XRequestRejected(error.reason) from None


def not_allowed_note(connection: XConnection, conversation: Conversation) -> str:
    """What the agent reads when X's summoned-reply rule refuses a reply post: why, and
    what reaches the customer instead."""
    customer, account = conversation.customer_screen_name, connection.screen_name
    return (
        f"X did not let us reply to @{customer} in public: X lets apps reply only to "
        f"posts that mention the company's account, and @{customer}'s post does not "
        f"mention @{account}. Ask the customer to mention @{account} again, or send them "
        f"a DM from @{account}: a DM reaches them without a mention. Nothing was sent."
    )


def split_dm(text: str) -> list[str]:
    return _split(text, DM_LENGTH_LIMIT, len)


def split_post(text: str, screen_name: str) -> list[str]:
    """Reply posts: each mentions the customer and fits in a post; several are numbered."""
    mention = f"@{screen_name} "
    if post_weight(mention + text) <= POST_WEIGHT_LIMIT:
        return [mention + text]
    numbering = " (99/99)"
    room = POST_WEIGHT_LIMIT - post_weight(mention) - len(numbering)
    chunks = _split(text, room, post_weight)
    return [f"{mention}{chunk} ({index}/{len(chunks)})" for index, chunk in enumerate(chunks, 1)]


def post_weight(text: str) -> int:
    """How long X counts `text`: links as 23, wide characters (CJK, emoji) as 2."""
    words = sum(_char_weight(char) for piece in _URL.split(text) for char in piece)
    return words + URL_WEIGHT * len(_URL.findall(text))


def _char_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(low <= code <= high for low, high in _LIGHT_RANGES) else 2


def _split(text: str, limit: int, weight: Callable[[str], int]) -> list[str]:
    """Word-wrapped chunks of at most `limit` by `weight`; a word longer than that is cut."""
    chunks: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if weight(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while weight(word) > limit:
            cut = len(word)
            while weight(word[:cut]) > limit:
                cut -= 1
            chunks.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not chunks:
        chunks.append(current)
    return chunks
