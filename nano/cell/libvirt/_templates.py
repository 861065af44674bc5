"""
System templates: the virtual hardware a guest OS gets, and the five
templates every Nano installation starts with.
"""

import attrs

DISK_BUSES = ("virtio", "scsi", "sata", "ide")
NIC_MODELS = ("virtio", "e1000", "rtl8139")
DISPLAYS = ("vga", "cirrus", "virtio", "qxl", "none")
CONTROLS = ("vnc", "spice")
USB_MODELS = ("nec-xhci", "none")
TABLETS = ("usb", "virtio", "none")
OPERATING_SYSTEMS = ("linux", "windows")


def _one_of(choices):
    def check(instance, attribute, value):
        if value not in choices:
            raise ValueError(
                f"invalid {attribute.name.replace('_', ' ')} {value!r}: "
                f"must be one of {', '.join(choices)}"
            )

    return check


@attrs.frozen
class DeviceSet:
    """
    The emulated devices of a guest.

    :ivar disk_bus: how disks attach: ``virtio``, ``scsi`` (virtio-scsi),
        ``sata`` or ``ide``.
    :ivar nic_model: the network card: ``virtio``, ``e1000`` or
        ``rtl8139``.
    :ivar display: the video card: ``vga``, ``cirrus``, ``virtio``, ``qxl``
        or ``none`` (no screen and no remote display).
    :ivar control: the remote display protocol: ``vnc`` or ``spice``.
    :ivar usb: the USB controller: ``nec-xhci`` (USB 3), or ``none`` for
        the machine type's default controller, which is USB 1 on ``pc``.
    :ivar tablet: an absolute pointer so the remote mouse follows the
        cursor: ``usb``, ``virtio`` or ``none``.
    """

    disk_bus: str = attrs.field(
        default="virtio", validator=_one_of(DISK_BUSES)
    )
    nic_model: str = attrs.field(
        default="virtio", validator=_one_of(NIC_MODELS)
    )
    display: str = attrs.field(default="vga", validator=_one_of(DISPLAYS))
    control: str = attrs.field(default="vnc", validator=_one_of(CONTROLS))
    usb: str = attrs.field(default="nec-xhci", validator=_one_of(USB_MODELS))
    tablet: str = attrs.field(default="usb", validator=_one_of(TABLETS))


@attrs.frozen
class SystemTemplate:
    """
    A named device set for one kind of guest OS.

    :ivar name: shown to users, such as ``"CentOS 7"``.
    :ivar operating_system: ``linux`` or ``windows``.
    :ivar admin: the administrator account cloud-init sets up.
    :ivar devices: the :class:`DeviceSet`.
    """

    name: str
    operating_system: str = attrs.field(validator=_one_of(OPERATING_SYSTEMS))
    admin: str
    devices: DeviceSet


DEFAULT_TEMPLATES = (
    SystemTemplate(
        "CentOS 7",
        "linux",
        "root",
        DeviceSet("scsi", "virtio", "vga", "vnc", "nec-xhci", "usb"),
    ),
    SystemTemplate(
        "CentOS 6",
        "linux",
        "root",
        DeviceSet("sata", "virtio", "vga", "vnc", "nec-xhci", "usb"),
    ),
    SystemTemplate(
        "Windows Server 2012",
        "windows",
        "Administrator",
        DeviceSet("sata", "e1000", "vga", "vnc", "nec-xhci", "usb"),
    ),
    SystemTemplate(
        "General",
        "linux",
        "root",
        DeviceSet("sata", "rtl8139", "vga", "vnc", "none", "usb"),
    ),
    SystemTemplate(
        "Legacy",
        "linux",
        "root",
        DeviceSet("ide", "rtl8139", "cirrus", "vnc", "none", "none"),
    ),
)
