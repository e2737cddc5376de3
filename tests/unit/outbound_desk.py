"""A connected tenant for unit tests of the outbound flow (case events, the sender, the
customer channel), on the fakes of tests.fakes: its X account connected, its ServiceNow
instance, and a customer whose DM opened a case that is open."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.fakes import FakeServiceNow, FakeServiceNowInstance, FakeX, fake_ports
from tests.fakes.clock import NOW
from twittnow import correlation_ids
from twittnow.auth import Caller
from twittnow.clients.servicenow import Case, CaseState
from twittnow.models import (
    Channel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Customer,
    PendingXConnection,
    ServiceNowDetails,
    Token,
    TokenKind,
    User,
    XConnection,
)
from twittnow.ports import Ports

TENANT = "tenant-1"
ACCOUNT = "900"  # the tenant's X account
CUSTOMER = "200"  # the customer's X user id
INSTANCE_URL = "https://acme.service-now.com"
TOKENS = {"access_token": "access-token-900", "access_token_secret": "access-secret-900"}


@dataclass
class Desk:
    """A tenant, as its ports hold it, and the customer's DM conversation (its case open)."""

    ports: Ports
    x: FakeX
    servicenow: FakeServiceNowInstance
    caller: Caller
    connection: XConnection
    details: ServiceNowDetails
    customer: Customer
    case: Case
    conversation: Conversation

    @property
    def tenant_id(self) -> str:
        return self.caller.user.id

    def conversation_now(self, conversation_id: str | None = None) -> Conversation:
        stored = self.ports.conversations.get(conversation_id or self.conversation.id)
        assert stored is not None
        return stored

    def replies(self, conversation_id: str | None = None) -> list[ConversationMessage]:
        """The agents' messages of the conversation, oldest first."""
        messages = self.ports.messages.of_conversation(conversation_id or self.conversation.id)
        return [message for message in messages if message.author == "agent"]

    def start_conversation(
        self,
        channel: Channel,
        *,
        case: Case | None = None,
        latest_post_id: str | None = None,
        last_message_at: datetime = NOW,
        customer_screen_name: str = "jane",
    ) -> Conversation:
        """The customer's conversation on `channel`, on `case` (OPEN) or without one (NEW)."""
        conversation = self.ports.conversations.get_or_create(
            Conversation(
                id=Conversation.id_for(
                    self.tenant_id, self.connection.x_user_id, CUSTOMER, channel
                ),
                tenant_id=self.tenant_id,
                account_id=self.connection.x_user_id,
                customer_id=CUSTOMER,
                customer_screen_name=customer_screen_name,
                channel=channel,
                latest_post_id=latest_post_id,
                created_at=NOW,
                last_message_at=last_message_at,
            )
        )
        if case is None:
            return conversation
        return self.ports.conversations.update(
            conversation.id,
            status=ConversationStatus.OPEN,
            case_sys_id=case.sys_id,
            case_number=case.number,
            case_checked_at=NOW,
        )

    def open_case(self, conversation_id: str = "") -> Case:
        """A case on the customer's consumer, as the inbound processor opens one."""
        correlation_id = (
            correlation_ids.for_case(conversation_id, "dm-1") if conversation_id else ""
        )
        return self.servicenow.add_case(
            self.customer.consumer_sys_id or "",
            state=CaseState.OPEN,
            short_description="X DM from @jane",
            correlation_id=correlation_id,
        )


def open_desk(
    ports: Ports | None = None,
    tenant_id: str = TENANT,
    account: str = ACCOUNT,
    instance_url: str = INSTANCE_URL,
) -> Desk:
    """A tenant with its X account `account` and its instance connected, and a customer
    (X user CUSTOMER, @jane) whose DM opened a case that is open. Several tenants may
    share `ports`."""
    ports = ports or fake_ports()
    x, servicenow = ports.x, ports.servicenow
    assert isinstance(x, FakeX) and isinstance(servicenow, FakeServiceNow)
    instance = servicenow.instance(instance_url)

    user = User(
        id=tenant_id,
        username=f"{tenant_id}@example.com",
        password_hash="hash",
        created_at=NOW,
        updated_at=NOW,
    )
    token = Token(
        digest=f"key-{tenant_id}", user_id=tenant_id, kind=TokenKind.API_KEY, created_at=NOW
    )

    arn, version = ports.x_secrets.create_version(f"x-{tenant_id}", json.dumps(TOKENS))
    connection = XConnection(
        id=f"x-{tenant_id}",
        user_id=tenant_id,
        x_user_id=account,
        screen_name="acme_support",
        secret_arn=arn,
        secret_version=version,
        webhook_api="activity",
        webhook_id="webhook-1",
        subscription_id=f"{account}-dm.received",
        connected_at=NOW,
        updated_at=NOW,
    )
    pending = PendingXConnection(
        code_digest=f"code-{tenant_id}",
        user_id=tenant_id,
        x_user_id=account,
        screen_name="acme_support",
        sealed_tokens="sealed",
        expires_at=NOW + timedelta(minutes=10),
    )
    ports.credentials.add_x_pending(pending)
    ports.credentials.confirm_x(connection, pending)

    arn, version = ports.servicenow_secrets.create_version(
        f"sn-{tenant_id}", "integration-password"
    )
    details = ServiceNowDetails(
        id=f"sn-{tenant_id}",
        user_id=tenant_id,
        instance_url=instance_url,
        admin_user="integration",
        secret_arn=arn,
        secret_version=version,
        created_at=NOW,
        updated_at=NOW,
        status="ok",
    )
    ports.credentials.add_servicenow(details)

    consumer = instance.add_consumer("Jane", "Doe")
    customer = Customer(
        tenant_id=tenant_id,
        x_user_id=CUSTOMER,
        screen_name="jane",
        name="Jane Doe",
        consumer_sys_id=consumer.sys_id,
        consumer_instance_url=instance_url,
        created_at=NOW,
        updated_at=NOW,
    )
    ports.customers.put(customer)

    desk = Desk(
        ports=ports,
        x=x,
        servicenow=instance,
        caller=Caller(user=user, token=token),
        connection=connection,
        details=details,
        customer=customer,
        case=None,  # type: ignore[arg-type]  # set below: the case names the conversation
        conversation=None,  # type: ignore[arg-type]
    )
    conversation_id = Conversation.id_for(tenant_id, account, CUSTOMER, Channel.DM)
    desk.case = desk.open_case(conversation_id)
    desk.conversation = desk.start_conversation(Channel.DM, case=desk.case)
    return desk
