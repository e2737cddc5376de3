"""The sandbox's customers in X Chat: users whose Chat XDK keys the sandbox makes (on first
use) and registers, and as whom it writes to a company account, reads what they received,
and rotates a conversation's key. Their private keys stay in the sandbox's memory: never
in an answer, a log or GET /sandbox.

The company's staff typing in X's own app, on the company's account, cannot be played: it
would take the account's private keys, which only the service holds (the sandbox acts only
as users whose keys it made).
"""

import base64
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sandboxes.x.chat_records import ChatEvent, Conversation, KeyChange
from sandboxes.x.payloads import ANIMATED_GIF, PHOTO, VIDEO, Account, iso
from sandboxes.x.web import Refused, Response, json_response, sandbox_error
from sandboxes.x.webhooks import Delivery
from sandboxes.x.xchat import XChat

if TYPE_CHECKING:
    from chat_xdk import Chat

# The Chat XDK's attachment media_type (found by experiment: 1 image, 2 GIF, 3 video).
MEDIA_TYPES = {PHOTO: 1, ANIMATED_GIF: 2, VIDEO: 3}


class Attachment(Protocol):
    """A file a customer attaches (the server's, read from the control's "media")."""

    @property
    def media_type(self) -> str: ...
    @property
    def file_name(self) -> str | None: ...
    @property
    def data(self) -> bytes: ...


