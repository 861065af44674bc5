"""Tests of the IPv4 range arithmetic of address pools."""

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.core._address_ranges import (
    IPv4Range,
    RangeError,
    address_number,
    check_gateway,
    first_overlap,
    next_free,
)

MASK_24 = "255.255.255.0"
GATEWAY = IPv4Address("10.213.7.1")


def parsed(start, end, netmask=MASK_24):
    return IPv4Range.parse(start, end, netmask)


def test_parse_range():
    """A good range parses into addresses and its network."""
    address_range = parsed("10.213.7.10", "10.213.7.20")
    assert address_range.start == IPv4Address("10.213.7.10")
    assert address_range.end == IPv4Address("10.213.7.20")
    assert address_range.network == IPv4Network("10.213.7.0/24")
    assert address_range.prefix == 24


@pytest.mark.parametrize(
    ("start", "end", "netmask", "message"),
    [
        ("10.213.7.x", "10.213.7.20", MASK_24, "invalid start '10.213.7.x'"),
        ("10.213.7.10", "", MASK_24, "invalid end ''"),
        ("10.213.7.10", "10.213.7.300", MASK_24, "invalid end"),
        ("10.213.7.20", "10.213.7.10", MASK_24, "before the start"),
        ("10.213.7.10", "10.213.8.10", MASK_24, "outside the network"),
        ("10.213.7.10", "10.213.7.20", "255.0.255.0", "invalid netmask"),
        ("10.213.7.10", "10.213.7.20", "24", "invalid netmask '24'"),
        ("10.213.7.10", "10.213.7.20", "0.0.0.255", "invalid netmask"),
        ("10.213.7.10", "10.213.7.10", "255.255.255.254", "prefix from 1"),
        ("10.213.7.10", "10.213.7.20", "0.0.0.0", "invalid netmask"),
        ("10.213.7.10", "10.213.7.20", None, "invalid netmask None"),
    ],
)
def test_parse_rejects(start, end, netmask, message):
    """A bad range raises RangeError naming the field and the value."""
    with pytest.raises(RangeError, match=message):
        IPv4Range.parse(start, end, netmask)


def test_capacity_skips_reserved_addresses():
    """Network, broadcast and gateway addresses are not counted."""
    whole = parsed("10.213.7.0", "10.213.7.255")
    assert whole.capacity(GATEWAY) == 253
    assert whole.capacity(IPv4Address("10.213.9.1")) == 254
    assert parsed("10.213.7.10", "10.213.7.19").capacity(GATEWAY) == 10


def test_next_free_skips_gateway_and_taken():
    """The lowest address that is neither reserved nor taken comes next."""
    address_range = parsed("10.213.7.0", "10.213.7.5")
    taken = {int(IPv4Address("10.213.7.2"))}
    address, found_in = next_free([address_range], GATEWAY, taken)
    assert address == IPv4Address("10.213.7.3")
    assert found_in is address_range


def test_next_free_none_when_full():
    """A range with every address taken gives nothing."""
    address_range = parsed("10.213.7.10", "10.213.7.11")
    taken = {int(IPv4Address("10.213.7.10")), int(IPv4Address("10.213.7.11"))}
    assert next_free([address_range], GATEWAY, taken) is None


def test_next_free_lowest_range_first():
    """Ranges are used from the lowest start address up."""
    high = parsed("10.213.7.100", "10.213.7.110")
    low = parsed("10.213.7.10", "10.213.7.20")
    address, _ = next_free([high, low], GATEWAY, set())
    assert address == IPv4Address("10.213.7.10")


@pytest.mark.parametrize(
    ("gateway", "message"),
    [
        ("10.213.8.1", "outside the network 10.213.7.0/24"),
        ("10.213.7.0", "network or broadcast address"),
        ("10.213.7.255", "network or broadcast address"),
    ],
)
def test_check_gateway_rejects(gateway, message):
    """A gateway must be a host address of each range's network."""
    with pytest.raises(RangeError, match=message):
        check_gateway(
            IPv4Address(gateway), [parsed("10.213.7.10", "10.213.7.20")]
        )


def test_check_gateway_accepts_inside_range():
    """A gateway inside a range is accepted, and then never allocated."""
    address_range = parsed("10.213.7.1", "10.213.7.3")
    check_gateway(GATEWAY, [address_range])
    assert list(address_range.free(GATEWAY, set())) == [
        IPv4Address("10.213.7.2"),
        IPv4Address("10.213.7.3"),
    ]


def test_first_overlap_label():
    """first_overlap returns the label of the range it overlaps."""
    new = parsed("10.213.7.15", "10.213.7.25")
    others = [
        ("a", parsed("10.213.7.1", "10.213.7.9")),
        ("b", parsed("10.213.7.20", "10.213.7.30")),
    ]
    assert first_overlap(new, others) == "b"
    assert first_overlap(parsed("10.213.7.40", "10.213.7.50"), others) is None


@given(st.integers(0, 2**32 - 1))
def test_address_number_matches_ipaddress(number):
    """address_number reads a dotted quad as ipaddress does."""
    assert address_number(str(IPv4Address(number))) == number


# Property tests, in one /24 and its neighbours so that ranges often
# overlap and often reach the network and broadcast addresses.

BASE = int(IPv4Address("10.213.7.0"))
prefixes = st.integers(min_value=22, max_value=30)


@st.composite
def ranges(draw):
    """Draw a valid range: a network, then two addresses inside it."""
    prefix = draw(prefixes)
    network = IPv4Network((BASE, prefix), strict=False)
    first = int(network.network_address)
    last = int(network.broadcast_address)
    start = draw(st.integers(first, last))
    end = draw(st.integers(start, last))
    return IPv4Range.parse(
        str(IPv4Address(start)), str(IPv4Address(end)), str(network.netmask)
    )


def addresses_of(address_range):
    return {
        IPv4Address(number)
        for number in range(
            int(address_range.start), int(address_range.end) + 1
        )
    }


@given(ranges(), st.integers(0, 1023))
def test_capacity_counts_free_addresses(address_range, offset):
    """Capacity is the number of addresses free() yields with none taken."""
    gateway = IPv4Address(BASE + offset)
    free = list(address_range.free(gateway, set()))
    assert address_range.capacity(gateway) == len(free)


@given(ranges(), st.integers(0, 1023))
def test_free_never_yields_reserved(address_range, offset):
    """free() never yields the network, broadcast or gateway address."""
    gateway = IPv4Address(BASE + offset)
    network = address_range.network
    reserved = {network.network_address, network.broadcast_address, gateway}
    for address in address_range.free(gateway, set()):
        assert address not in reserved
        assert address in address_range
        assert address in network


@given(ranges(), ranges())
def test_overlap_means_shared_address(one, other):
    """Two ranges overlap exactly when they share an address."""
    shared = addresses_of(one) & addresses_of(other)
    assert one.overlaps(other) == bool(shared)
    assert other.overlaps(one) == one.overlaps(other)


@given(st.lists(ranges(), min_size=1, max_size=3), st.data())
def test_next_free_is_lowest_untaken(address_ranges, data):
    """next_free returns the lowest usable address not taken, or None."""
    usable = set().union(
        *(
            address_range.free(GATEWAY, set())
            for address_range in address_ranges
        )
    )
    taken = (
        data.draw(st.sets(st.sampled_from(sorted(usable))))
        if usable
        else set()
    )
    found = next_free(address_ranges, GATEWAY, {int(each) for each in taken})
    remaining = usable - taken
    if not remaining:
        assert found is None
    else:
        address, address_range = found
        assert address == min(remaining)
        assert address in address_range
