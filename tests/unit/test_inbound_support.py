"""What the test_inbound* files share (no tests of its own): a tenant whose X account is
connected and whose ServiceNow instance is a fake (`Desk`), the events its customers and
staff send, a clock the tests move, and crashes injected between a call and its record.

The inbound processor's domain (functions/twitter_activity/inbound.py) runs on fake_ports():
every table, X and ServiceNow are in memory, and time is `clock.now` patched."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from tests.fakes import fake_ports
from tests.fakes.clock import NOW, Clock
from twitter_activity import inbound
from twittnow.clients.servicenow import CaseState
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    CustomField,
    PendingXConnection,
    ServiceNowDetails,
    XConnection,
)
from twittnow.x_events import (
    AccountRevoked,
    DirectMessageReceived,
    DirectMessageSent,
    Media,
    Mention,
)

TENANT = "tenant-1"
ACCOUNT_ID = "900"  # the company's X account
ACCOUNT = "acme_support"
CUSTOMER_ID = "200"
CUSTOMER = "jane"
INSTANCE_URL = "https://acme.service-now.com"
ADMIN_USER = "twittnow.integration"
ADMIN_PASSWORD = "sn-password"
X_TOKENS = {"access_token": "access-900", "access_token_secret": "secret-900"}
APP_ID = "our-app"  # the app id X puts on the DMs the service sends
MEDIA_HOST = "https://ton.twimg.com/dm/"


class Crash(Exception):
    """The processor dying at an injected point, as a Lambda does at its timeout."""


class Desk:
    """A tenant: its X account @acme_support connected, its ServiceNow details naming the
    fake instance (unless `servicenow=False`), on the fakes of `ports`."""

    def __init__(self, clock_: Clock, *, servicenow: bool = True):
        self.clock = clock_
        self.ports = fake_ports()
        self.x = self.ports.x
        self.instance = self.ports.servicenow.instance(INSTANCE_URL)
        self._ids = count(1)
        self._field_number = count(1)
        self.connection = self._connect()
        self.details: ServiceNowDetails | None = None
        if servicenow:
            self.add_servicenow()

    # ------------------------------------------------------------ setting up

    def _connect(self) -> XConnection:
        arn, version = self.ports.x_secrets.create_version("connection-1", json.dumps(X_TOKENS))
        connection = XConnection(
            id="connection-1",
            user_id=TENANT,
            x_user_id=ACCOUNT_ID,
            screen_name=ACCOUNT,
            secret_arn=arn,
            secret_version=version,
            webhook_api="activity",
            webhook_id="webhook-1",
            subscription_id="subscription-1",
            connected_at=self.clock.now,
            updated_at=self.clock.now,
        )
        pending = PendingXConnection(
            code_digest="code-1",
            user_id=TENANT,
            x_user_id=ACCOUNT_ID,
            screen_name=ACCOUNT,
            sealed_tokens="sealed",
            expires_at=self.clock.now + timedelta(minutes=10),
        )
        self.ports.credentials.add_x_pending(pending)
        self.ports.credentials.confirm_x(connection, pending)
        return connection

    def reconnect(self, after: timedelta) -> XConnection:
        """The tenant disconnects its account now, and connects it again `after` that."""
        credentials = self.ports.credentials
        credentials.disconnect_x(self.connection, released_at=self.clock.now)
        self.clock.advance(seconds=after.total_seconds())
        pending = PendingXConnection(
            code_digest="code-2",
            user_id=TENANT,
            x_user_id=ACCOUNT_ID,
            screen_name=ACCOUNT,
            sealed_tokens="sealed",
            expires_at=self.clock.now + timedelta(minutes=10),
        )
        self.connection = self.connection.model_copy(
            update={
                "id": "connection-2",
                "connected_at": self.clock.now,
                "updated_at": self.clock.now,
                "account_released_at": credentials.account_released_at(ACCOUNT_ID),
            }
        )
        credentials.add_x_pending(pending)
        credentials.confirm_x(self.connection, pending)
        return self.connection

    def add_servicenow(self, instance_url: str = INSTANCE_URL) -> ServiceNowDetails:
        arn, version = self.ports.servicenow_secrets.create_version("details-1", ADMIN_PASSWORD)
        self.details = ServiceNowDetails(
            id="details-1",
            user_id=TENANT,
            instance_url=instance_url,
            admin_user=ADMIN_USER,
            secret_arn=arn,
            secret_version=version,
            created_at=self.clock.now,
            updated_at=self.clock.now,
            status="ok",
        )
        self.ports.credentials.add_servicenow(self.details)
        return self.details

    def add_field(self, field_name: str, question: str) -> CustomField:
        number = next(self._field_number)
        field = CustomField(
            id=f"field-{number}",
            user_id=TENANT,
            field_name=field_name,
            message=question,
            # Asked in the order they were made.
            created_at=NOW + timedelta(seconds=number),
            updated_at=NOW + timedelta(seconds=number),
        )
        self.ports.custom_fields.add(field)
        return field

    # ------------------------------------------------------------ events

    def event_id(self) -> str:
        return f"{1000 + next(self._ids)}"

    def dm(
        self,
        text: str,
        *,
        customer_id: str = CUSTOMER_ID,
        screen_name: str = CUSTOMER,
        name: str = "Jane Doe",
        media: tuple[str, ...] = (),
        **fields: Any,
    ) -> DirectMessageReceived:
        """A customer's DM to the account, sent now (unless `sent_at`)."""
        return DirectMessageReceived(
            **{
                "event_id": self.event_id(),
                "account_id": ACCOUNT_ID,
                "customer_id": customer_id,
                "customer_screen_name": screen_name,
                "customer_name": name,
                "text": text,
                "media": [Media(url=url, media_type="photo") for url in media],
                "sent_at": self.clock.now,
                **fields,
            }
        )

    def mention(self, text: str, **fields: Any) -> Mention:
        event_id = self.event_id()
        return Mention(
            **{
                "event_id": event_id,
                "account_id": ACCOUNT_ID,
                "customer_id": CUSTOMER_ID,
                "customer_screen_name": CUSTOMER,
                "customer_name": "Jane Doe",
                "post_id": event_id,
                "text": text,
                "sent_at": self.clock.now,
                **fields,
            }
        )

    def account_dm(self, text: str, app_id: str | None = None, **fields: Any) -> DirectMessageSent:
        """A DM the account sent the customer: typed by staff in X's own app (no app id),
        or sent through an app (ours: an echo)."""
        return DirectMessageSent(
            **{
                "event_id": self.event_id(),
                "account_id": ACCOUNT_ID,
                "recipient_id": CUSTOMER_ID,
                "text": text,
                "sent_by_app_id": app_id,
                "sent_at": self.clock.now,
                **fields,
            }
        )

    def revoke(self, revoked_at: datetime) -> AccountRevoked:
        return AccountRevoked(
            event_id=f"revoke:{ACCOUNT_ID}:{int(revoked_at.timestamp())}",
            account_id=ACCOUNT_ID,
            revoked_at=revoked_at,
        )

    def handle(self, event: Any) -> None:
        inbound.handle(self.ports, event)

    # ------------------------------------------------------------ what became of it

    def conversation_id(self, channel: Channel = Channel.DM, customer_id: str = CUSTOMER_ID) -> str:
        return Conversation.id_for(TENANT, ACCOUNT_ID, customer_id, channel)

    def conversation(
        self, channel: Channel = Channel.DM, customer_id: str = CUSTOMER_ID
    ) -> Conversation:
        found = self.ports.conversations.get(self.conversation_id(channel, customer_id))
        assert found is not None, "no conversation"
        return found

    def messages(
        self, channel: Channel = Channel.DM, customer_id: str = CUSTOMER_ID
    ) -> list[ConversationMessage]:
        return self.ports.messages.of_conversation(self.conversation_id(channel, customer_id))

    def message_of(self, event: Any, channel: Channel = Channel.DM) -> ConversationMessage:
        [message] = [m for m in self.messages(channel) if m.event_id == event.event_id]
        return message

    def summary(self, channel: Channel = Channel.DM) -> list[tuple[str, str, str | None]]:
        """(author, status, case number) of each message, oldest first."""
        return [(m.author, m.status, m.case_number) for m in self.messages(channel)]

    def dms_sent(self) -> list[str]:
        """The texts of the DMs the service sent, oldest first."""
        return [dm.text for dm in self.x.dms]

    def cases(self) -> list[dict[str, str]]:
        return list(self.instance.cases.values())

    def only_case(self) -> dict[str, str]:
        [case] = self.cases()
        return case

    def resolve(self, number: str) -> None:
        self.instance.set_state(number, CaseState.RESOLVED)

    def servicenow_status(self) -> tuple[str, str]:
        details = self.ports.credentials.servicenow_of(TENANT)
        assert details is not None
        return details.status, details.status_detail


