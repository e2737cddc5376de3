"""The ServiceNow instance URL: allow-list, scheme, shape, internal addresses, normal form."""

import pytest

from twittnow.instance_urls import InvalidInstanceUrl, normalize_instance_url

DEFAULT = "*.service-now.com"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dev12345.service-now.com", "https://dev12345.service-now.com"),
        (" HTTPS://Dev1.Service-Now.com/ ", "https://dev1.service-now.com"),
        ("https://dev1.service-now.com.", "https://dev1.service-now.com"),
        ("https://dev1.service-now.com:443/", "https://dev1.service-now.com"),
        ("https://a.b.service-now.com", "https://a.b.service-now.com"),
    ],
)
def test_instance_urls_on_the_default_allow_list_are_normalized(url, expected):
    assert normalize_instance_url(url, DEFAULT) == expected


@pytest.mark.parametrize(
    ("url", "allowed_hosts", "expected"),
    [
        # Whitespace around patterns and empty patterns are ignored.
        (
            "https://support.acme.com",
            " , *.service-now.com ,  support.acme.com ,",
            "https://support.acme.com",
        ),
        ("https://SUPPORT.acme.com.", "Support.Acme.com.", "https://support.acme.com"),
        # A pattern with a port matches that port, and only that one.
        ("https://snow.acme.com:8443", "snow.acme.com:8443", "https://snow.acme.com:8443"),
        ("https://x.acme.com:8443/", "*.acme.com:8443", "https://x.acme.com:8443"),
        ("https://snow.acme.com", "snow.acme.com:443", "https://snow.acme.com"),
        # Public IP addresses may be allow-listed, in any spelling of the same address.
        ("https://8.8.8.8", "8.8.8.8", "https://8.8.8.8"),
        ("https://[2001:4860:0:0::8888]", "[2001:4860::8888]", "https://[2001:4860::8888]"),
        ("https://[::ffff:8.8.8.8]", "8.8.8.8", "https://8.8.8.8"),
        # Loopback: http and https, when allow-listed with its port.
        ("http://localhost:8080", "localhost:8080", "http://localhost:8080"),
        ("http://LOCALHOST.:8080/", "localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:9000", "127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.1.2.3:9000", "127.1.2.3:9000", "http://127.1.2.3:9000"),
        ("http://[::1]:9001", "[::1]:9001", "http://[::1]:9001"),
        ("http://[::1]", "::1", "http://[::1]"),
        ("http://localhost", "localhost", "http://localhost"),
        ("http://localhost:80", "localhost", "http://localhost"),
        ("https://localhost:8443", "localhost:8443", "https://localhost:8443"),
    ],
)
def test_the_allow_list_admits_hosts_and_ports_it_names(url, allowed_hosts, expected):
    assert normalize_instance_url(url, allowed_hosts) == expected


def refused(url: str, allowed_hosts: str = DEFAULT) -> str:
    with pytest.raises(InvalidInstanceUrl) as refusal:
        normalize_instance_url(url, allowed_hosts)
    return str(refusal.value)


@pytest.mark.parametrize(
    ("url", "allowed_hosts"),
    [
        # The wildcard needs at least one label in front of the domain.
        ("https://service-now.com", DEFAULT),
        ("https://evilservice-now.com", DEFAULT),
        ("https://dev1.service-now.com.evil.com", DEFAULT),
        ("https://x.acme.com", "acme.com"),
        ("https://acme.com", "x.acme.com"),
        # A pattern without a port matches only the default port; with one, only that port.
        ("https://dev1.service-now.com:8443", DEFAULT),
        ("https://dev1.service-now.com:80", DEFAULT),
        ("https://snow.acme.com", "snow.acme.com:8443"),
        ("https://snow.acme.com:9443", "snow.acme.com:8443"),
        ("http://localhost:8081", "localhost:8080"),
        ("http://localhost:8080", "localhost"),
        # Loopback hosts must be allow-listed like any other.
        ("http://localhost:8080", DEFAULT),
        ("http://127.0.0.1:8080", "localhost:8080"),
        # An empty or malformed allow-list admits nothing.
        ("https://dev1.service-now.com", ""),
        ("https://dev1.service-now.com", " , ,"),
        ("https://dev1.service-now.com", "*.service-now.com:https"),
        ("https://dev1.service-now.com", "*.service-now.com:0"),
        ("https://dev1.service-now.com", "*."),
        ("https://dev1.service-now.com", "*"),
        # Wildcards never match IP addresses.
        ("https://8.8.8.8", "*.8.8.8"),
    ],
)
def test_hosts_and_ports_off_the_allow_list_are_refused(url, allowed_hosts):
    assert "operator to allow your instance's host" in refused(url, allowed_hosts)


