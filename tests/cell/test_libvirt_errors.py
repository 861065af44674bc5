"""Tests for the mapping of libvirt errors to Nano's exceptions."""

import pytest

from nano.cell.libvirt import (
    DomainNotFound,
    DomainNotRunning,
    DomainRunning,
    HostUnavailable,
    HypervisorError,
    InvalidDomainXML,
)
from nano.cell.libvirt._errors import translate
from nano.testing.fake_libvirt import libvirtError

VIR_FROM_NONE, VIR_FROM_RPC, VIR_FROM_STORAGE = 0, 7, 18


@pytest.mark.parametrize(
    ("code", "domain", "expected"),
    [
        (42, VIR_FROM_NONE, DomainNotFound),
        (55, VIR_FROM_NONE, DomainNotRunning),
        (27, VIR_FROM_NONE, InvalidDomainXML),
        (35, VIR_FROM_NONE, InvalidDomainXML),
        (67, VIR_FROM_NONE, InvalidDomainXML),
        (5, VIR_FROM_NONE, HostUnavailable),
        (39, VIR_FROM_NONE, HostUnavailable),
        # "client socket is closed" is an internal error from the RPC layer.
        (1, VIR_FROM_RPC, HostUnavailable),
        (38, VIR_FROM_RPC, HostUnavailable),
        # A missing bridge or disk file at start is a system error too.
        (38, VIR_FROM_NONE, HypervisorError),
        (38, VIR_FROM_STORAGE, HypervisorError),
        (1, VIR_FROM_NONE, HypervisorError),
    ],
)
def test_error_classes(code, domain, expected):
    """Each libvirt code and error domain maps to one exception."""
    error = translate(libvirtError("detail", code, domain), "start", "vm1")
    assert type(error) is expected
    assert error.code == code


def test_message_names_action_and_domain():
    """The message has the action, the domain and libvirt's detail."""
    error = translate(libvirtError("no such device", 38), "start", "vm1")
    assert str(error) == "start domain 'vm1' failed: no such device"
    assert error.domain == "vm1"


def test_host_wide_message():
    """Without a domain the message names only the action."""
    error = translate(libvirtError("broken", 1), "list domains")
    assert str(error) == "list domains failed: broken"


def test_operation_invalid_choice():
    """The caller chooses what "operation is not valid" means."""
    error = translate(
        libvirtError("already running", 55),
        "start",
        "vm1",
        not_active=DomainRunning,
    )
    assert type(error) is DomainRunning
