"""Tenants' ServiceNow instances, as more than one function needs them: a client for a
tenant's details, and what a failing call says about those details."""

from twittnow import clock
from twittnow.clients.servicenow import (
    ServiceNowBadCredentials,
    ServiceNowError,
    ServiceNowMissingRole,
)
from twittnow.instance_urls import InvalidInstanceUrl, normalize_instance_url
from twittnow.models import ServiceNowDetails
from twittnow.ports import Credentials, Ports, ServiceNowApi

OK = "ok"
BAD_CREDENTIALS = "bad_credentials"
MISSING_ROLE = "missing_role"
UNREACHABLE = "unreachable"


def client_for(ports: Ports, details: ServiceNowDetails) -> ServiceNowApi:
    """A client calling the instance as the integration user. Raises InvalidInstanceUrl
    when the URL is no longer allowed: credentials only ever go to an instance that is
    allowed now, whatever was allowed when it was stored."""
    instance_url = normalize_instance_url(
        details.instance_url, ports.settings.servicenow_allowed_hosts
    )
    password = ports.servicenow_secrets.get(details.secret_arn, details.secret_version)
    return ports.servicenow(instance_url, details.admin_user, password)


def status_for(error: ServiceNowError | InvalidInstanceUrl) -> tuple[str, str]:
    """The details' status a failure means, and what the tenant should do about it."""
    if isinstance(error, InvalidInstanceUrl):
        return UNREACHABLE, str(error)
    if isinstance(error, ServiceNowBadCredentials):
        return BAD_CREDENTIALS, _described(error, "check admin_user and admin_password")
    if isinstance(error, ServiceNowMissingRole):
        return MISSING_ROLE, _described(
            error, "give the integration user the sn_customerservice_agent and rest_service roles"
        )
    return UNREACHABLE, _described(error, "check instance_url and that the instance is up")


def record_status(
    credentials: Credentials, details: ServiceNowDetails, status: str, detail: str
) -> ServiceNowDetails | None:
    """Keeps the outcome of a call with `details` on the record, where the tenant sees it,
    and answers the record as written. None when the record was changed (new credentials,
    a new instance) or deleted meanwhile: the outcome is of credentials it no longer holds."""
    checked = details.model_copy(
        update={"status": status, "status_detail": detail, "status_checked_at": clock.now()}
    )
    return checked if credentials.record_servicenow_status(checked) else None


def _described(error: ServiceNowError, advice: str) -> str:
    instance_said = ": ".join(part for part in (error.message, error.detail) if part)
    return f"{instance_said} ({advice})." if instance_said else f"No answer ({advice})."
