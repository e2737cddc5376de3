"""X Chat for a connected account: its identity (its keypairs), the conversation keys it
holds, and opening and sealing messages with them. Over Ports; the Chat XDK (chat_xdk,
about 20 ms to import) is imported inside the functions that use it, so that a function
importing this module for its names pays nothing until it encrypts or decrypts.

Keys, and where each lives (README, "X Chat: keys and security model"):

- The account's identity and signing keypairs, made by the Chat XDK at its first OAuth 2.0
  connection: the exported private keys ("key_blob") in one Secrets Manager secret per X
  account (<x_chat_secret_prefix><x user id>), JSON {"key_blob" (base64), "key_version",
  "registration" (the public keys as posted to X), "registered"}. Kept when the account is
  disconnected, so that connecting it again reuses the keys X knows.
- Conversation keys: in the ChatKeys table, each version as the account's participant key,
  i.e. encrypted to the account's identity key (what the Chat XDK's key change carries
  for it, and what decrypt_conversation_key opens): never the key itself.
- Users' public keys (public): cached in the ChatKeys table for a day and in memory for
  PUBLIC_KEYS_IN_MEMORY, read again from X when a signature does not verify with them.

Verification fails closed: a message is opened only with a conversation key whose key
change verified and with the sender's signing keys X serves, each checked with
verify_key_binding. What cannot be verified or decrypted raises ChatUndecryptable, whose
reason names no key.
"""

import base64
import hashlib
import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from botocore.exceptions import ClientError

from twittnow import clock
from twittnow.clients.x import (
    AccountCredentials,
    BearerCredentials,
    DownloadedMedia,
    PublicKeyRecord,
    XChatNeedsOAuth2,
    XNotFound,
    XRequestRejected,
)
from twittnow.clients.x.errors import says
from twittnow.clients.x.media import MAX_FILE_NAME_LENGTH, SAFE_FILE_NAME_RUN
from twittnow.instance import kept
from twittnow.models import SealedChatMessage
from twittnow.observability import logger
from twittnow.ports import Ports
from twittnow.repositories.chat_keys import version_order
from twittnow.repositories.secrets import SecretGone

if TYPE_CHECKING:
    from chat_xdk import Chat

# How long an instance trusts users' public keys it read (X or the table) before reading
# them again, and how long the table keeps them. A signature that fails with them reads
# them from X at once.
PUBLIC_KEYS_IN_MEMORY = timedelta(minutes=5)
PUBLIC_KEYS_CACHED = timedelta(days=1)
# How far back a conversation's history is read for a key version the service lacks:
# pages of 100 events, newest first.
MAX_HISTORY_PAGES = 5
OCTET_STREAM = "application/octet-stream"


class ChatAccount(Protocol):
    """The X account X Chat acts as: an XConnection, or a pending one being confirmed."""

    @property
    def x_user_id(self) -> str: ...
    @property
    def screen_name(self) -> str: ...


class ChatUndecryptable(Exception):
    """A chat event that cannot be verified or decrypted. `reason` is a sentence a person
    can act on; it never holds key material."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ChatRecipientHasNoKeys(Exception):
    """The customer registered no X Chat keys: nothing can be encrypted to them, so the
    message is undeliverable in X Chat. `reason` says so."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# Named tuples, not frozen dataclasses: about 0.2 ms each to make at a cold start, not 0.9.
class ChatAttachment(NamedTuple):
    """An encrypted attachment of a message: downloaded with its media_hash_key and
    decrypted with the message's key version. `content_type` is a guess from the file
    name until download_attachment reads the file."""

    media_hash_key: str
    file_name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class DecryptedChatMessage:
    """A verified, decrypted text message. `message_id` is the sender's id, inside the
    signed event (what deduplicates it); `sequence_id` is X's, unsigned."""

    message_id: str
    sequence_id: str
    sender_id: str
    chat_conversation_id: str
    text: str = field(repr=False)
    sent_at: datetime
    key_version: str
    attachments: list[ChatAttachment]


@dataclass(frozen=True)
class _Identity:
    """The account's X Chat identity as its secret holds it."""

    x_user_id: str
    key_version: str
    registered: bool
    registration: dict[str, Any] = field(repr=False)
    key_blob: str = field(repr=False)

    def secret(self) -> str:
        return json.dumps(
            {
                "key_blob": self.key_blob,
                "key_version": self.key_version,
                "registration": self.registration,
                "registered": self.registered,
            }
        )


