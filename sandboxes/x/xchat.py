"""The sandbox X's X Chat: users' public keys, 1:1 conversations with their key changes,
encrypted messages and media, the events history, and chat.received / chat.sent
deliveries. X's paths, bodies and answers as openapi.json gives them (the pages
x-api/chat/*.mdx are generated from it) and xchat/*.mdx explain them:

    POST /2/users/{id}/public_keys              registers the caller's public keys
    GET  /2/users/{id}/public_keys              a user's registered keys, newest first
    POST /2/chat/conversations/{id}/keys        a conversation key change
    POST /2/chat/conversations/{id}/messages    an encrypted message
    GET  /2/chat/conversations/{id}/events      the history, newest first
    GET  /2/chat/media/{id}/{media_hash_key}    an attachment's encrypted bytes

{id} is the other user's id (a 1:1 with the caller: "the server constructs the canonical
conversation ID") or the "low-high" conversation id; the sandbox has no groups. The calls
take the account's OAuth 2.0 bearer token (or OAuth 1.0a) with the scopes of openapi.json:
dm.read to read, dm.write to write, and media.write, oddly, to download media.

Like X, the sandbox holds ciphertext and public keys only, except the private keys of the
customers it acts as (sandboxes.x.xchat_customers), which never leave it.

Where X's docs are silent, the sandbox's choices:

- Registering keys is rate limited ("a few per day"): 3 new registrations per user in 24
  hours, then 429. Posting keys the user has registered already (a retry) answers their
  version again and does not count. With generate_version the sandbox makes the version
  (the milliseconds now, after the user's last); without it, the body's version. A
  registration whose identity_public_key_signature does not bind the signing key to the
  identity key (verify_key_binding) is refused.
- A key change must name the conversation's two users, each with a version they
  registered, and a version newer than the conversation's latest; its action signature's
  encoded detail must describe exactly the request's keys (what X checks, as
  xchat/cryptography-primer.mdx says: the server cannot open the key). Where the sandbox
  holds a participant's keys (a sandbox customer), it also verifies the key change as that
  participant does (decrypt_events), and refuses one that does not verify.
- A message must be signed by one of the sender's registered signing keys, under the
  conversation's latest key version ("NonLatestKeyVersion"): the sandbox builds the event
  and verifies it as X does, without the conversation key (the Chat XDK checks the
  signature before it decrypts: with a wrong key it fails on decryption only once the
  signature verified). A forged or missing signature: 400, detail
  "SignatureFailedToVerifyAgainstPublicKey". The same message_id again (a retry) answers
  the event stored, and delivers nothing again.
- A delivery carries conversation_key_change_event on the first message under a key
  version, as xchat/real-time-events.mdx shows it; later ones name only the version.
- The history's events: id (the event's sequence id), encoded_event, sender_id,
  conversation_id, created_at, previous_id; id and encoded_event unless
  chat_message_event.fields asks for more. Key changes are events too, and
  meta.conversation_key_events lists all of the conversation's, so that any page decrypts.
- GET /2/users/{id}/public_keys answers public_key_version, public_key,
  signing_public_key and identity_public_key_signature unless public_key.fields asks for
  fewer; no juicebox_config (the sandbox has no Juicebox).
- A caller outside the conversation: 403 (not-authorized-for-resource); a conversation
  with no events yet: an empty page; a user with no keys: {"data": []}.
- What the service sends is listed in /sandbox/sent (kind "chat"), with its text when the
  sandbox holds the recipient's keys and the message verifies for them.
- X Chat's media upload routes are not served: attachments come from sandbox customers.
"""

import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sandboxes.x import chat_events
from sandboxes.x.chat_records import (
    VERSION,
    ChatEvent,
    Conversation,
    KeyChange,
    PublicKey,
    conversation_id,
    now_msec,
)
from sandboxes.x.payloads import Account, Snowflakes, iso
from sandboxes.x.web import (
    INVALID_REQUEST,
    NOT_AUTHORIZED,
    NOT_FOUND,
    Call,
    Refused,
    Response,
    json_response,
    problem,
)
from sandboxes.x.webhooks import Delivery, Webhooks

if TYPE_CHECKING:
    from chat_xdk import Chat

