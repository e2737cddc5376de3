"""The sandbox X: see sandboxes.x.server."""

from sandboxes.x.server import XSandbox

__all__ = ["XSandbox"]