# ---------------------------------------------------------------- conversation ids


def canonical_conversation_id(conversation_id: str) -> str:
    """The conversation's id as the Chat XDK signs it: a 1:1's two user ids in numeric
    order joined by ":" (X's paths and deliveries join them with "-"); a group's as it is."""
    parts = conversation_id.replace("-", ":").split(":")
    if len(parts) == 2 and all(part.isdigit() for part in parts):
        return ":".join(sorted(parts, key=int))
    return conversation_id


def _participants(account_id: str, chat_conversation_id: str, *others: str) -> list[str]:
    """The users whose keys may sign in a conversation: the account, the others named,
    and a 1:1's two users."""
    users = [account_id, *others]
    parts = chat_conversation_id.split(":")
    if len(parts) == 2 and all(part.isdigit() for part in parts):
        users += parts
    return list(dict.fromkeys(user for user in users if user))


# ---------------------------------------------------------------- the account's identity


def ensure_identity(ports: Ports, connection: ChatAccount, credentials: AccountCredentials) -> None:
    """Makes sure the account has an X Chat identity X knows, at connection.

    The keys are made once per account and stored (the secret) before X is told: a retry,
    or connecting the account again, uses the same keys, never new ones. X is asked which
    keys it has for the account (one read): ours among them (registered before, or a
    registration X took whose answer was lost) are registered, under X's version;
    otherwise they are registered again (POST), the same public keys. So connecting again
    also mends keys X no longer has. X's errors propagate with the keys kept: XRateLimited
    (X rate limits registrations) means connecting again later; XChatNeedsOAuth2 for
    OAuth 1.0a credentials, which callers skip X Chat for."""
    if not isinstance(credentials, BearerCredentials):
        raise XChatNeedsOAuth2(
            f"X Chat needs @{connection.screen_name} connected with OAuth 2.0: connect it again."
        )
    identity = _stored_identity(ports, connection.x_user_id) or _new_identity(ports, connection)
    chat = _chat_of(identity)
    x = ports.x()
    known = [
        record
        for record in x.public_keys(credentials, connection.x_user_id)
        if chat.matches_registered_key(record.public_key)
    ]
    if known:
        version = max((record.public_key_version for record in known), key=version_order)
    else:
        version = x.add_public_key(credentials, connection.x_user_id, identity.registration)
    if identity.registered and identity.key_version == version:
        return
    registered = _Identity(
        x_user_id=identity.x_user_id,
        key_version=version,
        registered=True,
        registration=identity.registration,
        key_blob=identity.key_blob,
    )
    ports.x_chat_secrets.put(_secret_name(ports, connection.x_user_id), registered.secret())
    logger.info("X Chat keys registered", extra={"x_user_id": connection.x_user_id})


def _secret_name(ports: Ports, x_user_id: str) -> str:
    """Secrets Manager takes a secret's name wherever it takes its ARN."""
    return ports.settings.x_chat_secret_prefix + x_user_id


def _stored_identity(ports: Ports, x_user_id: str) -> _Identity | None:
    """The identity as stored now: read past the instance's cache of secrets, which would
    otherwise keep an identity not yet registered for POWERTOOLS_PARAMETERS_MAX_AGE after
    it is (where the processor shares the process, as in the local stack)."""
    try:
        value = ports.x_chat_secrets.get(_secret_name(ports, x_user_id), fresh=True)
    except SecretGone:
        return None
    return _identity_in(x_user_id, value)


