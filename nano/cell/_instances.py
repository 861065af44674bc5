"""
The mapping of a Nano instance to libvirt and to volumes: names, the
domain definition, and the description sent to Core.
"""

import uuid as uuid_module
import xml.etree.ElementTree as ET

from nano.cell.libvirt import DeviceSet, DomainSpec, domain_xml
from nano.messages import TEMPLATE_KEYS

#: Every domain of a Nano instance is named this prefix and the
#: instance id, so that the Cell recognises its domains in libvirt.
DOMAIN_PREFIX = "nano-"
_DEVICE_FIELDS = dict(
    zip(
        TEMPLATE_KEYS,
        ("disk_bus", "nic_model", "display", "control", "usb", "tablet"),
        strict=True,
    )
)
_TARGET_PREFIXES = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "hd"}
#: IDE has two buses of two devices each, and the CD-ROM drive takes
#: one of the four, so three disks at most.
_MAX_IDE_DISKS = 3


class InvalidInstance(ValueError):
    """A request describes an instance the Cell cannot create."""


def domain_name(instance_id):
    """Return the libvirt domain name of an instance."""
    return DOMAIN_PREFIX + instance_id


def volume_name(instance_id, index):
    """Return the name of an instance's volume; 0 is the system volume."""
    return f"{instance_id}-{index}"


def check_instance_id(instance_id):
    """
    :raises InvalidInstance: the id is not a UUID in lower case, which
        the Cell uses as the domain UUID.
    """
    try:
        valid = str(uuid_module.UUID(instance_id)) == instance_id
    except (ValueError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise InvalidInstance(
            f"invalid instance_id {instance_id!r}: must be a UUID in lower "
            f"case, such as {uuid_module.UUID(int=1)}"
        )


def device_set(template):
    """
    Build the :class:`DeviceSet` for a template object of a request.

    :raises InvalidInstance: an unknown key or an invalid value.
    """
    unknown = sorted(set(template) - set(TEMPLATE_KEYS))
    if unknown:
        raise InvalidInstance(
            f"invalid template key(s) {', '.join(unknown)}: must be among "
            f"{', '.join(TEMPLATE_KEYS)}"
        )
    fields = {_DEVICE_FIELDS[key]: value for key, value in template.items()}
    try:
        return DeviceSet(**fields)
    except ValueError as error:
        raise InvalidInstance(f"invalid template: {error}") from None


def instance_devices(instance):
    """Return the :class:`DeviceSet` of a journalled instance."""
    return DeviceSet(
        **{
            field: getattr(instance, field)
            for field in _DEVICE_FIELDS.values()
        }
    )


def template_of(instance):
    """Return the template object, in Core's keys, of an instance."""
    return {
        key: getattr(instance, field) for key, field in _DEVICE_FIELDS.items()
    }


def domain_spec(instance, settings, volume_paths, console_log):
    """
    Build the :class:`DomainSpec` of an instance.

    :param volume_paths: the volume files, the system volume first.
    :raises InvalidDomainSpec: a value libvirt would reject.
    """
    bridge = settings.bridge if instance.mac is not None else None
    return DomainSpec(
        name=domain_name(instance.id),
        uuid=instance.id,
        domain_type=settings.domain_type,
        cores=instance.cores,
        memory=instance.memory,
        devices=instance_devices(instance),
        system_disk=volume_paths[0],
        bridge=bridge,
        mac=instance.mac if bridge is not None else None,
        console_log=console_log,
        graphics_listen=settings.vnc_listen,
        title=instance.name,
        cdrom=instance.media,
        cdrom_index=len(volume_paths),
    )


def check_disk_count(devices, count):
    """
    :raises InvalidInstance: more disks than the bus has targets for.
    """
    if devices.disk_bus == "ide" and count > _MAX_IDE_DISKS:
        raise InvalidInstance(
            f"invalid disks: {count} disks on the ide bus, which takes at "
            f"most {_MAX_IDE_DISKS} besides the CD-ROM drive; use fewer "
            "disks or another template"
        )
    if count > 26:
        raise InvalidInstance(
            f"invalid disks: {count} disks, at most 26 are supported"
        )


def instance_xml(spec, volume_paths):
    """
    Return the domain XML with the data volumes (every volume after the
    first) attached as further disks on the template's bus.
    """
    root = ET.fromstring(domain_xml(spec))
    devices = root.find("devices")
    system = devices.find("disk")
    bus = spec.devices.disk_bus
    prefix = _TARGET_PREFIXES[bus]
    position = list(devices).index(system)
    for index, path in enumerate(volume_paths[1:], start=1):
        disk = ET.Element("disk", type="file", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="qcow2")
        ET.SubElement(disk, "source", file=path)
        target = prefix + chr(ord("a") + index)
        ET.SubElement(disk, "target", dev=target, bus=bus)
        devices.insert(position + index, disk)
    return ET.tostring(root, encoding="unicode")


def describe(instance):
    """Return the JSON description of an instance sent to Core."""
    return {
        "id": instance.id,
        "name": instance.name,
        "state": instance.state,
        "cores": instance.cores,
        "memory": instance.memory,
        "disks": list(instance.disks),
        "template": template_of(instance),
        "mac": instance.mac,
        "image": instance.image,
        "stop_reason": instance.stop_reason,
        "media": instance.media_image,
    }


def display_of(xml):
    """
    Read a running domain's remote display from its secure XML.

    :return: ``{"protocol", "address", "port", "password"}``, with
        ``port`` ``None`` until QEMU has picked one, or ``None`` for a
        domain without a display.
    """
    graphics = ET.fromstring(xml).find("devices/graphics")
    if graphics is None:
        return None
    port = graphics.get("port")
    listen = graphics.find("listen")
    return {
        "protocol": graphics.get("type"),
        "address": None if listen is None else listen.get("address"),
        "port": int(port) if port and int(port) > 0 else None,
        "password": graphics.get("passwd"),
    }
