"""The sandbox ServiceNow: see sandboxes.servicenow.server."""

from sandboxes.servicenow.server import ServiceNowSandbox

__all__ = ["ServiceNowSandbox"]