def _new_identity(ports: Ports, account: ChatAccount) -> _Identity:
    """New keypairs, stored before anything else knows them. Two connections at once make
    one secret: the one whose creation Secrets Manager refuses takes the other's."""
    from chat_xdk import Chat

    chat = Chat()
    payload = chat.generate_keypairs()
    blob = chat.export_keys()
    if blob is None:
        raise RuntimeError("The Chat XDK exported no keys.")
    public = payload.public_key
    registration = {
        "public_key": {
            name: value
            for name, value in {
                "identity_public_key_signature": public.identity_public_key_signature,
                "public_key": public.public_key,
                "public_key_fingerprint": public.public_key_fingerprint,
                "registration_method": public.registration_method,
                "signing_public_key": public.signing_public_key,
                "signing_public_key_signature": public.signing_public_key_signature,
            }.items()
            if value is not None
        },
        "version": payload.version,
        "generate_version": payload.generate_version,
    }
    identity = _Identity(
        x_user_id=account.x_user_id,
        key_version=str(payload.version or "1"),
        registered=False,
        registration=registration,
        key_blob=base64.b64encode(bytes(blob)).decode("ascii"),
    )
    try:
        ports.x_chat_secrets.create_version(account.x_user_id, identity.secret())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceExistsException":
            raise
        stored = _stored_identity(ports, account.x_user_id)
        if stored is None:  # created, then deleted by hand in between
            raise
        return stored
    logger.info("X Chat keys made", extra={"x_user_id": account.x_user_id})
    return identity


@kept
def _loaded() -> dict[str, tuple[str, "Chat"]]:
    """Per instance: each account's Chat, with the digest of the secret it was loaded
    from. The secret is read through Powertools Parameters' cache, so an account's keys
    are read again from Secrets Manager after POWERTOOLS_PARAMETERS_MAX_AGE and imported
    again only when they changed."""
    return {}


def _account_chat(ports: Ports, account: ChatAccount) -> tuple["Chat", _Identity]:
    """The account's Chat, its keys imported and its identity set; ChatUndecryptable when
    the account has no registered X Chat identity."""
    no_identity = ChatUndecryptable(
        f"@{account.screen_name} has no X Chat keys registered by Twittnow: connect the "
        "account again (with OAuth 2.0) so that Twittnow can read and send X Chat messages."
    )
    name = _secret_name(ports, account.x_user_id)
    try:
        value = ports.x_chat_secrets.get(name)
        identity = _identity_in(account.x_user_id, value)
        if not identity.registered:
            # Perhaps registered since this instance read it: read it as it is now.
            value = ports.x_chat_secrets.get(name, fresh=True)
            identity = _identity_in(account.x_user_id, value)
    except SecretGone:
        raise no_identity from None
    if not identity.registered:
        raise no_identity
    digest = hashlib.sha256(value.encode()).hexdigest()
    cached = _loaded().get(account.x_user_id)
    if cached is not None and cached[0] == digest:
        return cached[1], identity
    chat = _chat_of(identity)
    _loaded()[account.x_user_id] = (digest, chat)
    return chat, identity


def _identity_in(x_user_id: str, value: str) -> _Identity:
    stored = json.loads(value)
    return _Identity(
        x_user_id=x_user_id,
        key_version=str(stored["key_version"]),
        registered=bool(stored["registered"]),
        registration=stored["registration"],
        key_blob=stored["key_blob"],
    )


def _chat_of(identity: _Identity) -> "Chat":
    from chat_xdk import Chat

    chat = Chat()
    chat.import_keys(base64.b64decode(identity.key_blob), identity.key_version)
    chat.set_identity(identity.x_user_id, identity.key_version)
    chat.set_reject_unverified(True)  # the default; said here because everything relies on it
    return chat


# ---------------------------------------------------------------- public keys


@kept
def _public_keys_read() -> dict[str, tuple[float, list[PublicKeyRecord]]]:
    """Per instance: users' verified public keys, with when (monotonic) they were read."""
    return {}


def _verified_keys(
    ports: Ports, chat: "Chat", credentials: AccountCredentials, user_id: str, *, fresh: bool
) -> tuple[list[PublicKeyRecord], bool]:
    """The user's public keys whose identity and signing keys verify_key_binding binds,
    and whether they were just read from X. `fresh` reads X whatever is cached."""
    in_memory = _public_keys_read().get(user_id)
    if (
        not fresh
        and in_memory
        and monotonic() - in_memory[0] < PUBLIC_KEYS_IN_MEMORY.total_seconds()
    ):
        return in_memory[1], False
    records = None if fresh else ports.chat_keys.cached_public_keys(user_id)
    read_from_x = records is None
    if records is None:
        records = ports.x().public_keys(credentials, user_id)
    verified = [
        record
        for record in records
        if chat.verify_key_binding(
            record.public_key, record.signing_public_key, record.identity_public_key_signature
        )
    ]
    if read_from_x and verified:
        # Users who registered none are asked again next time: they may register soon.
        ports.chat_keys.cache_public_keys(user_id, verified, clock.now() + PUBLIC_KEYS_CACHED)
    if len(verified) < len(records):
        logger.warning(
            "X Chat public keys failed their binding check",
            extra={"user_id": user_id, "refused": len(records) - len(verified)},
        )
    _public_keys_read()[user_id] = (monotonic(), verified)
    return verified, read_from_x


