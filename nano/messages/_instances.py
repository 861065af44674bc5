"""
Requests from Core to a Cell about one instance, and their replies.

An instance is described in replies by a JSON object (see
``docs/messages.md``)::

    {"id": "...", "name": "...", "state": "running", "cores": 2,
     "memory": 2147483648, "disks": [10737418240], "template": {...},
     "mac": "52:54:00:12:34:56", "image": null}
"""

from nano.fabric import Message

from ._fields import (
    count,
    field,
    flag,
    mapping,
    optional_mapping,
    optional_text,
    positive,
    sizes,
    text,
)
from ._references import (
    media_image,
    optional_cloud_init,
    optional_disk_image,
    optional_media_image,
    optional_network,
)
from ._registry import NANO_MESSAGES

#: The keys of a template's device set, as Core's system templates name
#: them: disk bus, NIC model, video card, remote display, USB controller
#: and tablet.
TEMPLATE_KEYS = ("disk", "network", "display", "control", "usb", "tablet")


@NANO_MESSAGES.message("CreateInstanceRequest")
class CreateInstanceRequest(Message):
    """
    Create an instance: its volumes and its libvirt domain.

    :ivar instance_id: the instance's UUID, chosen by Core.
    :ivar name: the instance name shown to users.
    :ivar cores: vCPUs.
    :ivar memory: bytes.
    :ivar disks: volume sizes in bytes; the first is the system volume.
    :ivar template: the device set, keys as in :data:`TEMPLATE_KEYS`;
        missing keys take the VirtIO defaults.
    :ivar mac: the NIC's MAC address, or null for no NIC.
    :ivar image: absolute path of a qcow2 image on the Cell that the
        system volume starts as a copy-on-write overlay of, or null for
        an empty volume.
    :ivar start: start the domain once it is defined.
    :ivar from_image: a disk image reference (see ``docs/messages.md``):
        the Cell downloads the image from Core into its image cache, and
        the system volume starts as an overlay of it. It takes the place
        of ``image``.
    :ivar network: the instance's address settings, ``{"address",
        "prefix", "gateway", "dns", "provider"}``, or null. With provider
        ``dhcp`` the Cell's DHCP server gives the address to ``mac``;
        with ``cloudinit`` the address goes into the seed ISO.
    :ivar cloud_init: ``{"hostname", "admin_name", "admin_secret",
        "root_enabled", "data_path"}`` for a NoCloud seed ISO, or null
        for no seed. ``admin_secret`` is secret: never log it.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    name: str = field(text)
    cores: int = field(positive)
    memory: int = field(positive)
    disks: list = field(sizes)
    template: dict = field(mapping, factory=dict)
    mac: str | None = field(optional_text, default=None)
    image: str | None = field(optional_text, default=None)
    start: bool = field(flag, default=False)
    from_image: dict | None = field(optional_disk_image, default=None)
    network: dict | None = field(optional_network, default=None)
    cloud_init: dict | None = field(optional_cloud_init, default=None)


@NANO_MESSAGES.message("CreateInstanceResponse")
class CreateInstanceResponse(Message):
    """The instance exists on the Cell; ``instance`` describes it."""

    task_id: str = field(text)
    instance_id: str = field(text)
    instance: dict = field(mapping)


@NANO_MESSAGES.message("DeleteInstanceRequest")
class DeleteInstanceRequest(Message):
    """
    Delete an instance: stop its domain if it runs, undefine it and
    delete its volumes.
    """

    task_id: str = field(text)
    instance_id: str = field(text)


@NANO_MESSAGES.message("DeleteInstanceResponse")
class DeleteInstanceResponse(Message):
    """The instance and its volumes are gone."""

    task_id: str = field(text)
    instance_id: str = field(text)


@NANO_MESSAGES.message("StartInstanceRequest")
class StartInstanceRequest(Message):
    """
    Start a stopped instance.

    :ivar from_media: a media image reference, or null. The Cell
        downloads the ISO into its image cache, puts it in the CD-ROM
        drive and boots from the CD-ROM first for this start.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    from_media: dict | None = field(optional_media_image, default=None)


@NANO_MESSAGES.message("StartInstanceResponse")
class StartInstanceResponse(Message):
    """The instance was started; ``state`` is its state now."""

    task_id: str = field(text)
    instance_id: str = field(text)
    state: str = field(text)


@NANO_MESSAGES.message("StopInstanceRequest")
class StopInstanceRequest(Message):
    """
    Stop or restart a running instance.

    :ivar reboot: restart it rather than leave it stopped.
    :ivar force: cut the power (or reset) at once. Without it, the
        request goes to the guest OS through ACPI, which may take its time
        or ignore it.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    reboot: bool = field(flag, default=False)
    force: bool = field(flag, default=False)


@NANO_MESSAGES.message("StopInstanceResponse")
class StopInstanceResponse(Message):
    """
    The stop was done (``force``) or requested from the guest; ``state``
    is the state now. A guest asked through ACPI is still ``running``,
    and an ``InstanceStopped`` event follows when it is off.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    state: str = field(text)


@NANO_MESSAGES.message("GetInstanceStatusRequest")
class GetInstanceStatusRequest(Message):
    """Read one instance's description and state."""

    instance_id: str = field(text)
    task_id: str | None = field(optional_text, default=None)


@NANO_MESSAGES.message("GetInstanceStatusResponse")
class GetInstanceStatusResponse(Message):
    """
    One instance, described as in ``CreateInstanceResponse``.

    :ivar cpu_time: CPU time the running domain has used, in nanoseconds,
        0 when it is stopped.
    :ivar display: the running domain's remote display, ``{"protocol":
        "vnc", "address": "127.0.0.1", "port": 5900, "password": "..."}``,
        or null. The password is secret: show it only to the instance's
        owner.
    """

    instance_id: str = field(text)
    instance: dict = field(mapping)
    cpu_time: int = field(count, default=0)
    display: dict | None = field(optional_mapping, default=None)
    task_id: str | None = field(optional_text, default=None)


@NANO_MESSAGES.message("InsertMediaRequest")
class InsertMediaRequest(Message):
    """
    Put a media image (ISO) into an instance's CD-ROM drive, running or
    stopped. Media already in the drive is replaced.

    :ivar media: a media image reference; the Cell downloads the ISO
        into its image cache first.
    """

    task_id: str = field(text)
    instance_id: str = field(text)
    media: dict = field(media_image)


@NANO_MESSAGES.message("InsertMediaResponse")
class InsertMediaResponse(Message):
    """The media is in the instance's CD-ROM drive."""

    task_id: str = field(text)
    instance_id: str = field(text)


@NANO_MESSAGES.message("EjectMediaRequest")
class EjectMediaRequest(Message):
    """
    Empty an instance's CD-ROM drive. Ejecting an empty drive succeeds
    with no change.
    """

    task_id: str = field(text)
    instance_id: str = field(text)


@NANO_MESSAGES.message("EjectMediaResponse")
class EjectMediaResponse(Message):
    """The instance's CD-ROM drive is empty."""

    task_id: str = field(text)
    instance_id: str = field(text)
