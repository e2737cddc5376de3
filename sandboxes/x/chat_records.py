"""The sandbox X's X Chat records: users' registered public keys, conversations and their
events, and key changes as X's API and the Chat XDK give them."""

import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from sandboxes.x import chat_events
from sandboxes.x.web import INVALID_REQUEST, Refused, Response, problem

VERSION = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class PublicKey:
    """A user's registered X Chat public keys, under one version."""

    user_id: str
    version: str
    public_key: str  # the identity key
    signing_public_key: str
    identity_public_key_signature: str
    registered_at: float  # time.time()

    def record(self, fields: tuple[str, ...]) -> dict:
        """GET /2/users/{id}/public_keys's record, with `fields`."""
        record = {
            "public_key_version": self.version,
            "public_key": self.public_key,
            "signing_public_key": self.signing_public_key,
            "identity_public_key_signature": self.identity_public_key_signature,
        }
        return {name: value for name, value in record.items() if name in fields}

    def signing_entry(self) -> dict[str, str]:
        """The Chat XDK's signing-key entry (xchat/getting-started.mdx step 6)."""
        return {
            "user_id": self.user_id,
            "public_key_version": self.version,
            "public_key": self.signing_public_key,
            "identity_public_key": self.public_key,
            "identity_public_key_signature": self.identity_public_key_signature,
        }

    def key_input(self) -> dict[str, str]:
        """prepare_conversation_key_change's entry for this user."""
        return {"user_id": self.user_id, "public_key": self.public_key, "key_version": self.version}


@dataclass(frozen=True)
class ChatEvent:
    sequence_id: str
    message_id: str
    sender_id: str
    kind: str  # "message" or "key_change"
    key_version: str
    encoded: str
    created_at: datetime
    previous_id: str | None
    # A key change's participants' public-key versions, by user id.
    participant_versions: tuple[tuple[str, str], ...] = ()


@dataclass
class Conversation:
    id: str  # "low:high", as the Chat XDK signs it
    events: list[ChatEvent] = field(default_factory=list)  # oldest first
    announced: set[str] = field(default_factory=set)  # key versions a delivery carried
    media: dict[str, bytes] = field(default_factory=dict, repr=False)  # by media_hash_key

    @property
    def path_id(self) -> str:
        """The id X's paths and deliveries use: "low-high"."""
        return self.id.replace(":", "-")

    @property
    def participants(self) -> tuple[str, str]:
        low, high = self.id.split(":")
        return low, high

    def key_changes(self) -> list[ChatEvent]:
        return [event for event in self.events if event.kind == "key_change"]

    def latest_key(self) -> ChatEvent | None:
        changes = self.key_changes()
        return changes[-1] if changes else None


def conversation_id(first: str, second: str) -> str:
    low, high = sorted((first, second), key=int)
    return f"{low}:{high}"


def now_msec() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class KeyChange:
    """A key change as POST .../keys gives it (X's body), and what its first action
    signature's encoded detail describes."""

    key_version: str
    participant_keys: list[tuple[str, str, str]]  # user id, encrypted key, key version
    message_id: str
    detail: bytes
    signature: str
    signer_version: str
    signature_version: str
    described: tuple[str, list[tuple[str, str, str]]] | None

    @classmethod
    def prepared(cls, prepared: dict) -> "KeyChange":
        """The key change the Chat XDK's prepare_conversation_key_change made."""
        action = prepared["action_signatures"][0]
        keys = [
            (key["user_id"], key["encrypted_key"], key["public_key_version"])
            for key in prepared["participant_keys"]
        ]
        detail = chat_events.decoded(action["encoded_message_event_detail"]) or b""
        return cls(
            key_version=prepared["conversation_key_version"],
            participant_keys=keys,
            message_id=action["message_id"],
            detail=detail,
            signature=action["signature"],
            signer_version=action["public_key_version"],
            signature_version=action["signature_version"],
            described=_described(detail),
        )

    @classmethod
    def read(cls, body: dict) -> "KeyChange":
        """Refused (400) when the body is not as openapi.json's AddConversationKeysRequest."""
        key_version = body.get("conversation_key_version")
        keys, signatures = body.get("conversation_participant_keys"), body.get("action_signatures")
        if not (isinstance(key_version, str) and VERSION.fullmatch(key_version)):
            raise Refused(_invalid("conversation_key_version must be digits."))
        if not (isinstance(keys, list) and keys and all(isinstance(k, dict) for k in keys)):
            raise Refused(_invalid("conversation_participant_keys must be a list of keys."))
        names = ("user_id", "encrypted_conversation_key", "public_key_version")
        if not all(isinstance(k.get(name), str) and k[name] for k in keys for name in names):
            raise Refused(_invalid(f"each participant key needs {', '.join(names)}."))
        if not (isinstance(signatures, list) and signatures and isinstance(signatures[0], dict)):
            raise Refused(_invalid("action_signatures are required."))
        action = signatures[0]
        signed = action.get("message_event_signature")
        detail = chat_events.decoded(action.get("encoded_message_event_detail"))
        signed_names = ("signature", "public_key_version", "signature_version")
        if not (
            isinstance(action.get("message_id"), str)
            and action["message_id"]
            and detail
            and isinstance(signed, dict)
            and all(isinstance(signed.get(name), str) and signed[name] for name in signed_names)
        ):
            raise Refused(
                _invalid(
                    "an action signature needs message_id, encoded_message_event_detail and "
                    "message_event_signature {signature, public_key_version, signature_version}."
                )
            )
        return cls(
            key_version=key_version,
            participant_keys=[
                (k["user_id"], k["encrypted_conversation_key"], k["public_key_version"])
                for k in keys
            ],
            message_id=action["message_id"],
            detail=detail,
            signature=signed["signature"],
            signer_version=signed["public_key_version"],
            signature_version=signed["signature_version"],
            described=_described(detail),
        )


def _described(detail: bytes) -> tuple[str, list[tuple[str, str, str]]] | None:
    """The key version and participant keys an encoded key-change detail describes."""
    try:
        change = chat_events.read_struct(detail)[chat_events.KEY_CHANGE]
        version = change[chat_events.KEY_CHANGE_VERSION].decode()  # type: ignore[index]
        keys = [
            (
                key[chat_events.PARTICIPANT_USER].decode(),
                key[chat_events.PARTICIPANT_KEY].decode(),
                key[chat_events.PARTICIPANT_VERSION].decode(),
            )
            for key in change[chat_events.KEY_CHANGE_PARTICIPANTS]  # type: ignore[index]
        ]
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None
    return version, sorted(keys)


def _invalid(detail: str) -> Response:
    return problem(400, detail, type_=INVALID_REQUEST)