def _signing_entries(user_id: str, records: list[PublicKeyRecord]) -> list[dict[str, str]]:
    """The Chat XDK's signing-key entries of a user's public keys."""
    return [
        {
            "user_id": user_id,
            "public_key_version": record.public_key_version,
            "public_key": record.signing_public_key,
            "identity_public_key": record.public_key,
            "identity_public_key_signature": record.identity_public_key_signature,
        }
        for record in records
    ]


def _signing_keys(
    ports: Ports,
    chat: "Chat",
    credentials: AccountCredentials,
    user_ids: list[str],
    *,
    fresh: bool,
) -> tuple[list[dict[str, str]], bool]:
    """Signing-key entries of `user_ids`, and whether any came from the caches (so that a
    failed verification may be tried once more with X's)."""
    entries: list[dict[str, str]] = []
    any_cached = False
    for user_id in user_ids:
        records, read_from_x = _verified_keys(ports, chat, credentials, user_id, fresh=fresh)
        entries += _signing_entries(user_id, records)
        any_cached = any_cached or not read_from_x
    return entries, any_cached


# ---------------------------------------------------------------- conversation keys


def _open_key_changes(
    ports: Ports,
    chat: "Chat",
    credentials: AccountCredentials,
    account_id: str,
    chat_conversation_id: str,
    encoded_events: list[str],
    signers: list[str],
) -> dict[str, bytes]:
    """The conversation keys of the verified key changes among `encoded_events` (of this
    conversation, naming a key for the account), each stored as the account's encrypted
    copy. Other events, and key changes that fail to verify, give nothing."""
    if not encoded_events:
        return {}
    entries, any_cached = _signing_keys(ports, chat, credentials, signers, fresh=False)
    result = chat.decrypt_events(encoded_events, entries)
    failed_signatures = any(
        "signature" in str(error).lower() for error in (result.get("errors") or {}).values()
    )
    if failed_signatures and any_cached:
        # Perhaps a key version the caches lack: once more with X's keys.
        entries, _ = _signing_keys(ports, chat, credentials, signers, fresh=True)
        result = chat.decrypt_events(encoded_events, entries)
    raw_keys = (result.get("conversation_keys") or {}).get("keys") or {}
    opened: dict[str, bytes] = {}
    for decrypted in result.get("messages", []):
        event = decrypted.get("event") or {}
        if event.get("type") != "KeyChange" or event.get("verified") is not True:
            continue
        if canonical_conversation_id(str(event.get("conversation_id", ""))) != chat_conversation_id:
            continue  # a key of another conversation must never open this one
        version = str(event.get("key_version", ""))
        ours = next(
            (
                key["encrypted_key"]
                for key in event.get("participant_keys") or []
                if str(key.get("user_id")) == account_id and key.get("encrypted_key")
            ),
            None,
        )
        raw = raw_keys.get(version)
        if ours is None or raw is None:
            continue
        # The copy stored must open to the very key the verified change carries.
        if chat.decrypt_conversation_key(ours) != bytes(raw):
            continue
        ports.chat_keys.add_conversation_key(account_id, chat_conversation_id, version, ours)
        opened[version] = bytes(raw)
    return opened


def _stored_key(
    ports: Ports, chat: "Chat", account_id: str, chat_conversation_id: str, key_version: str
) -> bytes | None:
    stored = ports.chat_keys.conversation_key(account_id, chat_conversation_id, key_version)
    return None if stored is None else chat.decrypt_conversation_key(stored)


