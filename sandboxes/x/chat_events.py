"""X Chat's encoded events, as X delivers them (chat.received's payload.encoded_event, and
the events history): base64 of a Thrift-binary MessageEvent that X builds around what the
sender posted. X's docs give no schema (x-api/chat/*.mdx say "Base64-encoded Thrift");
the fields below are the ones the Chat XDK (chatxdk 0.5.2) reads, found by experiment:
with them decrypt_event and decrypt_events decrypt the event and verify its signature.

    1: sequence_id, 2: message id (the sender's, inside the signed content),
    3: sender_id, 4: conversation_id ("low:high" user ids, as the Chat XDK signs it),
    6: created_at_msec, 7: the event's detail (a union), 9: its MessageEventSignature.

A message's detail is {1: the MessageCreateEvent the sender posted
(encoded_message_create_event)}, and its signature the MessageEventSignature it posted
(encoded_message_event_signature). A key change's detail is the action signature's
encoded_message_event_detail, and its signature {1: signature, 2: public_key_version,
3: signature_version}.
"""

import base64
import binascii
import struct

STOP, BOOL, BYTE, DOUBLE, I16, I32, I64, STRING, STRUCT, MAP, SET, LIST = (
    0,
    2,
    3,
    4,
    6,
    8,
    10,
    11,
    12,
    13,
    14,
    15,
)
_FIXED = {BOOL: ">?", BYTE: ">b", DOUBLE: ">d", I16: ">h", I32: ">i", I64: ">q"}

# What the sandbox reads of the structs senders post.
CREATE_EVENT_CIPHERTEXT = 100  # MessageCreateEvent's encrypted contents
CREATE_EVENT_KEY_VERSION = 101  # MessageCreateEvent.conversation_key_version
KEY_CHANGE = 3  # the key-change arm of a detail's union: ConversationKeyChangeEvent
KEY_CHANGE_VERSION, KEY_CHANGE_PARTICIPANTS = 1, 2  # its key version and participant keys
PARTICIPANT_USER, PARTICIPANT_KEY, PARTICIPANT_VERSION = 1, 2, 3


def message_event(
    sequence_id: str,
    message_id: str,
    sender_id: str,
    conversation_id: str,
    created_at_msec: int,
    create_event: bytes,
    signature: bytes,
) -> str:
    """A message's encoded event: `create_event` and `signature` are the decoded
    encoded_message_create_event and encoded_message_event_signature."""
    detail = _struct_field(1, create_event) + bytes([STOP])
    return _event(
        sequence_id, message_id, sender_id, conversation_id, created_at_msec, detail, signature
    )


def key_change_event(
    sequence_id: str,
    message_id: str,
    sender_id: str,
    conversation_id: str,
    created_at_msec: int,
    detail: bytes,
    signature: str,
    public_key_version: str,
    signature_version: str,
) -> str:
    """A key change's encoded event: `detail` is the decoded encoded_message_event_detail
    of its action signature."""
    signed = (
        _string_field(1, signature)
        + _string_field(2, public_key_version)
        + _string_field(3, signature_version)
        + bytes([STOP])
    )
    return _event(
        sequence_id, message_id, sender_id, conversation_id, created_at_msec, detail, signed
    )


def _event(
    sequence_id: str,
    message_id: str,
    sender_id: str,
    conversation_id: str,
    created_at_msec: int,
    detail: bytes,
    signature: bytes,
) -> str:
    encoded = (
        _string_field(1, sequence_id)
        + _string_field(2, message_id)
        + _string_field(3, sender_id)
        + _string_field(4, conversation_id)
        + _string_field(6, str(created_at_msec))
        + _struct_field(7, detail)
        + _struct_field(9, signature)
        + bytes([STOP])
    )
    return base64.b64encode(encoded).decode("ascii")


def _string_field(field_id: int, value: str) -> bytes:
    data = value.encode()
    return struct.pack(">bhi", STRING, field_id, len(data)) + data


def _struct_field(field_id: int, encoded_struct: bytes) -> bytes:
    return struct.pack(">bh", STRUCT, field_id) + encoded_struct


# ---------------------------------------------------------------- reading


def decoded(value: object) -> bytes | None:
    """The bytes of a base64 string (standard or URL-safe alphabet); None if it is not."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def read_struct(data: bytes) -> dict[int, object]:
    """A Thrift-binary struct as {field id: value}: strings as bytes, structs as dicts,
    lists and sets as lists, maps as lists of pairs. ValueError unless `data` is exactly
    one struct."""
    try:
        fields, end = _struct(data, 0)
    except (IndexError, struct.error) as error:
        raise ValueError("truncated Thrift struct") from error
    if end != len(data):
        raise ValueError("bytes after the Thrift struct")
    return fields


def _struct(data: bytes, offset: int) -> tuple[dict[int, object], int]:
    fields: dict[int, object] = {}
    while True:
        kind = data[offset]
        offset += 1
        if kind == STOP:
            return fields, offset
        (field_id,) = struct.unpack_from(">h", data, offset)
        fields[field_id], offset = _value(data, offset + 2, kind)


def _value(data: bytes, offset: int, kind: int) -> tuple[object, int]:
    if kind in _FIXED:
        fmt = _FIXED[kind]
        return struct.unpack_from(fmt, data, offset)[0], offset + struct.calcsize(fmt)
    if kind == STRING:
        (size,) = struct.unpack_from(">i", data, offset)
        end = offset + 4 + size
        if size < 0 or end > len(data):
            raise ValueError("a Thrift string runs past the data")
        return data[offset + 4 : end], end
    if kind == STRUCT:
        return _struct(data, offset)
    if kind in (LIST, SET):
        item_kind, size = struct.unpack_from(">bi", data, offset)
        offset += 5
        items = []
        for _ in range(size):
            item, offset = _value(data, offset, item_kind)
            items.append(item)
        return items, offset
    if kind == MAP:
        key_kind, value_kind, size = struct.unpack_from(">bbi", data, offset)
        offset += 6
        pairs = []
        for _ in range(size):
            key, offset = _value(data, offset, key_kind)
            value, offset = _value(data, offset, value_kind)
            pairs.append((key, value))
        return pairs, offset
    raise ValueError(f"unknown Thrift type {kind}")