def test_the_allow_list_refusal_names_the_allowed_hosts():
    assert refused("https://x.evil.com", " *.service-now.com , snow.acme.com:8443,") == (
        "This service connects only to ServiceNow instances on *.service-now.com, "
        "snow.acme.com:8443: use your instance's URL there, or ask the operator to allow "
        "your instance's host."
    )
    assert "not set up to connect to any ServiceNow instance" in refused("https://x.y", " , ")


@pytest.mark.parametrize(
    "url",
    [
        "http://dev1.service-now.com",
        "http://8.8.8.8",
        "ftp://dev1.service-now.com",
        "ws://dev1.service-now.com",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "dev1.service-now.com",
        "//dev1.service-now.com",
    ],
)
def test_only_https_is_accepted_for_hosts_other_than_loopback(url):
    message = refused(url, f"{DEFAULT},8.8.8.8,8.8.8.8:80")
    assert "https://" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:secret@dev1.service-now.com",
        "https://admin@dev1.service-now.com",
        "https://:secret@dev1.service-now.com",
        "https://evil.com@dev1.service-now.com",
    ],
)
def test_credentials_in_the_url_are_refused(url):
    assert "Remove the user name and password" in refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://dev1.service-now.com/api/now/table/incident",
        "https://dev1.service-now.com//",
        "https://dev1.service-now.com/navpage.do",
        "https://dev1.service-now.com?x=1",
        "https://dev1.service-now.com/?",
        "https://dev1.service-now.com#top",
        "https://dev1.service-now.com/#",
    ],
)
def test_paths_queries_and_fragments_are_refused(url):
    assert refused(url) == (
        "Use the instance's base URL, like https://dev12345.service-now.com, "
        "with no path, query or credentials."
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://dev1.service-now.com:abc",
        "https://dev1.service-now.com:+443",
        "https://dev1.service-now.com:99999",
        "https://dev1.service-now.com:-1",
        "https://dev1.service-now.com:0",
        "https://dev1.service-now.com:",
        "https://[127.0.0.1]",
        "https://[::1",
    ],
)
def test_malformed_ports_and_brackets_are_refused(url):
    assert "port" in refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "https://",
        "https:///",
        "https://:443",
        "https:dev1.service-now.com",
    ],
)
def test_a_host_is_required(url):
    message = refused(url)
    assert "https://dev12345.service-now.com" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://dev 1.service-now.com",
        "https://dev1\n.service-now.com",
        "https://dev\t1.service-now.com",
        "https://dev1.service-now.com\\@evil.com",
        "https://dev1.service\x00-now.com",
    ],
)
def test_whitespace_control_characters_and_backslashes_are_refused(url):
    assert "Remove the spaces and special characters" in refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://dev_1.service-now.com",
        "https://-dev1.service-now.com",
        "https://dev1..service-now.com",
        "https://dev1.service-now.com%2eevil.com",
        "https://dév1.service-now.com",
        # Numeric spellings the resolver would read as an IP address (127.0.0.1 here).
        "https://2130706433",
        "https://0x7f000001",
        "https://127.1",
        "https://0177.0.0.1",
        # IPv6 zones.
        "https://[fe80::1%25eth0]",
        "https://[2001:4860::8888%25eth0]",
    ],
)
def test_invalid_host_names_are_refused(url):
    assert refused(url, "*") == "Use a valid host name, like dev12345.service-now.com."


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # cloud metadata (link-local)
        "169.254.1.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "[fd00:ec2::254]",  # EC2 metadata over IPv6 (unique-local)
        "[fd12:3456::1]",
        "[fe80::1]",  # link-local
        "[fec0::1]",  # site-local
        "[ff02::1]",  # multicast
        "[::]",
        "[::ffff:169.254.169.254]",  # the metadata address, IPv4-mapped
        "[::ffff:10.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",  # the metadata address through NAT64
    ],
)
def test_internal_ip_addresses_are_refused_even_when_allow_listed(address):
    allowed = f"{address},{address}:80"
    for scheme in ("https", "http"):
        assert "internal addresses are refused" in refused(f"{scheme}://{address}", allowed)


def test_the_refusal_is_a_value_error():
    with pytest.raises(ValueError):
        normalize_instance_url("http://dev1.service-now.com", DEFAULT)
