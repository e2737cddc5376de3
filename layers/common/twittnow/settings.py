"""Environment -> settings, read once per Lambda instance.

A plain pydantic model read from os.environ: pydantic-settings would do the same and add
asyncio and dotenv to every function's cold start.
"""

import os

from pydantic import BaseModel, ConfigDict

from twittnow.instance import kept


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    users_table: str
    tokens_table: str
    login_attempts_table: str
    credentials_table: str
    custom_fields_table: str
    audit_log_table: str
    # Comma-separated host[:port] patterns an instance_url may name; "*." matches subdomains.
    servicenow_allowed_hosts: str = "*.service-now.com"
    # Secrets Manager name prefix of ServiceNow passwords (the functions may touch only these).
    servicenow_secret_prefix: str
    # How long a call to a tenant's instance may take to connect, and then to answer.
    servicenow_timeout_seconds: float = 10.0
    oauth_requests_table: str
    x_api_base_url: str = "https://api.x.com"
    # X's OAuth 2.0 authorize page, where an account's owner approves the app.
    x_oauth2_authorize_url: str = "https://x.com/i/oauth2/authorize"
    # "activity" (X Activity API) or "account_activity" (Account Activity API v2).
    x_webhook_api: str = "activity"
    # Secrets Manager name prefix of connected X accounts' access tokens.
    x_secret_prefix: str
    customers_table: str
    conversations_table: str
    messages_table: str
    echoes_table: str
    inbound_queue_url: str
    # The inbound queue's maxReceiveCount: the last attempt records why a message failed.
    inbound_max_receive_count: int = 10
    outbound_queue_url: str
    outbound_dead_letter_queue_url: str
    outbound_max_receive_count: int = 20
    case_events_table: str
    # What the service knows of X's deliveries, to recover missed ones (twittnow.recovery).
    recovery_table: str
    # X Chat: conversation keys (encrypted to the account's identity) and public keys cached.
    chat_keys_table: str
    # Secrets Manager name prefix of the X accounts' X Chat identities (private keys): apart
    # from x_secret_prefix, so that only the functions that encrypt or decrypt read them.
    x_chat_secret_prefix: str
    # Base URL of this API as clients reach it; empty means "the URL the request came in on".
    public_base_url: str = ""


@kept
def get_settings() -> Settings:
    # Field names are the variables' names in lower case (USERS_TABLE -> users_table).
    return Settings.model_validate({name.lower(): value for name, value in os.environ.items()})
