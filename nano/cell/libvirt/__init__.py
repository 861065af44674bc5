"""
The Cell's only way to libvirt.

:class:`Host` owns the connection and its lifecycle events, :class:`Guest`
is one domain, and :func:`domain_xml` builds a domain definition from a
template's device set. Every blocking libvirt call runs on one dedicated
thread and returns a Deferred, and libvirt's numbers and errors are turned
into the names and exceptions below.
"""

from ._constants import DomainState, LifecycleEvent
from ._domain_xml import (
    DomainSpec,
    InvalidDomainSpec,
    Qos,
    domain_xml,
    generate_password,
)
from ._errors import (
    DomainExists,
    DomainNotFound,
    DomainNotRunning,
    DomainRunning,
    HostUnavailable,
    HypervisorError,
    InvalidDomainXML,
)
from ._events import DomainEvent
from ._guest import BlockStats, Guest, GuestInfo, InterfaceStats
from ._host import DomainStatus, Host, NodeInfo
from ._media import NoCdromDrive, cdrom_device_xml, with_media
from ._templates import DEFAULT_TEMPLATES, DeviceSet, SystemTemplate
from ._thread import LibvirtThread

__all__ = [
    "DEFAULT_TEMPLATES",
    "BlockStats",
    "DeviceSet",
    "DomainEvent",
    "DomainExists",
    "DomainNotFound",
    "DomainNotRunning",
    "DomainRunning",
    "DomainSpec",
    "DomainState",
    "DomainStatus",
    "Guest",
    "GuestInfo",
    "Host",
    "HostUnavailable",
    "HypervisorError",
    "InterfaceStats",
    "InvalidDomainSpec",
    "InvalidDomainXML",
    "LibvirtThread",
    "LifecycleEvent",
    "NoCdromDrive",
    "NodeInfo",
    "Qos",
    "SystemTemplate",
    "cdrom_device_xml",
    "domain_xml",
    "generate_password",
    "with_media",
]
