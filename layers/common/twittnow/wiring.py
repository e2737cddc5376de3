"""The real adapters behind twittnow.ports, wired once per Lambda instance: the one place
a function's domain logic gets its tables, queues, secrets and clients from."""

from functools import partial

from twittnow import repositories
from twittnow.instance import kept
from twittnow.ports import Ports, ServiceNowApi, XApi
from twittnow.settings import get_settings


@kept
def ports() -> Ports:
    settings = get_settings()
    return Ports(
        settings=settings,
        users=repositories.users(),
        tokens=repositories.tokens(),
        login_attempts=repositories.login_attempts(),
        credentials=repositories.credentials(),
        custom_fields=repositories.custom_fields(),
        audit_log=repositories.audit_log(),
        oauth_requests=repositories.oauth_requests(),
        customers=repositories.customers(),
        conversations=repositories.conversations(),
        messages=repositories.messages(),
        echoes=repositories.echoes(),
        case_events=repositories.case_events(),
        chat_keys=repositories.chat_keys(),
        recovery=repositories.recovery(),
        servicenow_secrets=repositories.servicenow_secrets(),
        x_secrets=repositories.x_secrets(),
        x_chat_secrets=repositories.x_chat_secrets(),
        inbound_queue=repositories.inbound_queue(),
        outbound_queue=repositories.outbound_queue(),
        outbound_dead_letter_queue=repositories.outbound_dead_letter_queue(),
        x=_x_client,
        servicenow=partial(_servicenow_client, timeout=settings.servicenow_timeout_seconds),
    )


def _x_client() -> XApi:
    # Imported with the first X call: most functions never call X, and the X client's
    # modules would add to every cold start.
    from twittnow import x_accounts

    return x_accounts.x_client()


def _servicenow_client(
    instance_url: str, username: str, password: str, *, timeout: float
) -> ServiceNowApi:
    # Imported with the first ServiceNow client: 33 of the 36 functions never make one
    # (all but ProcessInbound, SendReplies and VerifyServiceNowDetails, which import its module
    # at init with its errors; CreateCaseEvent on a rare path only), and the module would
    # add about 3 ms to their cold start (bench/cold_start.py).
    from twittnow.clients.servicenow import ServiceNowClient

    return ServiceNowClient(instance_url, username, password, timeout=timeout)
