"""What the X Chat unit tests share (no tests of its own): the inbound tests' tenant
(tests.unit.test_inbound_support.Desk) with its X account connected with OAuth 2.0 and
its X Chat keys registered on the fake X, and customer @jane with X Chat keys of her own
(tests.fakes.chat.ChatCustomer), who writes encrypted messages as X delivers them and
reads, decrypted and verified, what the account sent her."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import count
from typing import Any

from tests.fakes.chat import ChatCustomer, conversation_id_of, message_event
from tests.fakes.clock import Clock
from tests.unit.test_inbound_support import ACCOUNT, ACCOUNT_ID, CUSTOMER, CUSTOMER_ID, Desk
from twittnow import instance, x_accounts, xchat
from twittnow.clients.x import PublicKeyRecord, XUser
from twittnow.models import ConversationMessage
from twittnow.x_events import ChatMessage

# The 1:1's id as X's deliveries give it (hyphenated), and as the Chat XDK signs it.
DELIVERED_CONVERSATION_ID = f"{ACCOUNT_ID}-{CUSTOMER_ID}"
SIGNED_CONVERSATION_ID = conversation_id_of(ACCOUNT_ID, CUSTOMER_ID)


class ChatDesk(Desk):
    """A tenant whose account has its X Chat keys, and @jane, who has hers."""

    def __init__(self, clock_: Clock, *, servicenow: bool = True, jane_has_keys: bool = True):
        super().__init__(clock_, servicenow=servicenow)
        tokens = self.x.issue_tokens(XUser(ACCOUNT_ID, ACCOUNT))
        secrets = self.ports.x_secrets
        version = secrets.put(
            self.connection.secret_arn, json.dumps(x_accounts.oauth2_secret(tokens))
        )
        self.ports.credentials.record_x_secret_version(self.connection, version)
        self.connection = self.connection.model_copy(
            update={"secret_version": version, "auth": "oauth2"}
        )
        xchat.ensure_identity(self.ports, self.connection, self.credentials())
        self.jane = ChatCustomer(CUSTOMER_ID)
        if jane_has_keys:
            self.x.chat_public_keys[CUSTOMER_ID] = [PublicKeyRecord(**self.jane.record)]
        self.x.users[CUSTOMER_ID] = XUser(CUSTOMER_ID, CUSTOMER)
        self._key_change: str | None = None  # X's event of the key jane made
        self._key_change_delivered = False
        self._uuids = count(1)
        self._opened: set[str] = set()  # the account's key changes jane has opened

    def credentials(self) -> Any:
        return x_accounts.credentials_of(self.ports, self.connection)

    @property
    def account_record(self) -> dict[str, str]:
        """The account's public keys, as X serves them."""
        [record] = self.x.chat_public_keys[ACCOUNT_ID]
        return record._asdict()

    # ------------------------------------------------------------ what X delivers

    def uuid(self) -> str:
        return f"event-uuid-{next(self._uuids)}"

    def start_chat(self) -> str:
        """Jane makes the conversation's key (once): X's key-change event of it."""
        if self._key_change is None:
            self._key_change = self.jane.start_conversation(ACCOUNT_ID, self.account_record)
        return self._key_change

    def chat(
        self,
        text: str,
        *,
        sent_at: datetime | None = None,
        attachments: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> ChatMessage:
        """Jane's X Chat message to the account, sent now (unless `sent_at`), as X's
        chat.received delivers it: her first carries the key change that starts the
        conversation, the next ones only name its version."""
        key_change = self.start_chat()
        if self._key_change_delivered:
            key_change = None
        self._key_change_delivered = True
        version = self.jane.latest[SIGNED_CONVERSATION_ID]
        payload = self.jane.chat.encrypt_message(
            SIGNED_CONVERSATION_ID,
            text,
            conversation_key=self.jane.keys[(SIGNED_CONVERSATION_ID, version)],
            conversation_key_version=version,
            attachments=attachments,
        )
        encoded = message_event(
            sequence_id=self.jane.next_sequence_id(),
            message_id=payload.message_id,
            sender_id=CUSTOMER_ID,
            conversation_id=SIGNED_CONVERSATION_ID,
            encrypted_content=payload.encrypted_content,
            encoded_event_signature=payload.encoded_event_signature,
            created_at_msec=_msec(sent_at or self.clock.now),
        )
        return ChatMessage(
            **{
                "event_id": self.uuid(),
                "account_id": ACCOUNT_ID,
                "direction": "received",
                "chat_conversation_id": DELIVERED_CONVERSATION_ID,
                "sender_id": CUSTOMER_ID,
                "customer_id": CUSTOMER_ID,
                "encoded_event": encoded,
                "key_version": version,
                "key_change_event": key_change,
                "message_id": payload.message_id,
                **fields,
            }
        )

    def chat_message_of(self, event: ChatMessage) -> ConversationMessage:
        """The conversation's message of a chat event: the one of its message id."""
        [message] = [m for m in self.messages() if m.event_id == event.message_id]
        return message

    def again(self, event: ChatMessage) -> ChatMessage:
        """The same message delivered again under another event_uuid (X's replay, the
        reconciliation's copy from the history)."""
        return event.model_copy(update={"event_id": self.uuid()})

    def chat_sent(self, sent: Any, sent_at: datetime | None = None) -> ChatMessage:
        """chat.sent: X's delivery of a message the account sent (a ChatSent of the fake
        X: through the service, or, sealed and posted with twittnow.xchat, by staff in X's
        app)."""
        version, _ = self.ports.chat_keys.latest_conversation_key(
            ACCOUNT_ID, SIGNED_CONVERSATION_ID
        )
        encoded = message_event(
            sequence_id=self.jane.next_sequence_id(),
            message_id=sent.message_id,
            sender_id=ACCOUNT_ID,
            conversation_id=SIGNED_CONVERSATION_ID,
            encrypted_content=sent.encoded_message_create_event,
            encoded_event_signature=sent.encoded_message_event_signature,
            created_at_msec=_msec(sent_at or self.clock.now),
        )
        return ChatMessage(
            event_id=self.uuid(),
            account_id=ACCOUNT_ID,
            direction="sent",
            chat_conversation_id=DELIVERED_CONVERSATION_ID,
            sender_id=ACCOUNT_ID,
            customer_id=CUSTOMER_ID,
            encoded_event=encoded,
            key_version=version,
            message_id=sent.message_id,
        )

    def staff_types_in_chat(self, text: str) -> ChatMessage:
        """The company's staff writes to jane in X's own app (encrypted as an app does):
        X's chat.sent of it."""
        sealed = xchat.seal_text(
            self.ports,
            self.connection,
            self.credentials(),
            customer_id=CUSTOMER_ID,
            chat_conversation_id=DELIVERED_CONVERSATION_ID,
            text=text,
        )
        xchat.post_sealed(self.ports, self.credentials(), sealed)
        return self.chat_sent(self.x.chat_messages[-1])

    # ------------------------------------------------------------ what jane reads

    def chats_received(self) -> list[str]:
        """The texts of the X Chat messages the account sent jane, oldest first, as her
        app shows them: each verified with the account's signing key and decrypted."""
        for path_id, body in self.x.chat_key_changes:
            if path_id not in self._opened:
                self._opened.add(path_id)
                self.jane.receive_key_change(ACCOUNT_ID, body, self.account_record)
        return [
            self.jane.read(
                ACCOUNT_ID,
                self.account_record,
                message_id=sent.message_id,
                encoded_message_create_event=sent.encoded_message_create_event,
                encoded_message_event_signature=sent.encoded_message_event_signature,
            )["content"]["text"]
            for sent in self.x.chat_messages
        ]


@contextmanager
def chat_desk(clock_: Clock, **options: Any) -> Iterator[ChatDesk]:
    """A ChatDesk in a Lambda instance of its own: the Chat XDK sessions and public keys
    an instance keeps (twittnow.instance) are this test's, not an earlier one's."""
    with instance.scope({}):
        yield ChatDesk(clock_, **options)


def _msec(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
