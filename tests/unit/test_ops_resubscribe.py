"""ops.subscriptions on the fakes: accounts connected before post.reply.create was
subscribed get it, with their subscription ids recorded; Account Activity API connections
are left alone; an account X refuses is reported and the others still done."""

import json
from datetime import UTC, datetime, timedelta

from ops import subscriptions
from tests.fakes import FakeX, fake_ports
from twittnow import x_accounts
from twittnow.clients.x import ACTIVITY_EVENT_TYPES, WebhookApi, XConnectionBroken, XUser
from twittnow.models import PendingXConnection, XConnection

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OLD_TYPES = ("dm.received", "dm.sent", "post.mention.create")


def connect(
    ports, number: int, webhook_id: str, api: str = "activity", tokens: dict | None = None
) -> XConnection:
    account = f"90{number}"
    tokens = tokens or {"access_token": f"token-{account}", "access_token_secret": "secret"}
    arn, version = ports.x_secrets.create_version(f"connection-{number}", json.dumps(tokens))
    connection = XConnection(
        id=f"connection-{number}",
        user_id=f"tenant-{number}",
        x_user_id=account,
        screen_name=f"company{number}",
        secret_arn=arn,
        secret_version=version,
        webhook_api=api,
        webhook_id=webhook_id,
        subscription_id=(
            ",".join(f"{account}-{kind}" for kind in OLD_TYPES) if api == "activity" else account
        ),
        connected_at=NOW,
        updated_at=NOW,
    )
    pending = PendingXConnection(
        code_digest=f"code-{number}",
        user_id=connection.user_id,
        x_user_id=account,
        screen_name=connection.screen_name,
        sealed_tokens="sealed",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )
    ports.credentials.add_x_pending(pending)
    ports.credentials.confirm_x(connection, pending)
    return connection


def test_accounts_subscribed_before_replies_get_them_and_running_again_changes_nothing():
    x = FakeX()
    webhook_id = x.register_webhook("https://api.example/twitter-activity").id
    ports = fake_ports(x=x)
    first = connect(ports, 1, webhook_id)
    aaa = connect(ports, 2, webhook_id, api="account_activity")
    assert "post.reply.create" in ACTIVITY_EVENT_TYPES

    assert subscriptions.resubscribe_all(ports) == []

    stored = ports.credentials.x_by_id(first.id)
    assert stored.subscription_id.split(",") == [f"901-{kind}" for kind in ACTIVITY_EVENT_TYPES]
    assert stored.updated_at == first.updated_at  # nothing the tenant did changed
    assert [call["user_id"] for call in x.calls_to("subscribe")] == ["901"]  # not the AAA one
    assert ports.credentials.x_by_id(aaa.id) == aaa

    assert subscriptions.resubscribe_all(ports) == []
    assert ports.credentials.x_by_id(first.id) == stored


def test_an_account_x_refuses_is_reported_and_the_others_are_subscribed():
    x = FakeX()
    webhook_id = x.register_webhook("https://api.example/twitter-activity").id
    ports = fake_ports(x=x)
    revoked, other = connect(ports, 1, webhook_id), connect(ports, 3, webhook_id)
    x.fail(XConnectionBroken("X refused the token (401 Unauthorized)."), "subscribe")

    refused = subscriptions.resubscribe_all(ports)

    assert refused == [
        "@company1 (connection connection-1): X refused the token (401 Unauthorized)."
    ]
    assert ports.credentials.x_by_id(revoked.id) == revoked
    assert "903-post.reply.create" in ports.credentials.x_by_id(other.id).subscription_id
    assert x.subscriptions["903"] == (WebhookApi.ACTIVITY, webhook_id)


def test_an_oauth2_account_connected_before_x_chat_gets_its_keys_before_chat_events():
    x = FakeX()
    webhook_id = x.register_webhook("https://api.example/twitter-activity").id
    ports = fake_ports(x=x)
    x.oauth2_account = XUser("904", "company4")
    oauth2 = connect(ports, 4, webhook_id, tokens=x_accounts.oauth2_secret(x.issue_tokens()))
    connect(ports, 5, webhook_id)  # OAuth 1.0a: no X Chat keys

    assert subscriptions.resubscribe_all(ports) == []

    methods = [(call.method, call.args.get("user_id")) for call in x.calls]
    assert methods.index(("add_public_key", "904")) < methods.index(("subscribe", "904"))
    assert [call["user_id"] for call in x.calls_to("add_public_key")] == [oauth2.x_user_id]
    [identity] = ports.x_chat_secrets.stored.values()
    assert identity.name == "test/x-chat/904"
    assert "chat.received" in ports.credentials.x_by_id(oauth2.id).subscription_id

    assert subscriptions.resubscribe_all(ports) == []  # registered once
    assert len(x.calls_to("add_public_key")) == 1