class ChatCustomers:
    """Acting as customers in X Chat on `chat`; `deliver` makes deliveries at once."""

    def __init__(
        self, chat: XChat, lock: threading.RLock, deliver: Callable[[list[Delivery]], None]
    ):
        self._chat = chat
        self._lock = lock
        self._deliver = deliver

    def writes(
        self, sender: Account, to: Account, text: str, attachments: Sequence[Attachment]
    ) -> Response:
        """The customer writes to `to` (the company's account) in an encrypted chat: a new
        conversation key first when there is none, or when either side registered newer
        keys since; then the message, encrypted and signed as the customer, stored and
        delivered as X does."""
        customer = self._identity(sender)
        conversation = self._conversation_with(sender, to)
        with self._lock:
            latest = conversation.latest_key()
            current = tuple(
                sorted((user, self._latest_version(user)) for user in conversation.participants)
            )
            key_change = None
            if latest is None or latest.participant_versions != current:
                key_change = self._new_key(customer, sender, conversation)
            version, key = self._latest_key(sender, conversation)
            media = [self._media(customer, conversation, key, item) for item in attachments]
            payload = customer.encrypt_message(
                conversation.id,
                text,
                conversation_key=key,
                conversation_key_version=version,
                attachments=media or None,
            )
            event, deliveries = self._chat.add_message(
                conversation,
                sender,
                payload.message_id,
                base64.b64decode(payload.encrypted_content),
                base64.b64decode(payload.encoded_event_signature),
                to_sender=True,
            )
        self._deliver(deliveries)
        chat = {
            "message_id": event.message_id,
            "conversation_id": conversation.path_id,
            "sequence_id": event.sequence_id,
            "from": _who(sender),
            "to": _who(to),
            "text": text,
            "key_version": version,
            "new_key": key_change is not None,
            "media": [
                {name: item[name] for name in ("media_hash_key", "filename", "filesize_bytes")}
                for item in media
            ],
        }
        return json_response(
            200, {"chat": chat, "deliveries": [delivery.summary() for delivery in deliveries]}
        )

    def rotates(self, sender: Account, to: Account) -> Response:
        """The customer makes the conversation's next key (X's delivery of the next
        message carries it)."""
        customer = self._identity(sender)
        conversation = self._conversation_with(sender, to)
        with self._lock:
            event = self._new_key(customer, sender, conversation)
        answer = {
            "conversation_id": conversation.path_id,
            "key_version": event.key_version,
            "sequence_id": event.sequence_id,
        }
        return json_response(200, answer)

    def received(self, account: Account, names: dict[str, str]) -> Response:
        """What the customer received, decrypted and verified as the customer's Chat XDK
        does (with the senders' registered signing keys), oldest first; and what could
        not be, with why. `names`: screen names by user id."""
        messages: list[dict] = []
        errors: list[dict] = []
        if account.id in self._chat.held:
            for conversation in self._chat.conversations_of(account.id):
                self._read(account, conversation, names, messages, errors)
        return json_response(200, {"messages": messages, "errors": errors})

    # ------------------------------------------------------------ as a customer

    def _identity(self, account: Account) -> "Chat":
        """The customer's Chat: keys made and registered in the sandbox on first use."""
        from chat_xdk import Chat

        with self._lock:
            held = self._chat.held.get(account.id)
            if held is not None:
                return held
            if self._chat.key(account.id) is not None:
                raise Refused(
                    sandbox_error(
                        409,
                        f"@{account.screen_name} registered its own X Chat keys: the sandbox "
                        "acts only as users whose keys it made.",
                    )
                )
            chat = Chat()
            registration = chat.generate_keypairs()
            public = registration.public_key
            registered = self._chat.register(
                account.id,
                public.public_key,
                public.signing_public_key,
                public.identity_public_key_signature,
                registration.version,
            )
            chat.set_identity(account.id, registered.version)
            self._chat.held[account.id] = chat
            return chat

    def _conversation_with(self, sender: Account, to: Account) -> Conversation:
        if sender.id == to.id:
            raise Refused(sandbox_error(400, "A customer chats with another account."))
        if self._chat.key(to.id) is None:
            raise Refused(
                sandbox_error(
                    409,
                    f"@{to.screen_name} has no X Chat keys registered: connect it to the "
                    "service (which registers them) first.",
                )
            )
        return self._chat.conversation(sender.id, to.id)

    def _latest_version(self, user_id: str) -> str:
        key = self._chat.key(user_id)
        return key.version if key else ""

    def _new_key(self, customer: "Chat", sender: Account, conversation: Conversation) -> ChatEvent:
        """A new conversation key for both participants' latest registered keys, made and
        signed as the customer, and stored as X stores a key change."""
        keys = [self._chat.key(user) for user in conversation.participants]
        prepared = customer.prepare_conversation_key_change(
            [key.key_input() for key in keys if key is not None],
            conversation_id=conversation.id if conversation.events else None,
        )
        return self._chat.add_key_change(conversation, sender.id, KeyChange.prepared(prepared))

    def _latest_key(self, sender: Account, conversation: Conversation) -> tuple[str, bytes]:
        """The conversation's latest key version and key, opened as the customer (the key
        change verified first); Refused (409) when the customer cannot open it."""
        latest = conversation.latest_key()
        opened = self._chat.read_as(sender.id, conversation, [])
        key = opened["conversation_keys"]["keys"].get(latest.key_version) if latest else None
        if latest is None or key is None:
            why = "; ".join(opened["errors"].values()) or "no key change for it"
            raise Refused(
                sandbox_error(
                    409,
                    f"@{sender.screen_name} cannot open the conversation's latest key: {why}",
                )
            )
        return latest.key_version, bytes(key)

    def _media(
        self, customer: "Chat", conversation: Conversation, key: bytes, attachment: Attachment
    ) -> dict:
        """Encrypts the file with the conversation key and keeps it: its attachment, in the
        shape encrypt_message takes (xchat/media.mdx)."""
        from chat_xdk import detect_image_dimensions

        encrypted = customer.encrypt_stream(attachment.data, key)
        dimensions = (
            detect_image_dimensions(attachment.data) if attachment.media_type == PHOTO else None
        )
        width, height = dimensions or (0, 0)
        return {
            "attachment_type": "media",
            "media_hash_key": self._chat.store_media(conversation, encrypted),
            "width": width,
            "height": height,
            "filesize_bytes": len(attachment.data),
            "filename": attachment.file_name or f"{attachment.media_type}.bin",
            "media_type": MEDIA_TYPES[attachment.media_type],
        }

    def _read(
        self,
        account: Account,
        conversation: Conversation,
        names: dict[str, str],
        messages: list[dict],
        errors: list[dict],
    ) -> None:
        with self._lock:
            events = list(conversation.events)
        opened = self._chat.read_as(account.id, conversation, events)
        for item in opened["messages"]:
            event = item["event"]
            if event.get("type") != "Message" or event.get("sender_id") == account.id:
                continue
            content = event.get("content") or {}
            messages.append(
                {
                    "conversation_id": conversation.path_id,
                    "sequence_id": event.get("sequence_id"),
                    "message_id": event.get("id"),
                    "sender": {
                        "id": event.get("sender_id"),
                        "screen_name": names.get(event.get("sender_id", "")),
                    },
                    "text": content.get("text"),
                    "verified": event.get("verified"),
                    "key_version": event.get("key_version"),
                    "created_at": _time(event.get("created_at_msec")),
                    "attachments": [
                        {
                            name: attachment.get(name)
                            for name in (
                                "media_hash_key",
                                "filename",
                                "filesize_bytes",
                                "media_type",
                            )
                        }
                        for attachment in event.get("attachments") or []
                    ],
                }
            )
        for index, why in opened["errors"].items():
            failed = events[int(index)] if int(index) < len(events) else None
            errors.append(
                {
                    "conversation_id": conversation.path_id,
                    "sequence_id": failed.sequence_id if failed else None,
                    "error": why,
                }
            )


def _who(account: Account) -> dict:
    return {"id": account.id, "screen_name": account.screen_name}


def _time(msec: object) -> str | None:
    if not isinstance(msec, int):
        return None
    return iso(datetime.fromtimestamp(msec / 1000, UTC))
