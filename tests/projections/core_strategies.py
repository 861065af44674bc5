"""Hypothesis strategies for Core's events, shared by the tests here."""

from datetime import UTC

from hypothesis import strategies as st

from nano.events.addresses import (
    AddressAllocated,
    AddressPoolCreated,
    AddressPoolDeleted,
    AddressPoolModified,
    AddressRangeAdded,
    AddressRangeRemoved,
    AddressReleased,
)
from nano.events.core import (
    ComputePoolCreated,
    ComputePoolDeleted,
    ComputePoolModified,
    SystemTemplateCreated,
    SystemTemplateDeleted,
    SystemTemplateModified,
)

# A few ids, so that generated modifications and deletions often hit an
# entry that an earlier event created.
pool_names = st.sampled_from(["default", "fast", "pool-3"])
template_ids = st.sampled_from(["t-1", "t-2", "t-3"])

times = st.datetimes(timezones=st.just(UTC))
task_ids = st.none() | st.text(max_size=12)
optional_names = st.none() | st.text(max_size=12)


def _base(aggregate_ids):
    return {
        "aggregate_id": aggregate_ids,
        "time": times,
        "task_id": task_ids,
    }


_pool_settings = {
    "storage": optional_names,
    "network": optional_names,
    "failover": st.booleans(),
    "enabled": st.booleans(),
}
_template_settings = {
    name: st.text(max_size=10)
    for name in [
        "name",
        "admin",
        "operating_system",
        "disk",
        "network",
        "display",
        "control",
        "usb",
        "tablet",
    ]
}

address_pool_names = st.sampled_from(["lan", "dmz"])
addresses = st.sampled_from(["10.213.7.10", "10.213.7.11", "10.213.8.1"])
instance_ids = st.sampled_from(["i-1", "i-2", "i-3"])
range_types = st.sampled_from(["internal", "external"])
_address_pool_settings = {
    "gateway": addresses,
    "dns": st.lists(addresses, max_size=2),
    "provider": st.sampled_from(["dhcp", "cloudinit"]),
    "mode": range_types,
}
_allocation = {"address": addresses, "instance": instance_ids}
address_events = st.one_of(
    st.builds(
        AddressPoolCreated,
        **_base(address_pool_names),
        **_address_pool_settings,
    ),
    st.builds(
        AddressPoolModified,
        **_base(address_pool_names),
        **_address_pool_settings,
    ),
    st.builds(AddressPoolDeleted, **_base(address_pool_names)),
    st.builds(
        AddressRangeAdded,
        **_base(address_pool_names),
        range_type=range_types,
        start=addresses,
        end=addresses,
        netmask=st.sampled_from(["255.255.255.0", "255.255.0.0"]),
    ),
    st.builds(
        AddressRangeRemoved,
        **_base(address_pool_names),
        range_type=range_types,
        start=addresses,
    ),
    st.builds(AddressAllocated, **_base(address_pool_names), **_allocation),
    st.builds(AddressReleased, **_base(address_pool_names), **_allocation),
)

core_events = st.one_of(
    st.builds(ComputePoolCreated, **_base(pool_names), **_pool_settings),
    st.builds(ComputePoolModified, **_base(pool_names), **_pool_settings),
    st.builds(ComputePoolDeleted, **_base(pool_names)),
    st.builds(
        SystemTemplateCreated, **_base(template_ids), **_template_settings
    ),
    st.builds(
        SystemTemplateModified, **_base(template_ids), **_template_settings
    ),
    st.builds(SystemTemplateDeleted, **_base(template_ids)),
    address_events,
)


def numbered(events):
    """Pair events with sequence numbers from 1, as a journal reads."""
    return list(enumerate(events, start=1))
