"""Image tokens and the host's address list."""

import hashlib
import hmac

import pytest

from nano.tls import (
    AddressListError,
    check_image_token,
    host_addresses,
    image_token,
)
from nano.tls._addresses import parse_ip_json

SECRET = bytes.fromhex("5a" * 32)
SHA = "ab" * 32


def test_image_token_is_hmac():
    """The token is the hex HMAC-SHA256 of kind/id/sha256."""
    expected = hmac.new(
        SECRET, f"disk/img-1/{SHA}".encode(), hashlib.sha256
    ).hexdigest()
    assert image_token(SECRET, "disk", "img-1", SHA) == expected


def test_check_image_token_accepts():
    """The token made with the same secret and fields is accepted."""
    token = image_token(SECRET, "media", "img-1", SHA)
    assert check_image_token(SECRET, "media", "img-1", SHA, token)


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "media"), ("image_id", "img-2"), ("sha256", "cd" * 32)],
)
def test_check_image_token_binds_fields(field, value):
    """A token for one image, kind or content is invalid for another."""
    fields = {"kind": "disk", "image_id": "img-1", "sha256": SHA}
    token = image_token(SECRET, **fields)
    fields[field] = value
    assert not check_image_token(SECRET, token=token, **fields)


def test_check_image_token_other_secret():
    """A token made with another cluster's secret is invalid."""
    token = image_token(b"other secret", "disk", "img-1", SHA)
    assert not check_image_token(SECRET, "disk", "img-1", SHA, token)


@pytest.mark.parametrize("token", ["", None, b"00", "é" * 64, "0" * 64])
def test_check_image_token_malformed(token):
    """Missing, non-ASCII and wrong tokens are invalid, never an error."""
    assert not check_image_token(SECRET, "disk", "img-1", SHA, token)


def test_host_addresses_has_loopback_first():
    """This host's list starts with 127.0.0.1 and holds only IPv4."""
    addresses = host_addresses()
    assert addresses[0] == "127.0.0.1"
    assert all(address.count(".") == 3 for address in addresses)
    assert len(set(addresses)) == len(addresses)


def test_parse_ip_json():
    """Addresses of every interface are listed once, in order."""
    output = b"""[
      {"ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
      {"ifname": "br0", "addr_info": [
        {"family": "inet", "local": "10.213.0.1", "prefixlen": 24},
        {"family": "inet", "local": "10.213.5.1", "prefixlen": 24}]},
      {"ifname": "eth1", "addr_info": []},
      {"ifname": "eth2"}
    ]"""
    assert parse_ip_json(output) == ["127.0.0.1", "10.213.0.1", "10.213.5.1"]


def test_parse_ip_json_adds_loopback():
    """127.0.0.1 is listed even where lo has no address (a new netns)."""
    output = b'[{"ifname": "lo", "addr_info": []}]'
    assert parse_ip_json(output) == ["127.0.0.1"]


@pytest.mark.parametrize(
    "output", [b"", b"{}", b'[{"addr_info": [{"family": "inet"}]}]', b"[1]"]
)
def test_parse_ip_json_unexpected(output):
    """Output iproute2 would not write gives an error quoting it."""
    with pytest.raises(AddressListError, match="unexpected output"):
        parse_ip_json(output)
