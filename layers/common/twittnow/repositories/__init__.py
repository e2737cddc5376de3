"""DynamoDB repositories, one module per table. Each is built once per Lambda instance."""

from twittnow.instance import kept
from twittnow.repositories.audit_log import AuditLogRepository
from twittnow.repositories.case_events import CaseEventsRepository
from twittnow.repositories.chat_keys import ChatKeysRepository
from twittnow.repositories.conversations import ConversationsRepository
from twittnow.repositories.credentials import CredentialsRepository
from twittnow.repositories.custom_fields import CustomFieldsRepository
from twittnow.repositories.customers import CustomersRepository
from twittnow.repositories.echoes import EchoesRepository
from twittnow.repositories.login_attempts import LoginAttemptsRepository
from twittnow.repositories.messages import MessagesRepository
from twittnow.repositories.oauth_requests import OAuthRequestsRepository
from twittnow.repositories.queues import FifoQueue
from twittnow.repositories.recovery import RecoveryRepository
from twittnow.repositories.secrets import SecretsRepository
from twittnow.repositories.tokens import TokensRepository
from twittnow.repositories.users import UsersRepository
from twittnow.settings import get_settings


@kept
def users() -> UsersRepository:
    return UsersRepository(get_settings().users_table)


@kept
def tokens() -> TokensRepository:
    return TokensRepository(get_settings().tokens_table, users())


@kept
def login_attempts() -> LoginAttemptsRepository:
    return LoginAttemptsRepository(get_settings().login_attempts_table)


@kept
def credentials() -> CredentialsRepository:
    return CredentialsRepository(get_settings().credentials_table)


@kept
def custom_fields() -> CustomFieldsRepository:
    return CustomFieldsRepository(get_settings().custom_fields_table)


@kept
def audit_log() -> AuditLogRepository:
    return AuditLogRepository(get_settings().audit_log_table)


@kept
def servicenow_secrets() -> SecretsRepository:
    return SecretsRepository(get_settings().servicenow_secret_prefix)


@kept
def x_secrets() -> SecretsRepository:
    return SecretsRepository(get_settings().x_secret_prefix)


@kept
def x_chat_secrets() -> SecretsRepository:
    return SecretsRepository(get_settings().x_chat_secret_prefix)


@kept
def chat_keys() -> ChatKeysRepository:
    return ChatKeysRepository(get_settings().chat_keys_table)


@kept
def recovery() -> RecoveryRepository:
    return RecoveryRepository(get_settings().recovery_table)


@kept
def oauth_requests() -> OAuthRequestsRepository:
    return OAuthRequestsRepository(get_settings().oauth_requests_table)


@kept
def customers() -> CustomersRepository:
    return CustomersRepository(get_settings().customers_table)


@kept
def conversations() -> ConversationsRepository:
    return ConversationsRepository(get_settings().conversations_table)


@kept
def messages() -> MessagesRepository:
    settings = get_settings()
    return MessagesRepository(settings.messages_table, settings.conversations_table)


@kept
def echoes() -> EchoesRepository:
    return EchoesRepository(get_settings().echoes_table)


@kept
def inbound_queue() -> FifoQueue:
    return FifoQueue(get_settings().inbound_queue_url)


@kept
def outbound_queue() -> FifoQueue:
    return FifoQueue(get_settings().outbound_queue_url)


@kept
def outbound_dead_letter_queue() -> FifoQueue:
    return FifoQueue(get_settings().outbound_dead_letter_queue_url)


@kept
def case_events() -> CaseEventsRepository:
    return CaseEventsRepository(get_settings().case_events_table)
