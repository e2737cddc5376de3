"""A customer in X Chat with real Chat XDK keys, and X's encoded events of what they
write: for tests that play the other side of an encrypted chat. The events are built by
the sandbox X's sandboxes.x.chat_events, which says what X's encoded event holds.

It speaks X's JSON field names (a public-key record is a dict as
GET /2/users/{id}/public_keys answers it)."""

import base64
import time
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from sandboxes.x import chat_events


def conversation_id_of(*user_ids: str) -> str:
    """A 1:1's id as the Chat XDK signs it."""
    return ":".join(sorted(user_ids, key=int))


def message_event(
    *,
    sequence_id: str,
    message_id: str,
    sender_id: str,
    conversation_id: str,
    encrypted_content: str,
    encoded_event_signature: str,
    created_at_msec: int | None = None,
) -> str:
    """X's encoded event of a message sent with encrypt_message's payload."""
    return chat_events.message_event(
        sequence_id,
        message_id,
        sender_id,
        conversation_id,
        created_at_msec or int(time.time() * 1000),
        base64.b64decode(encrypted_content),
        base64.b64decode(encoded_event_signature),
    )


def key_change_event(
    *,
    sequence_id: str,
    sender_id: str,
    conversation_id: str,
    action_signature: dict[str, Any],
    created_at_msec: int | None = None,
) -> str:
    """X's encoded event of a key change, from one of its action signatures (as
    prepare_conversation_key_change answers them, or as POST .../keys carries them)."""
    signed = action_signature.get("message_event_signature", action_signature)
    return chat_events.key_change_event(
        sequence_id,
        action_signature["message_id"],
        sender_id,
        conversation_id,
        created_at_msec or int(time.time() * 1000),
        base64.b64decode(action_signature["encoded_message_event_detail"]),
        signed["signature"],
        signed["public_key_version"],
        signed["signature_version"],
    )


@dataclass(frozen=True)
class Written:
    """A message the customer wrote: its id (signed) and X's encoded event of it."""

    message_id: str
    encoded_event: str
    key_version: str
    conversation_id: str


@dataclass
class ChatCustomer:
    """An X user with X Chat keys of their own."""

    user_id: str
    chat: Any = field(init=False, repr=False)
    record: dict[str, str] = field(init=False)  # their public keys, as X serves them
    keys: dict[tuple[str, str], bytes] = field(init=False, repr=False)  # (conversation, version)
    latest: dict[str, str] = field(init=False)  # conversation -> newest key version

    def __post_init__(self) -> None:
        from chat_xdk import Chat

        self.chat = Chat()
        registration = self.chat.generate_keypairs()
        version = str(registration.version or "1")
        self.chat.set_identity(self.user_id, version)
        public = registration.public_key
        self.record = {
            "public_key_version": version,
            "public_key": public.public_key,
            "signing_public_key": public.signing_public_key,
            "identity_public_key_signature": public.identity_public_key_signature,
        }
        self.keys, self.latest = {}, {}
        self._sequence = count(int(time.time() * 1000))

    def next_sequence_id(self) -> str:
        return str(next(self._sequence))

    def start_conversation(self, account_id: str, account_record: dict[str, str]) -> str:
        """A new conversation key, encrypted to both users (the account's `record`, as X
        serves it): answers X's encoded key-change event, as chat.received's
        conversation_key_change_event carries it."""
        prepared = self.chat.prepare_conversation_key_change(
            [
                {
                    "user_id": self.user_id,
                    "public_key": self.record["public_key"],
                    "key_version": self.record["public_key_version"],
                },
                {
                    "user_id": account_id,
                    "public_key": account_record["public_key"],
                    "key_version": account_record["public_key_version"],
                },
            ]
        )
        conversation = str(prepared["conversation_id"])
        version = str(prepared["conversation_key_version"])
        self.keys[(conversation, version)] = bytes(prepared["conversation_key"])
        self.latest[conversation] = version
        return key_change_event(
            sequence_id=self.next_sequence_id(),
            sender_id=self.user_id,
            conversation_id=conversation,
            action_signature=prepared["action_signatures"][0],
        )

    def write(
        self,
        account_id: str,
        text: str,
        *,
        attachments: list[dict[str, Any]] | None = None,
        key_version: str | None = None,
    ) -> Written:
        """A message to the account with the conversation's newest key (or
        `key_version`), as X's encoded event."""
        conversation = conversation_id_of(self.user_id, account_id)
        version = key_version or self.latest[conversation]
        payload = self.chat.encrypt_message(
            conversation,
            text,
            conversation_key=self.keys[(conversation, version)],
            conversation_key_version=version,
            attachments=attachments,
        )
        return Written(
            payload.message_id,
            message_event(
                sequence_id=self.next_sequence_id(),
                message_id=payload.message_id,
                sender_id=self.user_id,
                conversation_id=conversation,
                encrypted_content=payload.encrypted_content,
                encoded_event_signature=payload.encoded_event_signature,
            ),
            version,
            conversation,
        )

    def encrypt_media(self, account_id: str, data: bytes, key_version: str | None = None) -> bytes:
        """An attachment's bytes as X stores them: encrypted with the conversation key."""
        conversation = conversation_id_of(self.user_id, account_id)
        version = key_version or self.latest[conversation]
        return bytes(self.chat.encrypt_stream(data, self.keys[(conversation, version)]))

    def receive_key_change(
        self, account_id: str, body: dict[str, Any], account_record: dict[str, str]
    ) -> str:
        """The key change the account posted (POST /2/chat/conversations/{id}/keys's
        body), verified with the account's signing key and opened: answers its version."""
        conversation = conversation_id_of(self.user_id, account_id)
        event = key_change_event(
            sequence_id=self.next_sequence_id(),
            sender_id=account_id,
            conversation_id=conversation,
            action_signature=body["action_signatures"][0],
        )
        opened = self.chat.decrypt_events([event], [signing_entry(account_id, account_record)])
        if opened["errors"]:
            raise ValueError(f"the account's key change does not verify: {opened['errors']}")
        for version, key in opened["conversation_keys"]["keys"].items():
            self.keys[(conversation, str(version))] = bytes(key)
            self.latest[conversation] = str(version)
        return str(body["conversation_key_version"])

    def read(
        self,
        account_id: str,
        account_record: dict[str, str],
        *,
        message_id: str,
        encoded_message_create_event: str,
        encoded_message_event_signature: str,
    ) -> dict[str, Any]:
        """A message the account sent (POST .../messages's body), verified with the
        account's signing key and decrypted, as the customer's app shows it."""
        conversation = conversation_id_of(self.user_id, account_id)
        event = message_event(
            sequence_id=self.next_sequence_id(),
            message_id=message_id,
            sender_id=account_id,
            conversation_id=conversation,
            encrypted_content=encoded_message_create_event,
            encoded_event_signature=encoded_message_event_signature,
        )
        keys = {version: key for (conv, version), key in self.keys.items() if conv == conversation}
        decrypted: dict[str, Any] = self.chat.decrypt_event(
            event, keys, [signing_entry(account_id, account_record)]
        )
        return decrypted


def signing_entry(user_id: str, record: dict[str, str]) -> dict[str, str]:
    """The Chat XDK's signing-key entry of a user's public-key record."""
    return {
        "user_id": user_id,
        "public_key_version": record["public_key_version"],
        "public_key": record["signing_public_key"],
        "identity_public_key": record["public_key"],
        "identity_public_key_signature": record["identity_public_key_signature"],
    }
