"""domain.cfg: defaults, checks, the generated secret, the interface."""

import os
import stat

import pytest

from nano.config import ConfigError, load
from nano.fabric import FabricConfig, ensure_secret, parse_core_address
from nano.fabric._interface import (
    InterfaceError,
    default_route_interface,
    resolve_interface,
)

SECRET = "ab" * 32


def test_defaults_match_the_original_nano():
    """
    Without settings, the fabric uses the original Nano's domain, group and
    timers.
    """
    config = FabricConfig.from_dict({"secret": SECRET})
    assert config.domain == "nano"
    assert (config.group_address, config.group_port) == ("224.0.0.226", 5599)
    assert config.heartbeat_interval == 3.0
    assert config.lost_after == 9.0
    assert config.disconnect_after == 15.0
    assert config.request_timeout == 10.0
    assert config.secret == bytes.fromhex(SECRET)


def test_secret_not_in_repr():
    """The secret stays out of reprs, and so out of logs and tracebacks."""
    assert SECRET not in repr(FabricConfig.from_dict({"secret": SECRET}))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("group_port", 70000, "invalid group_port 70000: must be a port"),
        ("group_address", "10.0.0.1", "must be an IPv4 multicast address"),
        ("group_address", 3758096610, "invalid group_address 3758096610"),
        ("listen_address", 5, "invalid listen_address 5"),
        ("lost_after", -1, "invalid lost_after -1: must be a positive"),
        ("window", 0, "invalid window 0"),
        ("max_datagram", 100, "invalid max_datagram 100"),
        ("domain", "", "invalid domain ''"),
        ("domain", "x" * 65, "must be a name of 1 to 64 ASCII letters"),
        ("domain", "my cluster", "invalid domain 'my cluster'"),
        ("domain", "nano\n", "invalid domain 'nano\\n'"),
        ("domain", "nanö", "invalid domain 'nanö'"),
        ("interface", 5, "invalid interface 5"),
        ("interface", "", "invalid interface ''"),
        ("interface", "x" * 16, "interface name of 1 to 15 bytes"),
        ("interface", "eth 0", "invalid interface 'eth 0'"),
        ("interface", "br/0", "invalid interface 'br/0'"),
        ("interface", "..", "invalid interface '..'"),
    ],
)
def test_invalid_values_named(key, value, message):
    """
    Each invalid setting is reported with the file, the key and what is
    accepted.
    """
    with pytest.raises(ConfigError) as caught:
        FabricConfig.from_dict({"secret": SECRET, key: value}, "d.cfg")
    assert str(caught.value).startswith("d.cfg: ")
    assert message in str(caught.value)


def test_longest_domain_accepted():
    """A domain of 64 allowed characters is accepted as it is."""
    domain = "Lab-1.zone_" + "x" * 53
    config = FabricConfig.from_dict({"secret": SECRET, "domain": domain})
    assert config.domain == domain


def test_long_invalid_value_cut():
    """An error shows the start of a long invalid value, not all of it."""
    with pytest.raises(ConfigError) as caught:
        FabricConfig.from_dict({"secret": SECRET, "domain": "y" * 5000})
    message = str(caught.value)
    assert "invalid domain 'yyyy" in message
    assert "... (5002 characters): must be a name" in message
    assert len(message) < 300


def test_timers_must_be_ordered():
    """A heartbeat slower than the loss limit is rejected."""
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        FabricConfig.from_dict(
            {"secret": SECRET, "heartbeat_interval": 10}, "d.cfg"
        )


def test_missing_secret_says_how_to_get_it():
    """A host without the secret is told to copy Core's file."""
    with pytest.raises(ConfigError, match=r"copy Core's domain\.cfg"):
        FabricConfig.from_dict({}, "d.cfg")


def test_invalid_secret_not_shown():
    """An invalid secret is rejected without printing it."""
    with pytest.raises(ConfigError) as caught:
        FabricConfig.from_dict({"secret": "zz-not-hex-secret"}, "d.cfg")
    assert "zz-not-hex" not in str(caught.value)
    assert "hexadecimal" in str(caught.value)


def test_ensure_secret_creates_private_file(tmp_path):
    """Core's first start creates a 32-byte secret in a 0600 file, once."""
    path = tmp_path / "config" / "domain.cfg"
    assert ensure_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config = FabricConfig.from_file(path)
    assert len(config.secret) == 32
    assert not ensure_secret(path)
    assert FabricConfig.from_file(path).secret == config.secret


def test_ensure_secret_keeps_other_keys(tmp_path):
    """Adding the secret keeps the settings already in the file."""
    path = tmp_path / "domain.cfg"
    path.write_text('{"domain": "lab", "group_port": 5598}')
    ensure_secret(path)
    values = load(path)
    assert (values["domain"], values["group_port"]) == ("lab", 5598)
    assert len(bytes.fromhex(values["secret"])) == 32


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "invalid JSON"),
        ("[]", "must hold a JSON object, not list"),
    ],
)
def test_unreadable_file_named(tmp_path, content, message):
    """A file that is not a JSON object is reported with its path."""
    path = tmp_path / "domain.cfg"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        FabricConfig.from_file(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_file_named(tmp_path):
    """A missing file is reported as such."""
    with pytest.raises(ConfigError, match="configuration file not found"):
        FabricConfig.from_file(tmp_path / "nothing.cfg")


ROUTES = """\
Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask
eth1\t00000000\t0100A8C0\t0003\t0\t0\t200\t00000000
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF
"""


def test_default_route_with_lowest_metric(tmp_path):
    """Of several default routes, the one with the lowest metric wins."""
    routes = tmp_path / "route"
    routes.write_text(ROUTES)
    assert default_route_interface(routes) == "eth0"


def test_no_default_route_gives_the_fix(tmp_path):
    """Without a default route, the error names both ways to go on."""
    routes = tmp_path / "route"
    routes.write_text(ROUTES.splitlines()[0] + "\n")
    with pytest.raises(InterfaceError) as caught:
        default_route_interface(routes)
    assert "no IPv4 default route" in str(caught.value)
    assert "--core HOST:PORT" in str(caught.value)


def test_interface_by_name_address_or_unknown():
    """
    The interface setting takes a name or an address, and names an unknown one.
    """
    assert resolve_interface("lo") == "127.0.0.1"
    assert resolve_interface("10.213.0.5") == "10.213.0.5"
    with pytest.raises(InterfaceError, match="'nosuch0'"):
        resolve_interface("nosuch0")


@pytest.mark.parametrize("name", ["x" * 16, "lo\0x", "lo/x", "", "."])
def test_invalid_interface_name_not_looked_up(name):
    """
    A name Linux cannot have is rejected before the lookup, which would
    cut it at 15 bytes or at a NUL and might find another interface.
    """
    with pytest.raises(InterfaceError, match="invalid interface name"):
        resolve_interface(name)


def test_core_address_parsed():
    """--core takes IPV4-ADDRESS:PORT."""
    assert parse_core_address("10.213.0.1:5600") == ("10.213.0.1", 5600)


@pytest.mark.parametrize(
    "text", ["core.example:5600", "10.213.0.1", "10.213.0.1:0", ":5600"]
)
def test_invalid_core_address_named(text):
    """
    A host name, a missing or zero port is rejected with the expected form.
    """
    with pytest.raises(ValueError) as caught:
        parse_core_address(text)
    assert str(caught.value) == (
        f"invalid Core address {text!r}: expected IPV4-ADDRESS:PORT, "
        "such as 10.0.0.1:5600"
    )