def _key_from_history(
    ports: Ports,
    chat: "Chat",
    credentials: AccountCredentials,
    account_id: str,
    chat_conversation_id: str,
    wanted: Callable[[str], bool],
    signers: list[str],
) -> tuple[str, bytes] | None:
    """The newest key version of the conversation that `wanted` takes, with its key, from
    the conversation's history on X (its key changes, each stored as it opens), newest
    first, at most MAX_HISTORY_PAGES pages."""
    pagination: str | None = None
    for _ in range(MAX_HISTORY_PAGES):
        page = ports.x().conversation_events(credentials, chat_conversation_id, pagination)
        events = list(
            dict.fromkeys(
                [*page.key_change_events, *(event.encoded_event for event in page.events)]
            )
        )
        opened = _open_key_changes(
            ports, chat, credentials, account_id, chat_conversation_id, events, signers
        )
        found = [version for version in opened if wanted(version)]
        if found:
            version = max(found, key=version_order)
            return version, opened[version]
        if page.next_token is None:
            return None
        pagination = page.next_token
    return None


# ---------------------------------------------------------------- receiving


def open_message(
    ports: Ports,
    connection: ChatAccount,
    credentials: AccountCredentials,
    *,
    chat_conversation_id: str,
    sender_id: str,
    encoded_event: str,
    key_version: str,
    key_change_event: str | None,
) -> DecryptedChatMessage | None:
    """A chat.received (or chat.sent) event verified and decrypted, or None when it is not
    a text message (a reaction, a read receipt, a key change alone...): nothing for a case.

    The conversation key of `key_version`: from `key_change_event` (verified first), else
    the one stored, else from the conversation's history on X. The sender's signing keys:
    X's, cached, read again from X once when they fail. Raises ChatUndecryptable, with the
    reason, when the event cannot be verified or decrypted; X's errors (rate limits, a
    broken connection) propagate as they are."""
    account_id = connection.x_user_id
    chat, _ = _account_chat(ports, connection)
    conversation = canonical_conversation_id(chat_conversation_id)
    signers = _participants(account_id, conversation, sender_id)
    keys: dict[str, bytes] = {}
    try:
        if key_change_event:
            keys.update(
                _open_key_changes(
                    ports, chat, credentials, account_id, conversation, [key_change_event], signers
                )
            )
        key = keys.get(key_version) or _stored_key(
            ports, chat, account_id, conversation, key_version
        )
        if key is None:
            found = _key_from_history(
                ports,
                chat,
                credentials,
                account_id,
                conversation,
                lambda version: version == key_version,
                signers,
            )
            key = None if found is None else found[1]
    except ValueError:  # the Chat XDK's errors: a key change or a stored key that will not open
        raise _undecryptable(
            connection,
            "its conversation key could not be opened with the account's X Chat keys",
        ) from None
    if key is None:
        raise _undecryptable(
            connection,
            f"X holds no key version {key_version} of this conversation for the account, in "
            "the event or the conversation's history",
        )
    event = _decrypt_event(
        ports, chat, credentials, connection, encoded_event, {key_version: key}, sender_id
    )
    content = event.get("content") or {}
    if event.get("type") != "Message" or content.get("content_type") != "Text":
        # A reaction, a read receipt, a key change alone, an event type the Chat XDK does
        # not know ("Unknown"): nothing a customer wrote.
        logger.info(
            "X Chat event is not a text message",
            extra={
                "type": str(event.get("type")),
                "content_type": str(content.get("content_type")),
            },
        )
        return None
    if event.get("verified") is not True:
        raise _undecryptable(connection, "its signature was not verified")
    if (
        str(event.get("sender_id")) != sender_id
        or canonical_conversation_id(str(event.get("conversation_id", ""))) != conversation
    ):
        raise _undecryptable(
            connection, "the signed message names another sender or conversation than X's delivery"
        )
    return DecryptedChatMessage(
        message_id=str(event["id"]),
        sequence_id=str(event.get("sequence_id", "")),
        sender_id=sender_id,
        chat_conversation_id=conversation,
        text=str(content.get("text") or ""),
        sent_at=_sent_at(event),
        key_version=str(event.get("key_version") or key_version),
        attachments=[_attachment(item) for item in event.get("attachments") or []],
    )


