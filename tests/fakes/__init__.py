"""In-memory fakes of everything in twittnow.ports, for unit tests of domain logic.

    from tests.fakes import FakeServiceNow, FakeX, fake_ports, fake_settings

    ports = fake_ports()                  # every port a fake; settings with test values
    ports = fake_ports(x=FakeX(), settings=fake_settings(x_webhook_api="account_activity"))

`fake_ports(**overrides)` takes any field of Ports. `ports.x` is a FakeX (a FakeX is its
own builder: `ports.x()` answers it) and `ports.servicenow` a FakeServiceNow; the other
fields are the fakes themselves (ports.users is a FakeUsers...). Tests outside mypy may
reach them through ports; typed tests make the fake first and pass it in.

Tables (tests.fakes.accounts, tests.fakes.conversations). FakeOAuthRequests.stored()
shows every authorization it holds, by key. Each fake keeps records as
their JSON, as the table does, and raises what its repository raises on the same
conditions: UsernameTaken, UserChanged, UserGone; ConditionNotMet (Tokens.
add_while_password_is when the password changed); TooManyAttempts; AlreadyConnected,
AccountHeldByAnotherTenant, PendingConnectionGone, RecordChanged (replace_servicenow),
False from record_servicenow_status, replace_x and record_x_secret_version; FieldNameTaken, FieldChanged,
FieldGone. Conversations and messages start only in an initial status and change only
along twittnow.lifecycle's tables (IllegalTransition), checked against the stored status;
Conversations.update of an unknown id raises DynamoDB's ConditionalCheckFailedException.
Messages.add answers (stored message, created); Messages.update writes only the changed
fields and updated_at, and answers the caller's copy with them (on a message deleted
meanwhile it leaves a partial item, as DynamoDB does: reading it raises ValidationError).
A message going into or out of showing failed (add or update) moves its conversation's
failed_messages by what was stored, never below 0: FakeMessages is built on the
FakeConversations it counts in.
Credentials.take_x_refresh takes a connection's refresh lease unless another holder's runs
past now (to the millisecond); release_x_refresh ends only its holder's;
FakeCredentials.refresh_lease(connection_id) shows the stored one.
CaseEvents.claim answers the earlier
claim's (conversation id, message key) until it expires. Expiries read clock.now() (patch
twittnow.clock.now to move time); expiry attributes keep whole seconds, as the tables'.
FakeLoginAttempts.counted(username_key) tells the attempts counted in the last window.

Queues (FakeQueue):
    queue.sent        every QueueMessage sent, in order (body, group_id, deduplication_id)
    queue.jobs        the bodies SQS keeps: the first message of each deduplication id
    queue.retries     [(receipt_handle, seconds)], one per retry_after
    queue.fail(QueueSendFailed("..."))   the next send raises it

Secrets (FakeSecrets): create_version / put / get(arn, version) / delete, every version
kept; `secrets.stored` is {arn: StoredSecret(name, versions, current)}. A put to an
unknown ARN, or a read of one or of an unknown version, raises SecretGone
(twittnow.repositories.secrets), as the repository does.

X (FakeX, tests.fakes.x):
    x.dms, x.posts    Sent(id, credentials, to, text): DMs (to the recipient's X user id)
                      and reply posts (to the post answered); ids "dm-<n>", "post-<n>"
    x.register_webhook(url)          subscribe needs a registered webhook (else
                                     XRequestRejected, as X's WebhookIdInvalid)
    x.subscriptions   {x_user_id: (WebhookApi, webhook_id)}
    x.account, x.verifier            the AccessToken access_token answers, for that
                                     verifier only (another: XRequestRejected)
    code, state = x.approve(auth_url, XUser(...)=None)   OAuth 2.0: the account
                                     (x.oauth2_account) approves on X's page at the URL
                                     oauth2_authorize_url made; exchange_code takes the
                                     code once, for its redirect URI and the verifier of
                                     its challenge (else XRequestRejected), and answers
                                     OAuth2Tokens (access tokens "oauth2-access-<n>");
                                     me(BearerCredentials) answers the account a token
                                     was made for (unknown: XConnectionBroken)
    x.refresh_oauth2(refresh_token)  rotates as X does: a refresh token exchange_code or a
                                     refresh issued works once (x.refresh_tokens holds
                                     those that work now), else XRequestRejected (400);
                                     x.refreshes and x.refused_refreshes count them.
                                     x.issue_tokens() makes a grant's tokens for a test
    x.add_media(url, data, content_type)   what download_media finds (others XNotFound;
                                     off X's media hosts or too large: XMediaRefused)
    x.set_webhook_valid(id, False)   X marks the webhook invalid; validate_webhook makes it
                                     valid again unless its id is in x.crc_failing
    x.replays         [(webhook id, from_date, to_date)] replay_webhook was asked for
    X Chat (ciphertext and public keys; play a customer with tests.fakes.chat.ChatCustomer):
    x.chat_public_keys {user id: [PublicKeyRecord]}: what public_keys answers and
                      add_public_key appends to (under the payload's version)
    x.chat_key_changes [(path id, body)] posted; add_conversation_keys answers the 1:1's
                      "A-B" id (the account is the token's) and a sequence id
    x.chat_messages   ChatSent(credentials, conversation_id, message_id, encoded...)
    x.chat_history    {"A:B": [ChatEvent], newest first}, x.chat_key_change_events
                      {"A:B": [encoded]}: conversation_events' pages (chat_page_size each)
    x.chat_media      {("A:B", media_hash_key): encrypted bytes}; x.users {id: XUser}
    Every X Chat call with OAuth 1.0a credentials raises XChatNeedsOAuth2, as the client.

Recovery (FakeRecovery, tests.fakes.recovery): recovery.state(); recovery.replays
[(ReplayRequest, expiry)]; recovery.reconciled {(account id, message id): expiry}.

ServiceNow (FakeServiceNow, tests.fakes.servicenow):
    servicenow.connections           [(instance_url, user, password)], one per connect
    instance = servicenow.instance("https://acme.service-now.com")
                      the instance's fake (what connecting to that URL answers)
    instance.cases, .consumers, .profiles   records as dicts of fields ({sys_id: {...}});
                      sys_ids are 32 hex digits, case numbers CS0000001, CS0000002...
    instance.comments(case), .work_notes(case), .files(case)   what was written on a
                      case (by sys_id or number), oldest first
    instance.add_case(consumer_sys_id, state=CaseState.OPEN, correlation_id=...)
    instance.set_state(case, CaseState.RESOLVED), instance.delete_case(case)
    instance.add_consumer(first, last), instance.add_profile(consumer, handle, social_id)
    instance.social_channels          channels create_consumer makes a profile on
                                     ({"Twitter"}; empty it for an instance without)
    Unknown records raise ServiceNowNotFound; find_case_by_correlation_id answers the
    newest case made with the id.

Failures, on FakeX, FakeServiceNowInstance and FakeQueue alike:
    fake.fail(error, method=None, times=1)   the next `times` calls of `method` (of any
                      method when None; times=None: every call) raise `error` and do nothing
    x.fail(XConnectionBroken("revoked", status_code=401), "send_dm")
    x.fail(XRateLimited("slow down", reset_at=clock.now() + timedelta(minutes=15)))
    instance.fail(ServiceNowUnavailable("down"), times=None)
    instance.fail(ServiceNowBadCredentials("User Not Authenticated", status_code=401))
    fake.calls (Call(method, args)), fake.calls_to("create_case") -> [args dict, ...]:
                      every call, failed ones included.
"""

