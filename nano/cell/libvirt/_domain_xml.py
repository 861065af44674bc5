"""
Domain definitions: what a Nano instance needs from libvirt, checked,
and turned into domain XML.

The XML is built with ElementTree, so names, titles and paths from users
are escaped by the serializer and can never add elements.
"""

import ipaddress
import os
import re
import secrets
import string
import uuid as uuid_module
import xml.etree.ElementTree as ET

import attrs

from ._media import set_boot_order
from ._templates import DeviceSet

MIN_MEMORY = 64 * 1024 * 1024
MAX_CORES = 255  # QEMU's limit for the pc machine type
MAX_VNC_PASSWORD = 8  # VNC authentication uses an 8-byte DES key
CPU_SHARES = {"high": 2000, "medium": 1000, "low": 500}

_DISK_TARGETS = {"virtio": "vda", "scsi": "sda", "sata": "sda", "ide": "hda"}
_TARGET_PREFIXES = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "hd"}
#: The CD-ROM drive's bus for each disk bus. VirtIO has no CD-ROM
#: device, so VirtIO templates get an IDE drive, which the pc machine
#: type always has.
CDROM_BUSES = {"virtio": "ide", "scsi": "scsi", "sata": "sata", "ide": "ide"}
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_INTERFACE_NAME = re.compile(r"^[^\s/:]{1,15}$")
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class InvalidDomainSpec(ValueError):
    """A :class:`DomainSpec` field has a value libvirt would reject."""


def generate_password():
    """Return a random VNC/SPICE password of the maximum length."""
    return "".join(
        secrets.choice(_PASSWORD_ALPHABET) for _ in range(MAX_VNC_PASSWORD)
    )


def _invalid(attribute, value, rule):
    name = attribute.name.replace("_", " ")
    return InvalidDomainSpec(f"invalid {name} {value!r}: {rule}")


def _check_name(instance, attribute, value):
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise _invalid(attribute, value, "must be 1 to 200 characters")
    if "/" in value or any(
        ord(char) < 32 or ord(char) == 127 for char in value
    ):
        raise _invalid(
            attribute, value, "must not contain '/' or control characters"
        )


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _check_uuid(instance, attribute, value):
    try:
        uuid_module.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise _invalid(
            attribute,
            value,
            "must be a UUID such as " + str(uuid_module.UUID(int=1)),
        ) from None


def _check_cores(instance, attribute, value):
    if not isinstance(value, int) or not 1 <= value <= MAX_CORES:
        raise _invalid(
            attribute, value, f"must be a whole number from 1 to {MAX_CORES}"
        )


def _check_memory(instance, attribute, value):
    if not isinstance(value, int) or value < MIN_MEMORY:
        raise _invalid(
            attribute,
            value,
            f"must be at least 64 MiB ({MIN_MEMORY} bytes)",
        )
    if value % 1024:
        raise _invalid(
            attribute, value, "must be a whole number of KiB (1024 bytes)"
        )


def _check_absolute_path(instance, attribute, value):
    if value is None and attribute.default is None:
        return
    if not isinstance(value, str) or not os.path.isabs(value):
        raise _invalid(attribute, value, "must be an absolute path")


def _check_bridge(instance, attribute, value):
    if value is not None and not _INTERFACE_NAME.match(value):
        raise _invalid(
            attribute,
            value,
            "must be a network interface name of 1 to 15 characters",
        )


def _check_mac(instance, attribute, value):
    if value is None:
        if instance.bridge is not None:
            raise _invalid(attribute, value, "is required with a bridge")
        return
    if not _MAC.match(value) or int(value[:2], 16) & 1:
        raise _invalid(
            attribute,
            value,
            "must be a unicast MAC address in lower case, "
            "such as 52:54:00:12:34:56",
        )