def _decrypt_event(
    ports: Ports,
    chat: "Chat",
    credentials: AccountCredentials,
    connection: ChatAccount,
    encoded_event: str,
    keys: dict[str, bytes],
    sender_id: str,
) -> dict[str, Any]:
    """The event verified with the sender's signing keys and decrypted; with the cached
    keys first and, if they fail, once more with X's: the XDK does not say which key
    version an event names, and a version the caches lack fails like a forged one."""
    entries, any_cached = _signing_keys(ports, chat, credentials, [sender_id], fresh=False)
    attempts = [entries]
    for attempt in range(2):
        try:
            event: dict[str, Any] = chat.decrypt_event(encoded_event, keys, attempts[attempt])
        except ValueError as error:
            signature = "signature" in str(error).lower()
            if signature and attempt == 0 and any_cached:
                attempts.append(_signing_keys(ports, chat, credentials, [sender_id], fresh=True)[0])
                continue
            kind = "failed_signature" if signature else "failed_decryption"
            logger.warning("X Chat event refused", extra={"kind": kind, "sender_id": sender_id})
            raise _undecryptable(
                connection,
                "its signature does not verify with the sender's X Chat keys"
                if signature
                else "it does not decrypt with its conversation key (corrupted or forged)",
            ) from None
        return event
    raise AssertionError("unreachable: the second attempt returns or raises")


def _sent_at(event: dict[str, Any]) -> datetime:
    """When the sender sent it (the event's created_at_msec), else now."""
    msec = event.get("created_at_msec")
    if isinstance(msec, int) or (isinstance(msec, str) and msec.isdigit()):
        return datetime.fromtimestamp(int(msec) / 1000, tz=UTC)
    return clock.now()


def _undecryptable(connection: ChatAccount, why: str) -> ChatUndecryptable:
    return ChatUndecryptable(
        f"An X Chat message to @{connection.screen_name} could not be read: {why}. "
        "Ask the customer to send it again."
    )


def _attachment(item: dict[str, Any]) -> ChatAttachment:
    file_name = _safe_file_name(str(item.get("filename") or ""))
    guessed = mimetypes.guess_type(file_name)[0] or OCTET_STREAM
    return ChatAttachment(
        media_hash_key=str(item.get("media_hash_key") or ""),
        file_name=file_name,
        content_type=guessed,
        size=int(item.get("filesize_bytes") or 0),
    )


def _safe_file_name(name: str) -> str:
    """The sender's file name without its folders, in safe characters only."""
    base = name.replace("\\", "/").rpartition("/")[2]
    safe = SAFE_FILE_NAME_RUN.sub("_", base)[-MAX_FILE_NAME_LENGTH:].lstrip(".")
    return safe or "attachment"


def download_attachment(
    ports: Ports,
    connection: ChatAccount,
    credentials: AccountCredentials,
    *,
    chat_conversation_id: str,
    attachment: ChatAttachment,
    key_version: str,
    max_bytes: int,
) -> DownloadedMedia:
    """The attachment downloaded from X and decrypted with the conversation key of the
    message's `key_version` (not the latest: xchat/media.mdx). Files larger than
    `max_bytes` are refused (XMediaRefused) before they are all read; ChatUndecryptable
    when the key is not held or the file does not decrypt."""
    from chat_xdk import detect_mime_type, encrypted_stream_size

    chat, _ = _account_chat(ports, connection)
    conversation = canonical_conversation_id(chat_conversation_id)
    try:
        key = _stored_key(ports, chat, connection.x_user_id, conversation, key_version)
    except ValueError:
        key = None
    if key is None:
        raise _undecryptable(
            connection, f"the key version {key_version} of its attachment is not held"
        )
    encrypted = ports.x().download_chat_media(
        credentials, conversation, attachment.media_hash_key, encrypted_stream_size(max_bytes)
    )
    try:
        data = chat.decrypt_stream(encrypted, key)
    except ValueError:
        raise _undecryptable(
            connection,
            f"its attachment {attachment.file_name} does not decrypt (truncated or forged)",
        ) from None
    content_type = detect_mime_type(data) or attachment.content_type or OCTET_STREAM
    return DownloadedMedia(attachment.file_name, content_type, data)