from typing import Any

from tests.fakes.accounts import (
    FakeAuditLog,
    FakeCredentials,
    FakeCustomFields,
    FakeLoginAttempts,
    FakeOAuthRequests,
    FakeTokens,
    FakeUsers,
)
from tests.fakes.aws import FakeQueue, FakeSecrets, StoredSecret
from tests.fakes.chat_keys import FakeChatKeys
from tests.fakes.conversations import (
    FakeCaseEvents,
    FakeConversations,
    FakeCustomers,
    FakeEchoes,
    FakeMessages,
)
from tests.fakes.recovery import FakeRecovery
from tests.fakes.scripted import Call
from tests.fakes.servicenow import Attachment, FakeServiceNow, FakeServiceNowInstance
from tests.fakes.x import ChatSent, FakeX, Sent
from twittnow.ports import Ports
from twittnow.settings import Settings

__all__ = [
    "Attachment",
    "Call",
    "ChatSent",
    "FakeAuditLog",
    "FakeCaseEvents",
    "FakeChatKeys",
    "FakeConversations",
    "FakeCredentials",
    "FakeCustomFields",
    "FakeCustomers",
    "FakeEchoes",
    "FakeLoginAttempts",
    "FakeMessages",
    "FakeOAuthRequests",
    "FakeQueue",
    "FakeRecovery",
    "FakeSecrets",
    "FakeServiceNow",
    "FakeServiceNowInstance",
    "FakeTokens",
    "FakeUsers",
    "FakeX",
    "Sent",
    "StoredSecret",
    "fake_ports",
    "fake_settings",
]


def fake_settings(**values: Any) -> Settings:
    """Settings with every required one set (a table or queue is named after its setting:
    "users_table"), `values` over them."""
    required = {
        name: name for name, setting in Settings.model_fields.items() if setting.is_required()
    }
    prefixes = {
        "servicenow_secret_prefix": "test/servicenow/",
        "x_secret_prefix": "test/x/",
        "x_chat_secret_prefix": "test/x-chat/",
    }
    return Settings.model_validate({**required, **prefixes, **values})


def fake_ports(**overrides: Any) -> Ports:
    """Ports of fakes, each new; `overrides` replace any of them (by Ports' field names)."""
    settings = overrides.get("settings") or fake_settings()
    users = overrides.get("users") or FakeUsers()
    conversations = overrides.get("conversations") or FakeConversations()
    fakes: dict[str, Any] = {
        "settings": settings,
        "users": users,
        "tokens": FakeTokens(users),
        "login_attempts": FakeLoginAttempts(),
        "credentials": FakeCredentials(),
        "custom_fields": FakeCustomFields(),
        "audit_log": FakeAuditLog(),
        "oauth_requests": FakeOAuthRequests(),
        "customers": FakeCustomers(),
        "conversations": conversations,
        "messages": FakeMessages(conversations),
        "echoes": FakeEchoes(),
        "case_events": FakeCaseEvents(),
        "chat_keys": FakeChatKeys(),
        "recovery": FakeRecovery(),
        "servicenow_secrets": FakeSecrets(settings.servicenow_secret_prefix),
        "x_secrets": FakeSecrets(settings.x_secret_prefix),
        "x_chat_secrets": FakeSecrets(settings.x_chat_secret_prefix),
        "inbound_queue": FakeQueue(),
        "outbound_queue": FakeQueue(),
        "outbound_dead_letter_queue": FakeQueue(),
        "x": FakeX(),
        "servicenow": FakeServiceNow(),
    }
    return Ports(**{**fakes, **overrides})
