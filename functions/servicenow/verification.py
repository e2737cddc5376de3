"""Checking a tenant's ServiceNow details on its instance: the details' only call to
ServiceNow, in a module of its own so that the other details functions do not load the
HTTP client."""

from servicenow.servicenow_details import get
from twittnow import servicenow_instances
from twittnow.auth import Caller
from twittnow.clients.servicenow import ServiceNowError
from twittnow.errors import Conflict
from twittnow.instance_urls import InvalidInstanceUrl
from twittnow.models import ServiceNowDetails
from twittnow.ports import Ports
from twittnow.repositories.secrets import SecretGone
from twittnow.servicenow_instances import OK


def verify(ports: Ports, caller: Caller, details_id: str) -> ServiceNowDetails:
    """One cheap read of the CSM case API with the stored credentials; the outcome is
    kept on the record, so the tenant sees it in GET as well."""
    details = get(ports, caller, details_id)
    try:
        servicenow_instances.client_for(ports, details).check_case_api()
    except SecretGone:
        get(ports, caller, details_id)  # NotFound when deleted meanwhile
        raise
    except (ServiceNowError, InvalidInstanceUrl) as error:
        status, detail = servicenow_instances.status_for(error)
    else:
        status, detail = OK, "The instance answered the CSM case API with these credentials."
    checked = servicenow_instances.record_status(ports.credentials, details, status, detail)
    if checked is None:
        get(ports, caller, details_id)  # NotFound when deleted meanwhile
        raise Conflict(
            "These ServiceNow details were changed while they were being verified, so the "
            "outcome was not kept. Verify them again."
        )
    return checked