# ---------------------------------------------------------------- sending
#
# Sealing and posting are apart so that a message is sent exactly once: X's docs say to
# send the same encrypted payload again on a retry, "so an id is never minted twice"
# (xchat/getting-started.mdx, step 5; xchat/xchat-xdk.mdx, encrypt_message;
# xchat/media.mdx), and X takes a message id it knows once. The caller keeps the sealed
# message (ciphertext, no key) before posting it, and posts that same one again when an
# attempt's answer never came: X may have taken it.


class ChatKeyReplaced(Exception):
    """X refused a sealed message because its key version is no longer the conversation's
    latest (the customer's app made a new key since): X did not take it. Seal the text
    again with seal_text(..., replaced_key_version=key_version).

    That X took nothing rests on X looking up a message id it knows before it checks the
    key version, as resending the same payload needs and the sandbox X does; X's docs do
    not say in which order it checks."""

    def __init__(self, key_version: str):
        super().__init__(f"X Chat key version {key_version} was replaced.")
        self.key_version = key_version


# The Chat XDK's failure reason for it (its Failure events name it so); X's docs do not
# say how POST .../messages refuses it: the sandbox X answers 400 with it in the detail.
NON_LATEST_KEY_VERSION = "NonLatestKeyVersion"


def seal_text(
    ports: Ports,
    connection: ChatAccount,
    credentials: AccountCredentials,
    *,
    customer_id: str,
    chat_conversation_id: str | None,
    text: str,
    replaced_key_version: str | None = None,
) -> SealedChatMessage:
    """`text` for the customer, encrypted and signed with the conversation's latest key,
    ready to post (post_sealed); nothing is sent to X but what finding the key takes. Its
    message id is the Chat XDK's, inside the signed event, so that its chat.sent echo is
    known by it; each call makes a new one.

    The key: the latest the account holds; else the conversation's newest on X (its key
    changes in the history); else a new one, posted to X (a conversation never started).
    `replaced_key_version`: X refused a message sealed with that version as no longer the
    latest (ChatKeyReplaced), so only a newer key will do: the one held, else the newest
    in the history; ChatUndecryptable when there is none.

    ChatRecipientHasNoKeys when a new key is needed and the customer registered no X Chat
    keys; ChatUndecryptable when the account has no X Chat identity or a key will not
    open; X's errors propagate."""
    account_id = connection.x_user_id
    chat, identity = _account_chat(ports, connection)
    conversation = canonical_conversation_id(chat_conversation_id or f"{account_id}:{customer_id}")

    def usable(version: str) -> bool:
        return replaced_key_version is None or (
            version_order(version) > version_order(replaced_key_version)
        )

    latest = ports.chat_keys.latest_conversation_key(account_id, conversation)
    found: tuple[str, bytes] | None
    try:
        if latest is not None and usable(latest[0]):
            found = latest[0], chat.decrypt_conversation_key(latest[1])
        else:
            found = _key_on_x(ports, chat, credentials, account_id, conversation, usable)
    except ValueError:  # the Chat XDK's: a stored key or a key change that will not open
        raise ChatUndecryptable(
            f"An X Chat message from @{connection.screen_name} could not be encrypted: the "
            "conversation's key could not be opened with the account's X Chat keys."
        ) from None
    if found is not None:
        key_version, key = found
    elif replaced_key_version is not None:
        raise ChatUndecryptable(
            f"X no longer takes X Chat messages under the conversation's key version "
            f"{replaced_key_version} (the customer's app replaced it), and @"
            f"{connection.screen_name} has no newer key of the conversation, nor does its "
            "history on X give one: the customer's next X Chat message will bring it. "
            "Reply then, or by DM."
        )
    else:
        key_version, key, conversation = _new_conversation_key(
            ports, chat, identity, credentials, connection, customer_id
        )
    payload = chat.encrypt_message(
        conversation, text, conversation_key=key, conversation_key_version=key_version
    )
    return SealedChatMessage(
        message_id=payload.message_id,
        chat_conversation_id=conversation,
        key_version=key_version,
        encoded_message_create_event=payload.encrypted_content,
        encoded_message_event_signature=payload.encoded_event_signature,
    )


