"""Tests that frozen sample journals still read as the same events."""

from pathlib import Path

from nano.events import read_lines, utc_time, verify
from nano.events.core import (
    CORE_EVENTS,
    ComputePoolCreated,
    ComputePoolDeleted,
    ComputePoolModified,
    SystemTemplateCreated,
    SystemTemplateDeleted,
    SystemTemplateModified,
)

SAMPLES = Path(__file__).parent / "samples"
T0 = 1_796_400_000
CENTOS = {
    "name": "CentOS 7",
    "admin": "root",
    "operating_system": "linux",
    "disk": "scsi",
    "network": "virtio",
    "display": "vga",
    "control": "vnc",
    "usb": "nec-xhci",
    "tablet": "usb",
}
LEGACY = {
    **CENTOS,
    "name": "Legacy \u2013 \u65e7\u7cfb\u7edf",
    "disk": "ide",
    "network": "rtl8139",
    "display": "cirrus",
    "usb": "none",
    "tablet": "none",
}
TEMPLATE_1 = "0b6c1f2e-0000-4000-8000-000000000001"
TEMPLATE_2 = "0b6c1f2e-0000-4000-8000-000000000002"

CORE_V1 = [
    ComputePoolCreated(
        aggregate_id="default",
        time=utc_time(T0 + 0.000001),
        task_id="task-0001",
    ),
    ComputePoolCreated(
        aggregate_id="nfs-pool",
        time=utc_time(T0 + 1.5),
        task_id="task-0002",
        storage="nfs-1",
        network="addresses-1",
        failover=True,
        enabled=True,
    ),
    ComputePoolModified(
        aggregate_id="default",
        time=utc_time(T0 + 60),
        task_id="task-0003",
        storage=None,
        network="addresses-1",
        failover=False,
        enabled=False,
    ),
    SystemTemplateCreated(
        aggregate_id=TEMPLATE_1, time=utc_time(T0 + 120), **CENTOS
    ),
    SystemTemplateCreated(
        aggregate_id=TEMPLATE_2, time=utc_time(T0 + 121), **LEGACY
    ),
    SystemTemplateModified(
        aggregate_id=TEMPLATE_1,
        time=utc_time(T0 + 180),
        task_id="task-0004",
        **{**CENTOS, "display": "qxl", "control": "spice"},
    ),
    SystemTemplateDeleted(
        aggregate_id=TEMPLATE_2, time=utc_time(T0 + 240), task_id="task-0005"
    ),
    ComputePoolDeleted(
        aggregate_id="nfs-pool", time=utc_time(T0 + 300), task_id="task-0006"
    ),
]


def decoded(directory: Path):
    return [
        (line.seq, CORE_EVENTS.decode(line.record, f"{line.path}:{line.line}"))
        for line in read_lines(directory)
    ]


def test_core_v1_sample_events():
    """The core v1 sample decodes to the events it was written from."""
    assert decoded(SAMPLES / "core-v1") == list(enumerate(CORE_V1, 1))


def test_core_v1_sample_verifies():
    """verify() finds no problem in the core v1 sample."""
    assert verify(SAMPLES / "core-v1", CORE_EVENTS) == []


def test_samples_cover_every_version():
    """
    The samples contain a record of every version of every core event
    type, so that a new type or version needs a new sample.
    """
    stored = {
        (line.record["type"], line.record["version"])
        for directory in SAMPLES.iterdir()
        if directory.is_dir()
        for line in read_lines(directory)
    }
    expected = {
        (name, version)
        for name, cls in CORE_EVENTS.types().items()
        for version in range(1, cls.version + 1)
    }
    assert expected - stored == set()
