"""The guest setting rules that Core and the Cell both check."""

import pytest

from nano import guest_rules
from nano.guest_rules import InvalidGuestSetting


@pytest.mark.parametrize(
    ("name", "hostname"),
    [("web-01", "web-01"), ("grp.Web_01", "web-01"), ("a" * 63, "a" * 63)],
)
def test_hostname_accepted(name, hostname):
    """A name gives a host name without its group prefix."""
    assert guest_rules.check_hostname(name) == hostname


@pytest.mark.parametrize("name", ["grp.web.01", "a" * 64, "-web", "grp."])
def test_hostname_rejected(name):
    """Names that give no RFC 1123 label are rejected, naming them."""
    with pytest.raises(InvalidGuestSetting) as caught:
        guest_rules.check_hostname(name)
    assert repr(name) in caught.value.message


@pytest.mark.parametrize(
    "secret", ["a\nb", "a\x7fb", "a\x85b", "a\x9fb", "x" * 257]
)
def test_secret_rejected(secret):
    """Control characters of C0, DEL and C1, and long ones, are rejected
    without showing the password."""
    with pytest.raises(InvalidGuestSetting) as caught:
        guest_rules.check_admin_secret(secret, "password")
    assert caught.value.setting == "password"
    assert secret not in caught.value.message


def test_secret_accepts_unicode():
    """Printable characters outside ASCII pass."""
    assert guest_rules.check_admin_secret("pässwörd€") == "pässwörd€"


@pytest.mark.parametrize(
    "path", ["/etc", "/usr", "/proc/data", "/sys", "/opt/../etc", "opt"]
)
def test_data_path_rejected(path):
    """System directories and paths that are not normalized fail."""
    with pytest.raises(InvalidGuestSetting) as caught:
        guest_rules.check_data_path(path)
    assert repr(path) in caught.value.message


def test_data_path_default():
    """An empty data path is the default mount point."""
    assert guest_rules.check_data_path("") == "/opt/data"


@pytest.mark.parametrize(
    ("mac", "fragment"),
    [
        ("01:00:5e:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "broadcast"),
        ("00:00:00:00:00:00", "all zero"),
        ("52:54:00:12:34", "six two-digit hex numbers"),
    ],
)
def test_mac_rejected(mac, fragment):
    """A NIC's MAC must be a well-formed unicast address."""
    with pytest.raises(InvalidGuestSetting) as caught:
        guest_rules.check_mac(mac, "ethernet_address")
    assert fragment in caught.value.message
    assert "invalid ethernet_address" in caught.value.message


def test_mac_lower_case():
    """A valid MAC comes back in lower case."""
    assert guest_rules.check_mac("52:54:00:AB:CD:EF") == "52:54:00:ab:cd:ef"