def acknowledgement(number: str) -> str:
    return (
        f"Thanks for getting in touch! We opened case {number} for you; an agent will reply here."
    )


def media_url(name: str) -> str:
    return f"{MEDIA_HOST}{name}"


@contextmanager
def crash_once(
    owner: Any,
    name: str,
    when: Callable[..., bool] = lambda *args, **kwargs: True,
    *,
    after_the_call: bool = False,
) -> Iterator[None]:
    """Makes the first call of owner.name (a fake's method) that `when(*args, **kwargs)`
    picks raise Crash; `after_the_call`: once the call is made (the other side took it,
    then the processor died)."""
    original = getattr(owner, name)
    crashed = False

    def patched(*args: Any, **kwargs: Any) -> Any:
        nonlocal crashed
        if crashed or not when(*args, **kwargs):
            return original(*args, **kwargs)
        crashed = True
        if after_the_call:
            original(*args, **kwargs)
        raise Crash(f"died in {name}")

    setattr(owner, name, patched)
    try:
        yield
    finally:
        delattr(owner, name)  # the fake's own method again


def saving(**expected: Any) -> Callable[..., bool]:
    """For crash_once on Messages.update: the write of these changes."""
    return lambda message, **changes: all(changes.get(k) == v for k, v in expected.items())