# openapi.json's scopes: reading X Chat, and downloading its media (media.write, as given).
CHAT_READ = ("dm.read", "tweet.read", "users.read")
MEDIA_READ = ("media.write",)
REGISTRATIONS_PER_DAY = 3
DAY_SECONDS = 24 * 60 * 60
KEY_FIELDS = (
    "public_key_version",
    "public_key",
    "signing_public_key",
    "identity_public_key_signature",
)
EVENT_FIELDS = ("id", "encoded_event", "sender_id", "conversation_id", "created_at", "previous_id")
# What openapi.json also lists, and the sandbox leaves out.
OMITTED_KEY_FIELDS = ("juicebox_config",)
OMITTED_EVENT_FIELDS = ("conversation_token", "is_trusted", "message_event_signature")
DEFAULT_EVENTS, MOST_EVENTS = 10, 100
USER_ID = re.compile(r"[0-9]{1,19}")
PAIR = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")
FORGED = "SignatureFailedToVerifyAgainstPublicKey"


class XChat:
    """X Chat on the sandbox X. `lock` is the sandbox's; `account_with_id` finds a sandbox
    account; `deliver` makes deliveries in the background; `echo` says whether what a
    connected account sends comes back to it (chat.sent); `record_sent` adds to
    /sandbox/sent."""

    def __init__(
        self,
        lock: threading.RLock,
        ids: Snowflakes,
        webhooks: Webhooks,
        *,
        account_with_id: Callable[[str], Account | None],
        deliver: Callable[[list[Delivery]], None],
        echo: Callable[[], bool],
        record_sent: Callable[[dict], None],
    ):
        self._lock = lock
        self._ids = ids
        self._webhooks = webhooks
        self._account_with_id = account_with_id
        self._deliver = deliver
        self._echo = echo
        self._record_sent = record_sent
        self._keys: dict[str, list[PublicKey]] = defaultdict(list)  # by user id, oldest first
        self._registered_at: dict[str, list[float]] = defaultdict(list)  # counted ones
        self._conversations: dict[str, Conversation] = {}
        # The Chat of each user whose private keys the sandbox holds: its customers.
        self.held: dict[str, Chat] = {}

    # ------------------------------------------------------------ public keys

    def register_public_key(self, call: Call, caller: Account) -> Response:
        user_id = call.params["user_id"]
        if caller.id != user_id:
            return _not_authorized(f"Only user {user_id} may register keys for user {user_id}.")
        body = call.json()
        given = body.get("public_key")
        names = ("public_key", "signing_public_key", "identity_public_key_signature")
        if not isinstance(given, dict) or not all(
            isinstance(given.get(name), str) and given[name] for name in names
        ):
            return _invalid(f"public_key must be an object with {', '.join(names)}.")
        version, generate = body.get("version"), body.get("generate_version", False)
        if not isinstance(generate, bool) or not (
            generate or (isinstance(version, str) and VERSION.fullmatch(version))
        ):
            return _invalid("version must be digits, unless generate_version is true.")
        if not _bound(given["public_key"], given["signing_public_key"], given[names[2]]):
            return _invalid(
                "public_key: identity_public_key_signature does not bind the signing key to "
                "the identity key."
            )
        with self._lock:
            known = self.key(user_id, identity=given["public_key"])
            if known is not None:
                return json_response(200, {"data": {"public_key_version": known.version}})
            now = time.time()
            recent = [at for at in self._registered_at[user_id] if at > now - DAY_SECONDS]
            if len(recent) >= REGISTRATIONS_PER_DAY:
                reset = int(recent[0] + DAY_SECONDS)
                headers = (
                    ("x-rate-limit-limit", str(REGISTRATIONS_PER_DAY)),
                    ("x-rate-limit-remaining", "0"),
                    ("x-rate-limit-reset", str(reset)),
                )
                return replace(problem(429, "Too Many Requests"), headers=headers)
            if not generate and any(key.version == version for key in self._keys[user_id]):
                return _invalid(f"version {version} is registered already.")
            self._registered_at[user_id] = [*recent, now]
            registered = self.register(
                user_id,
                given["public_key"],
                given["signing_public_key"],
                given["identity_public_key_signature"],
                None if generate else version,
            )
        return json_response(200, {"data": {"public_key_version": registered.version}})

    def register(
        self,
        user_id: str,
        public_key: str,
        signing_public_key: str,
        identity_public_key_signature: str,
        version: str | None,
    ) -> PublicKey:
        """Registers keys (bound already) under `version`, or a new one (None)."""
        with self._lock:
            keys = self._keys[user_id]
            if version is None:
                last = int(keys[-1].version) if keys else 0
                version = str(max(now_msec(), last + 1))
            registered = PublicKey(
                user_id,
                version,
                public_key,
                signing_public_key,
                identity_public_key_signature,
                time.time(),
            )
            keys.append(registered)
            keys.sort(key=lambda key: int(key.version))
            return registered

    def public_keys(self, call: Call, caller: Account) -> Response:
        asked = call.query.get("public_key.fields")
        fields = tuple(asked.split(",")) if asked else KEY_FIELDS
        unknown = set(fields) - set(KEY_FIELDS) - set(OMITTED_KEY_FIELDS)
        if unknown:
            return _invalid(f"public_key.fields: no such field {', '.join(sorted(unknown))}.")
        with self._lock:
            records = [key.record(fields) for key in reversed(self._keys[call.params["user_id"]])]
        return json_response(200, {"data": records})

    def key(self, user_id: str, *, identity: str | None = None) -> PublicKey | None:
        """The user's latest registered keys, or those with this identity key."""
        with self._lock:
            keys = self._keys.get(user_id, [])
            if identity is not None:
                keys = [key for key in keys if key.public_key == identity]
            return keys[-1] if keys else None

    def signing_entries(self, *user_ids: str) -> list[dict[str, str]]:
        with self._lock:
            return [key.signing_entry() for user in user_ids for key in self._keys.get(user, [])]

    def registered_versions(self, user_id: str) -> set[str]:
        with self._lock:
            return {key.version for key in self._keys.get(user_id, [])}

    # ------------------------------------------------------------ conversations

    def conversation(self, first: str, second: str) -> Conversation:
        with self._lock:
            return self._conversations.setdefault(
                conversation_id(first, second), Conversation(conversation_id(first, second))
            )

    def conversations_of(self, user_id: str) -> list[Conversation]:
        with self._lock:
            return [c for c in self._conversations.values() if user_id in c.participants]

    def _addressed(self, call: Call, caller: Account) -> Conversation:
        """The conversation the path's {id} names, with the caller in it; an empty one,
        not kept, if it has none yet."""
        path_id = call.params["conversation_id"]
        pair = PAIR.fullmatch(path_id)
        if pair:
            if caller.id not in pair.groups():
                raise Refused(_not_authorized("The caller is not in this conversation."))
            other = pair[2] if pair[1] == caller.id else pair[1]
        elif USER_ID.fullmatch(path_id):
            other = path_id
        else:
            raise Refused(
                problem(404, "The sandbox X has no group conversations.", type_=NOT_FOUND)
            )
        if other == caller.id:
            raise Refused(_invalid("A 1:1 conversation needs another user."))
        id_ = conversation_id(caller.id, other)
        with self._lock:
            return self._conversations.get(id_) or Conversation(id_)

    def add_conversation_keys(self, call: Call, caller: Account) -> Response:
        change = KeyChange.read(call.json())
        with self._lock:  # checked and stored at once: two key changes race for "newer"
            found = self._addressed(call, caller)
            reason = self._check_key_change(found, caller, change)
            if reason:
                return _invalid(reason)
            conversation = self.conversation(*found.participants)
            event = self.add_key_change(conversation, caller.id, change)
        data = {"conversation_id": conversation.path_id, "sequence_id": event.sequence_id}
        return json_response(200, {"data": data})

    def _check_key_change(
        self, conversation: Conversation, sender: Account, change: "KeyChange"
    ) -> str | None:
        """Why the key change is refused; None if it is not."""
        participants = set(conversation.participants)
        if {user for user, _, _ in change.participant_keys} != participants or len(
            change.participant_keys
        ) != len(participants):
            return "conversation_participant_keys must give one key to each participant."
        for user, _, version in change.participant_keys:
            if version not in self.registered_versions(user):
                return f"public_key_version {version} is not a version user {user} registered."
        if change.signer_version not in self.registered_versions(sender.id):
            return "message_event_signature.public_key_version is not one the sender registered."
        latest = conversation.latest_key()
        if latest is not None and int(change.key_version) <= int(latest.key_version):
            return "conversation_key_version must be newer than the conversation's latest."
        if change.described != (change.key_version, sorted(change.participant_keys)):
            return "encoded_message_event_detail does not describe this key change."
        held = [user for user in conversation.participants if user in self.held]
        if held:
            event = self._key_change_event(conversation, sender.id, change, sequence_id="0")
            chat = self.held[held[0]]
            try:
                opened = chat.decrypt_events(
                    [event.encoded], self.signing_entries(*conversation.participants)
                )
            except ValueError as error:
                return f"The key change does not open: {error}"
            if opened["errors"] or not opened["messages"]:
                why = "; ".join(opened["errors"].values()) or "not a key change"
                return f"The action signature does not verify: {why}"
        return None

    def add_key_change(
        self, conversation: Conversation, sender_id: str, change: "KeyChange"
    ) -> ChatEvent:
        """Stores a key change (checked already) as X does; its event."""
        with self._lock:
            event = self._key_change_event(conversation, sender_id, change, self._ids.next())
            conversation.events.append(event)
            return event

    def _key_change_event(
        self,
        conversation: Conversation,
        sender_id: str,
        change: "KeyChange",
        sequence_id: str,
    ) -> ChatEvent:
        created_at = datetime.now(UTC)
        encoded = chat_events.key_change_event(
            sequence_id,
            change.message_id,
            sender_id,
            conversation.id,
            int(created_at.timestamp() * 1000),
            change.detail,
            change.signature,
            change.signer_version,
            change.signature_version,
        )
        return ChatEvent(
            sequence_id=sequence_id,
            message_id=change.message_id,
            sender_id=sender_id,
            kind="key_change",
            key_version=change.key_version,
            encoded=encoded,
            created_at=created_at,
            previous_id=conversation.events[-1].sequence_id if conversation.events else None,
            participant_versions=tuple(
                sorted((user, version) for user, _, version in change.participant_keys)
            ),
        )

    # ------------------------------------------------------------ messages

    def send_message(self, call: Call, sender: Account) -> Response:
        conversation = self._addressed(call, sender)
        body = call.json()
        message_id = body.get("message_id")
        create_event = chat_events.decoded(body.get("encoded_message_create_event"))
        signature = chat_events.decoded(body.get("encoded_message_event_signature"))
        if not (isinstance(message_id, str) and message_id and create_event):
            return _invalid("message_id and encoded_message_create_event are required.")
        with self._lock:  # looked up and stored at once: a retry may race its original
            sent = next((e for e in conversation.events if e.message_id == message_id), None)
            if sent is not None:  # a retry: the event X stored
                if sent.sender_id != sender.id:
                    return _invalid("message_id is another message's.")
                return json_response(201, {"data": {"encoded_message_event": sent.encoded}})
            if signature is None:
                return _invalid(f"{FORGED}: encoded_message_event_signature is required.")
            event, deliveries = self.add_message(
                conversation, sender, message_id, create_event, signature, to_sender=self._echo()
            )
        recipient = next(user for user in conversation.participants if user != sender.id)
        record = {
            "kind": "chat",
            "time": iso(event.created_at),
            "from": {"id": sender.id, "screen_name": sender.screen_name},
            "to": _who(self._account_with_id(recipient), recipient),
            "text": self.text_for(recipient, conversation, event),
            "message_id": message_id,
            "conversation_id": conversation.path_id,
            "sequence_id": event.sequence_id,
            "key_version": event.key_version,
        }
        with self._lock:
            self._record_sent(record)
        self._deliver(deliveries)
        return json_response(201, {"data": {"encoded_message_event": event.encoded}})

    def add_message(
        self,
        conversation: Conversation,
        sender: Account,
        message_id: str,
        create_event: bytes,
        signature: bytes,
        *,
        to_sender: bool,
    ) -> tuple[ChatEvent, list[Delivery]]:
        """Stores a message, once X's checks pass (Refused if not); its event, and its
        deliveries (not made yet)."""
        try:
            content = chat_events.read_struct(create_event)
            version = content.get(chat_events.CREATE_EVENT_KEY_VERSION)
            key_version = version.decode() if isinstance(version, bytes) else ""
        except (ValueError, UnicodeDecodeError):
            content, key_version = {}, ""
        if not (key_version and content.get(chat_events.CREATE_EVENT_CIPHERTEXT)):
            raise Refused(_invalid("encoded_message_create_event is not a MessageCreateEvent."))
        with self._lock:
            latest = conversation.latest_key()
            if latest is None:
                raise Refused(_invalid("The conversation has no key: add one (POST .../keys)."))
            if key_version != latest.key_version:
                raise Refused(
                    _invalid(
                        f"NonLatestKeyVersion: the conversation's key version is "
                        f"{latest.key_version}, not {key_version}."
                    )
                )
            created_at = datetime.now(UTC)
            sequence_id = self._ids.next()
            encoded = chat_events.message_event(
                sequence_id,
                message_id,
                sender.id,
                conversation.id,
                int(created_at.timestamp() * 1000),
                create_event,
                signature,
            )
            if not self._signed_by(sender.id, encoded, key_version):
                raise Refused(
                    _invalid(
                        f"{FORGED}: the message's signature does not verify with the "
                        "sender's registered signing keys."
                    )
                )
            event = ChatEvent(
                sequence_id=sequence_id,
                message_id=message_id,
                sender_id=sender.id,
                kind="message",
                key_version=key_version,
                encoded=encoded,
                created_at=created_at,
                previous_id=conversation.events[-1].sequence_id if conversation.events else None,
            )
            conversation.events.append(event)
            payload = {
                "conversation_id": conversation.path_id,
                "sender_id": sender.id,
                "encoded_event": encoded,
                "conversation_key_version": key_version,
            }
            if key_version not in conversation.announced:
                conversation.announced.add(key_version)
                payload["conversation_key_change_event"] = latest.encoded
        recipient_id = next(user for user in conversation.participants if user != sender.id)
        recipient = self._account_with_id(recipient_id)
        if recipient is None:
            return event, []
        deliveries = self._webhooks.for_chat(sender, recipient, payload, to_sender=to_sender)
        return event, deliveries

    def _signed_by(self, sender_id: str, encoded: str, key_version: str) -> bool:
        """Whether the message event's signature verifies with the sender's registered
        signing keys, checked as X does, without the conversation key: the Chat XDK
        verifies the signature first, so with an all-zero key a genuine event fails on
        decryption and a forged one on its signature. (An event the Chat XDK does not
        take for a message, it opens without checking: refused.)"""
        from chat_xdk import Chat

        entries = self.signing_entries(sender_id)
        if not entries:
            return False
        try:
            opened = Chat().decrypt_event(encoded, {key_version: bytes(32)}, entries)
        except ValueError as error:
            reason = str(error)
            return "Decryption failed" in reason and "Signature" not in reason
        return opened.get("type") == "Message" and opened.get("verified") is True

    def text_for(self, reader_id: str, conversation: Conversation, event: ChatEvent) -> str | None:
        """The message's text as `reader_id` reads it, if the sandbox holds their keys and
        the message verifies; else None."""
        if reader_id not in self.held:
            return None
        opened = self.read_as(reader_id, conversation, [event])
        texts = [
            item["event"].get("content", {}).get("text")
            for item in opened["messages"]
            if item["event"].get("id") == event.message_id and item["event"].get("verified")
        ]
        return texts[0] if texts else None

    def read_as(self, reader_id: str, conversation: Conversation, events: list[ChatEvent]) -> dict:
        """decrypt_events as `reader_id`, whose keys the sandbox holds, over the
        conversation's key changes and `events`."""
        batch = [event.encoded for event in conversation.key_changes() if event not in events]
        batch += [event.encoded for event in events]
        with self._lock:
            return self.held[reader_id].decrypt_events(
                batch, self.signing_entries(*conversation.participants)
            )

    def store_media(self, conversation: Conversation, encrypted: bytes) -> str:
        """Keeps an attachment's encrypted bytes; the media_hash_key to fetch them by."""
        media_hash_key = secrets.token_hex(16)
        with self._lock:
            conversation.media[media_hash_key] = encrypted
        return media_hash_key

    # ------------------------------------------------------------ reading

    def conversation_events(self, call: Call, caller: Account) -> Response:
        conversation = self._addressed(call, caller)
        asked = call.query.get("chat_message_event.fields")
        fields = tuple(asked.split(",")) if asked else ("id", "encoded_event")
        unknown = set(fields) - set(EVENT_FIELDS) - set(OMITTED_EVENT_FIELDS)
        if unknown:
            return _invalid(f"chat_message_event.fields: no such field {', '.join(unknown)}.")
        size = call.query.get("max_results", str(DEFAULT_EVENTS))
        if not (size.isdigit() and 1 <= int(size) <= MOST_EVENTS):
            return _invalid(f"max_results must be from 1 to {MOST_EVENTS}.")
        with self._lock:
            newest_first = list(reversed(conversation.events))
            key_changes = [event.encoded for event in reversed(conversation.key_changes())]
        token = call.query.get("pagination_token")
        start = 0
        if token is not None:
            start = next(
                (at for at, event in enumerate(newest_first) if event.sequence_id == token), -1
            )
            if start < 0:
                return _invalid("pagination_token is not one this conversation gave.")
        page = newest_first[start : start + int(size)]
        rest = newest_first[start + int(size) :]
        meta: dict = {"result_count": len(page), "has_more": bool(rest)}
        if rest:
            meta["next_token"] = rest[0].sequence_id
        if key_changes:
            meta["conversation_key_events"] = key_changes
        answer: dict = {"meta": meta}
        if page:
            answer["data"] = [self._event_view(conversation, event, fields) for event in page]
        return json_response(200, answer)

    @staticmethod
    def _event_view(conversation: Conversation, event: ChatEvent, fields: tuple[str, ...]) -> dict:
        view = {
            "id": event.sequence_id,
            "encoded_event": event.encoded,
            "sender_id": event.sender_id,
            "conversation_id": conversation.path_id,
            "created_at": iso(event.created_at),
            "previous_id": event.previous_id,
        }
        return {name: value for name, value in view.items() if name in fields and value}

    def download_media(self, call: Call, caller: Account) -> Response:
        conversation = self._addressed(call, caller)
        with self._lock:
            data = conversation.media.get(call.params["media_hash_key"])
        if data is None:
            return problem(404, "No such media in this conversation.", type_=NOT_FOUND)
        return Response(200, data, content_type="application/octet-stream")

    # ------------------------------------------------------------ records

    def overview(self, names: dict[str, str]) -> dict:
        """Conversations, their key versions, and each user's registered key versions;
        never a private or conversation key. `names`: screen names by user id."""
        with self._lock:
            return {
                "conversations": [
                    {
                        "conversation_id": conversation.path_id,
                        "participants": [
                            {"id": user, "screen_name": names.get(user)}
                            for user in conversation.participants
                        ],
                        "key_versions": [e.key_version for e in conversation.key_changes()],
                        "messages": sum(e.kind == "message" for e in conversation.events),
                        "media": len(conversation.media),
                    }
                    for conversation in self._conversations.values()
                ],
                "public_keys": [
                    {
                        "user_id": user,
                        "screen_name": names.get(user),
                        "versions": [key.version for key in keys],
                        "keys_held_by_sandbox": user in self.held,
                        "registrations_last_24h": sum(
                            at > time.time() - DAY_SECONDS for at in self._registered_at[user]
                        ),
                    }
                    for user, keys in self._keys.items()
                    if keys
                ],
            }


def _bound(identity: str, signing: str, signature: str) -> bool:
    from chat_xdk import Chat

    try:
        return Chat().verify_key_binding(identity, signing, signature)
    except ValueError:
        return False


def _who(account: Account | None, user_id: str) -> dict:
    return {"id": user_id, "screen_name": account.screen_name if account else None}


def _invalid(detail: str) -> Response:
    return problem(400, detail, type_=INVALID_REQUEST)


def _not_authorized(detail: str) -> Response:
    return problem(403, detail, type_=NOT_AUTHORIZED)