def check_graphics_password(password):
    """
    Check a VNC or SPICE password.

    :raises InvalidDomainSpec: it is not 1 to 8 printable ASCII characters;
        VNC authentication uses the password as an 8-byte DES key.
    """
    if not isinstance(password, str):
        raise InvalidDomainSpec(
            f"invalid graphics password of type {type(password).__name__}: "
            "must be a string"
        )
    if not 1 <= len(password) <= MAX_VNC_PASSWORD:
        raise InvalidDomainSpec(
            f"invalid graphics password of {len(password)} characters: "
            f"must be 1 to {MAX_VNC_PASSWORD} characters, the VNC limit"
        )
    if not password.isascii() or not password.isprintable():
        raise InvalidDomainSpec(
            "invalid graphics password: must be printable ASCII"
        )


def _check_password(instance, attribute, value):
    check_graphics_password(value)


def _check_address(instance, attribute, value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _invalid(
            attribute, value, "must be an IP address such as 127.0.0.1"
        ) from None


def _check_choice(choices):
    def check(instance, attribute, value):
        if value not in choices:
            raise _invalid(
                attribute, value, f"must be one of {', '.join(choices)}"
            )

    return check


def _check_rate(instance, attribute, value):
    if not isinstance(value, int) or value < 0:
        raise _invalid(
            attribute, value, "must be a whole number, 0 for no limit"
        )


@attrs.frozen(kw_only=True)
class Qos:
    """
    Limits on a guest's share of the host. 0 means no limit.

    :ivar cpu_priority: ``high``, ``medium`` or ``low``: the guest's CPU
        weight against other guests (2000, 1000 or 500 shares).
    :ivar read_bytes: disk reads in bytes per second.
    :ivar write_bytes: disk writes in bytes per second.
    :ivar read_iops: disk read operations per second.
    :ivar write_iops: disk write operations per second.
    :ivar receive_bytes: network traffic to the guest in bytes per second.
    :ivar send_bytes: network traffic from the guest in bytes per second.
    """

    cpu_priority: str = attrs.field(
        default="medium", validator=_check_choice(tuple(CPU_SHARES))
    )
    read_bytes: int = attrs.field(default=0, validator=_check_rate)
    write_bytes: int = attrs.field(default=0, validator=_check_rate)
    read_iops: int = attrs.field(default=0, validator=_check_rate)
    write_iops: int = attrs.field(default=0, validator=_check_rate)
    receive_bytes: int = attrs.field(default=0, validator=_check_rate)
    send_bytes: int = attrs.field(default=0, validator=_check_rate)


@attrs.frozen(kw_only=True)
class DomainSpec:
    """
    Everything libvirt needs to define one instance's domain.

    :ivar name: the domain name, unique on the host.
    :ivar uuid: the domain UUID; Nano uses the instance id.
    :ivar domain_type: ``kvm`` for hardware virtualisation, or ``qemu``
        for emulation (TCG) on hosts where KVM cannot boot guests.
    :ivar cores: vCPUs.
    :ivar memory: bytes, at least 64 MiB and a whole number of KiB.
    :ivar devices: the template's :class:`DeviceSet`.
    :ivar system_disk: absolute path of the qcow2 system volume.
    :ivar bridge: host bridge for the NIC, or ``None`` for no network.
    :ivar mac: the NIC's MAC address; required with a bridge.
    :ivar console_log: absolute path where the serial console is logged,
        or ``None``.
    :ivar console: ``pty``, an interactive console logged to
        ``console_log``, or ``file``, output only, written to
        ``console_log``.
    :ivar graphics_password: VNC or SPICE password, at most 8 characters;
        random by default.
    :ivar graphics_listen: IP address the VNC or SPICE server listens on.
    :ivar title: a display name for operators, free text.
    :ivar qos: the guest's :class:`Qos`.
    :ivar machine: the QEMU machine type.
    :ivar relabel: whether libvirt changes file owners so QEMU can open
        them; turn it off only when the files are readable by QEMU's user.
    :ivar cdrom: absolute path of the ISO in the CD-ROM drive, or
        ``None`` for an empty drive. Every domain has the drive, so that
        media can be inserted later.
    :ivar cdrom_index: the drive's position on its bus, after the disks
        that share the bus: its target is ``hdc`` for position 2.
    :ivar boot_cdrom: boot from the CD-ROM first, then the system disk.
    """

    name: str = attrs.field(validator=_check_name)
    uuid: str = attrs.field(converter=_lower, validator=_check_uuid)
    domain_type: str = attrs.field(
        default="kvm", validator=_check_choice(("kvm", "qemu"))
    )
    cores: int = attrs.field(validator=_check_cores)
    memory: int = attrs.field(validator=_check_memory)
    devices: DeviceSet = attrs.field(factory=DeviceSet)
    system_disk: str = attrs.field(validator=_check_absolute_path)
    bridge: str | None = attrs.field(default=None, validator=_check_bridge)
    mac: str | None = attrs.field(default=None, validator=_check_mac)
    console_log: str | None = attrs.field(
        default=None, validator=_check_absolute_path
    )
    console: str = attrs.field(
        default="pty", validator=_check_choice(("pty", "file"))
    )
    graphics_password: str = attrs.field(
        factory=generate_password, repr=False, validator=_check_password
    )
    graphics_listen: str = attrs.field(
        default="127.0.0.1", validator=_check_address
    )
    title: str | None = None
    qos: Qos = attrs.field(factory=Qos)
    machine: str = "pc"
    relabel: bool = True
    cdrom: str | None = attrs.field(
        default=None, validator=_check_absolute_path
    )
    cdrom_index: int = 1
    boot_cdrom: bool = False

    def __attrs_post_init__(self):
        if self.console == "file" and self.console_log is None:
            raise InvalidDomainSpec(
                "invalid console 'file': it needs a console log path"
            )


def domain_xml(spec):
    """
    Build the domain XML for a :class:`DomainSpec`.

    :return: the XML as a string, ready for ``Host.define``.
    """
    root = ET.Element("domain", type=spec.domain_type)
    _text(root, "name", spec.name)
    _text(root, "uuid", spec.uuid)
    if spec.title is not None:
        _text(root, "title", spec.title)
    kib = str(spec.memory // 1024)
    _text(root, "memory", kib, unit="KiB")
    _text(root, "currentMemory", kib, unit="KiB")
    _text(root, "vcpu", str(spec.cores), placement="static")
    cputune = ET.SubElement(root, "cputune")
    _text(cputune, "shares", str(CPU_SHARES[spec.qos.cpu_priority]))
    _add_os(root, spec)
    _add_devices(ET.SubElement(root, "devices"), spec)
    if not spec.relabel:
        ET.SubElement(root, "seclabel", type="none", model="dac")
    if spec.boot_cdrom:
        devices = root.find("devices")
        cdrom = devices.find("disk[@device='cdrom']")
        set_boot_order(root, cdrom, True)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _text(parent, tag, text, **attributes):
    element = ET.SubElement(parent, tag, **attributes)
    element.text = text
    return element


def _add_os(root, spec):
    os_element = ET.SubElement(root, "os")
    _text(os_element, "type", "hvm", arch="x86_64", machine=spec.machine)
    if not spec.boot_cdrom:
        ET.SubElement(os_element, "boot", dev="hd")
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(root, "clock", offset="utc")
    _text(root, "on_poweroff", "destroy")
    _text(root, "on_reboot", "restart")
    _text(root, "on_crash", "destroy")


def _add_devices(devices, spec):
    _add_disk(devices, spec)
    devices.append(cdrom_element(spec.devices.disk_bus, spec))
    _add_controllers(devices, spec.devices)
    if spec.bridge is not None:
        _add_interface(devices, spec)
    _add_console(devices, spec)
    if spec.devices.display != "none":
        _add_graphics(devices, spec)
    if spec.devices.tablet != "none":
        ET.SubElement(devices, "input", type="tablet", bus=spec.devices.tablet)
    ET.SubElement(devices, "memballoon", model="virtio")


def _add_disk(devices, spec):
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2")
    ET.SubElement(disk, "source", file=spec.system_disk)
    bus = spec.devices.disk_bus
    ET.SubElement(disk, "target", dev=_DISK_TARGETS[bus], bus=bus)
    limits = {
        "read_bytes_sec": spec.qos.read_bytes,
        "write_bytes_sec": spec.qos.write_bytes,
        "read_iops_sec": spec.qos.read_iops,
        "write_iops_sec": spec.qos.write_iops,
    }
    if any(limits.values()):
        iotune = ET.SubElement(disk, "iotune")
        for tag, value in limits.items():
            if value:
                _text(iotune, tag, str(value))


def cdrom_target(disk_bus, index):
    """
    Return the CD-ROM drive's ``(target device, bus)`` for a template's
    disk bus, at position ``index`` on the drive's bus.
    """
    bus = CDROM_BUSES[disk_bus]
    if bus != disk_bus:
        index = 2  # hdc: the secondary IDE master, where a lone drive goes
    return _TARGET_PREFIXES[bus] + chr(ord("a") + index), bus


def cdrom_element(disk_bus, spec):
    """Build the read-only CD-ROM ``<disk>`` of ``spec``."""
    disk = ET.Element("disk", type="file", device="cdrom")
    ET.SubElement(disk, "driver", name="qemu", type="raw")
    if spec.cdrom is not None:
        ET.SubElement(disk, "source", file=spec.cdrom)
    target, bus = cdrom_target(disk_bus, spec.cdrom_index)
    ET.SubElement(disk, "target", dev=target, bus=bus)
    ET.SubElement(disk, "readonly")
    return disk


def _add_controllers(devices, device_set):
    if device_set.disk_bus == "scsi":  # the disks and the CD-ROM drive
        ET.SubElement(
            devices, "controller", type="scsi", index="0", model="virtio-scsi"
        )
    # With no controller element, libvirt adds the machine type's default.
    if device_set.usb != "none":
        ET.SubElement(
            devices, "controller", type="usb", index="0", model=device_set.usb
        )


def _add_interface(devices, spec):
    interface = ET.SubElement(devices, "interface", type="bridge")
    ET.SubElement(interface, "mac", address=spec.mac)
    ET.SubElement(interface, "source", bridge=spec.bridge)
    ET.SubElement(interface, "model", type=spec.devices.nic_model)
    qos = spec.qos
    if qos.receive_bytes or qos.send_bytes:
        bandwidth = ET.SubElement(interface, "bandwidth")
        _add_rate(bandwidth, "inbound", qos.receive_bytes)
        _add_rate(bandwidth, "outbound", qos.send_bytes)


def _add_rate(bandwidth, direction, rate):
    """
    Add a libvirt bandwidth limit: average and peak in KiB/s, burst in
    KiB, with the peak twice the average and the burst one second of it.
    """
    if not rate:
        return
    average = -(-rate // 1024)  # round up so a limit never becomes 0
    ET.SubElement(
        bandwidth,
        direction,
        average=str(average),
        peak=str(2 * average),
        burst=str(average),
    )


def _add_console(devices, spec):
    serial = ET.SubElement(devices, "serial", type=spec.console)
    console = ET.SubElement(devices, "console", type=spec.console)
    if spec.console == "file":
        ET.SubElement(serial, "source", path=spec.console_log)
        ET.SubElement(console, "source", path=spec.console_log)
    elif spec.console_log is not None:
        ET.SubElement(serial, "log", file=spec.console_log, append="on")
    ET.SubElement(serial, "target", port="0")
    ET.SubElement(console, "target", type="serial", port="0")


def _add_graphics(devices, spec):
    graphics = ET.SubElement(
        devices,
        "graphics",
        type=spec.devices.control,
        autoport="yes",
        passwd=spec.graphics_password,
    )
    ET.SubElement(
        graphics, "listen", type="address", address=spec.graphics_listen
    )
    video = ET.SubElement(devices, "video")
    ET.SubElement(video, "model", type=spec.devices.display)