def _key_on_x(
    ports: Ports,
    chat: "Chat",
    credentials: AccountCredentials,
    account_id: str,
    conversation: str,
    usable: Callable[[str], bool],
) -> tuple[str, bytes] | None:
    """The newest usable key of the conversation in its history on X: the customer's
    new key, or the one an earlier attempt posted whose answer was lost. None when the
    conversation has none for the account, or is not on X yet (X's docs do not say
    whether the history of a conversation never started is empty or 404: either is
    none)."""
    signers = _participants(account_id, conversation)
    try:
        return _key_from_history(
            ports, chat, credentials, account_id, conversation, usable, signers
        )
    except XNotFound:
        return None


def post_sealed(ports: Ports, credentials: AccountCredentials, sealed: SealedChatMessage) -> None:
    """Sends a sealed message, or sends it again: X takes a message id it knows once (a
    retry after X took it is answered with the message X stored, which is not delivered
    again: what X's advice to resend the same payload implies, and what the sandbox X
    does). ChatKeyReplaced when X refuses its key version as no longer the conversation's
    latest; X's other errors propagate."""
    try:
        ports.x().send_chat_message(
            credentials,
            sealed.chat_conversation_id,
            sealed.message_id,
            sealed.encoded_message_create_event,
            sealed.encoded_message_event_signature,
        )
    except XRequestRejected as error:
        if says(error, NON_LATEST_KEY_VERSION):
            raise ChatKeyReplaced(sealed.key_version) from None
        raise


def _new_conversation_key(
    ports: Ports,
    chat: "Chat",
    identity: _Identity,
    credentials: AccountCredentials,
    connection: ChatAccount,
    customer_id: str,
) -> tuple[str, bytes, str]:
    """A new key for the account's 1:1 with the customer, encrypted to both users'
    identity keys (the customer's newest verified one) and posted to X: (key version, the
    key, X's canonical conversation id). The account's copy is stored before it is used.

    A retry cannot count on posting the same key change again: X's docs
    (xchat/getting-started.mdx, step 4; x-api/chat/add-conversation-keys.mdx) do not say
    whether X takes one twice, and the sandbox X takes only a version newer than the
    conversation's latest. So when X took a key change but its answer was lost, the
    account holds no copy, and the retry's seal_text finds the key in the conversation's
    history on X and uses it; were the history not to show it yet, the retry makes
    another, newer key: the customer's app sees one more key change, and the message
    still goes once."""
    records, _ = _verified_keys(ports, chat, credentials, customer_id, fresh=True)
    if not records:
        raise ChatRecipientHasNoKeys(
            "The customer has not set up X Chat (X has no X Chat keys of theirs), so nothing "
            "can be encrypted to them: reply by DM instead."
        )
    theirs = max(records, key=lambda record: version_order(record.public_key_version))
    prepared = chat.prepare_conversation_key_change(
        [
            {
                "user_id": customer_id,
                "public_key": theirs.public_key,
                "key_version": theirs.public_key_version,
            },
            {
                "user_id": connection.x_user_id,
                "public_key": identity.registration["public_key"]["public_key"],
                "key_version": identity.key_version,
            },
        ]
    )
    version = str(prepared["conversation_key_version"])
    body = {
        "conversation_key_version": version,
        "conversation_participant_keys": [
            {
                "user_id": key["user_id"],
                "encrypted_conversation_key": key["encrypted_key"],
                "public_key_version": key["public_key_version"],
            }
            for key in prepared["participant_keys"]
        ],
        "action_signatures": [
            {
                "message_id": signature["message_id"],
                "encoded_message_event_detail": signature["encoded_message_event_detail"],
                "message_event_signature": {
                    "signature": signature["signature"],
                    "public_key_version": signature["public_key_version"],
                    "signature_version": signature["signature_version"],
                },
            }
            for signature in prepared["action_signatures"]
        ],
    }
    # A new 1:1 is posted to the recipient's id: X makes the canonical id and answers it.
    answered_id, _ = ports.x().add_conversation_keys(credentials, customer_id, body)
    conversation = canonical_conversation_id(answered_id)
    ours = next(
        key["encrypted_key"]
        for key in prepared["participant_keys"]
        if str(key["user_id"]) == connection.x_user_id
    )
    ports.chat_keys.add_conversation_key(connection.x_user_id, conversation, version, ours)
    return version, bytes(prepared["conversation_key"]), conversation
