"""A tenant's ServiceNow instance URL: checked against the allow-list and normalized.

The service sends the tenant's ServiceNow admin credentials to this URL, so anything that
could point them elsewhere (another host, an internal address, credentials or a path in the
URL, plain http) is refused before any request leaves the service.
"""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}
_EXAMPLE_HOST = "dev12345.service-now.com"
_EXAMPLE = f"https://{_EXAMPLE_HOST}"
_BASE_URL_ONLY = (
    f"Use the instance's base URL, like {_EXAMPLE}, with no path, query or credentials."
)

# DNS host names: dot-separated ASCII letters, digits and inner hyphens (IDNs as punycode).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")

type _IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidInstanceUrl(ValueError):
    """The URL is refused; the message tells the tenant what to send instead."""


def normalize_instance_url(url: str, allowed_hosts: str) -> str:
    """`url` as `scheme://host[:port]` (lowercase, default port dropped, no trailing slash),
    or InvalidInstanceUrl when it is not the base URL of an allowed, public host.

    `allowed_hosts` is SERVICENOW_ALLOWED_HOSTS: comma-separated `host[:port]` patterns.
    """
    url = url.strip()
    if not url:
        raise InvalidInstanceUrl(f"Enter the instance's base URL, like {_EXAMPLE}.")
    # urlsplit silently drops tabs and newlines, and other characters only confuse parsers.
    if any(char.isspace() or not char.isprintable() or char == "\\" for char in url):
        raise InvalidInstanceUrl(
            f"Remove the spaces and special characters from the URL. {_BASE_URL_ONLY}"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInstanceUrl(
            f"This is not a valid URL: check its host and port. {_BASE_URL_ONLY}"
        ) from None

    scheme = parts.scheme
    if scheme not in _DEFAULT_PORTS:
        raise InvalidInstanceUrl(f"Start the URL with https://, like {_EXAMPLE}.")
    if not parts.hostname:
        raise InvalidInstanceUrl(f"Include the instance's host name, like {_EXAMPLE}.")
    if "@" in parts.netloc:
        raise InvalidInstanceUrl(
            "Remove the user name and password from the URL; "
            "the ServiceNow credentials go in their own fields."
        )
    # "?" and "#" are looked for in the text: urlsplit cannot tell "x?" from "x".
    if parts.path not in ("", "/") or "?" in url or "#" in url:
        raise InvalidInstanceUrl(_BASE_URL_ONLY)
    if port == 0 or parts.netloc.endswith(":"):
        raise InvalidInstanceUrl("Use a port number from 1 to 65535, or leave the port out.")

    host = _normalize_host(parts.hostname)
    if host is None:
        raise InvalidInstanceUrl(f"Use a valid host name, like {_EXAMPLE_HOST}.")
    ip = _ip_address(host)
    loopback = host == "localhost" or (ip is not None and ip.is_loopback)
    if ip is not None and not loopback and _is_internal(ip):
        raise InvalidInstanceUrl(
            "Use the instance's public host name: private, link-local and other internal "
            "addresses are refused."
        )
    if scheme == "http" and not loopback:
        raise InvalidInstanceUrl(
            f"Use https://, like {_EXAMPLE}; plain http:// is accepted only for a local "
            "test instance."
        )

    default_port = _DEFAULT_PORTS[scheme]
    port = port or default_port
    if not _is_allowed(host, ip is not None, port, default_port, allowed_hosts):
        raise InvalidInstanceUrl(_not_allowed_message(allowed_hosts))

    netloc = f"[{host}]" if ip is not None and ip.version == 6 else host
    if port != default_port:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def _normalize_host(host: str) -> str | None:
    """Lowercase, without the trailing dot, IP addresses in their canonical form; None when
    the host is neither a host name nor an IP address."""
    host = host.lower().removesuffix(".")
    # "%": an IPv6 zone ("fe80::1%eth0") or percent-encoding; neither names an instance.
    if "%" in host:
        return None
    ip = _ip_address(host)
    if ip is not None:
        return str(ip)
    if not _HOST_NAME.fullmatch(host):
        return None
    # "2130706433", "127.1" or "0x7f.1" would resolve to an IP address: refuse them all
    # rather than decide which one they name.
    try:
        socket.inet_aton(host)
    except OSError:
        return host
    return None


def _ip_address(host: str) -> _IPAddress | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    # ::ffff:a.b.c.d reaches the IPv4 address a.b.c.d: judge that one.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_internal(ip: _IPAddress) -> bool:
    # is_global alone lets multicast and the deprecated IPv6 site-local range through.
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or (ip.version == 6 and ip.is_site_local)
    )


def _is_allowed(host: str, is_ip: bool, port: int, default_port: int, allowed_hosts: str) -> bool:
    for pattern in allowed_hosts.split(","):
        parsed = _parse_pattern(pattern.strip())
        if parsed is None:
            continue
        pattern_host, pattern_port = parsed
        if port != (pattern_port or default_port):
            continue
        if pattern_host.startswith("*."):
            domain = _normalize_host(pattern_host.removeprefix("*."))
            # One or more labels before the domain, never the domain itself nor an IP address.
            if domain and not is_ip and host.endswith(f".{domain}"):
                return True
        elif host == _normalize_host(pattern_host):
            return True
    return False


def _parse_pattern(pattern: str) -> tuple[str, int | None] | None:
    """`host`, `host:port`, `ipv6`, `[ipv6]` or `[ipv6]:port` -> (host, port or None);
    None when empty or malformed, so that the pattern matches nothing."""
    if pattern.startswith("["):
        host, _, rest = pattern[1:].partition("]")
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    elif pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
    else:
        host, port = pattern, None
    if not host:
        return None
    if port is None:
        return host, None
    if not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        return None
    return host, int(port)


def _not_allowed_message(allowed_hosts: str) -> str:
    patterns = ", ".join(p.strip() for p in allowed_hosts.split(",") if p.strip())
    if not patterns:
        return (
            "This service is not set up to connect to any ServiceNow instance; "
            "ask its operator to allow your instance's host."
        )
    return (
        f"This service connects only to ServiceNow instances on {patterns}: use your "
        "instance's URL there, or ask the operator to allow your instance's host."
    )
