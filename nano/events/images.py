"""
Core's image events: disk images (qcow2, to clone instances from) and
media images (ISO, to install or rescue), and their files.

They are part of Core's journal (:data:`~nano.events.core.CORE_EVENTS`).
Every event's aggregate id is the image id. An image is created as a
record with no file; ``...Uploaded`` records its file once the file is
validated and synced under its final name. A ``...Modified`` event
carries every setting after the change.
"""

import attrs

from ._event import Event, require_size, require_str
from .core import CORE_EVENTS


def require_tags(instance, attribute, value) -> None:
    """Raise :class:`TypeError` unless ``value`` is a tuple of strings."""
    if not isinstance(value, tuple) or not all(
        isinstance(tag, str) for tag in value
    ):
        raise TypeError(
            f"invalid {attribute.name} {value!r}: must be a list of strings"
        )


@attrs.frozen(kw_only=True)
class _ImageSettings(Event):
    """
    The record of an image, shared by its created and modified events.

    :ivar owner: the user who owns it.
    :ivar group: the owner's group, which may see it too.
    :ivar tags: free-form labels, such as ``linux`` or ``64bit``.
    """

    name: str = attrs.field(validator=require_str)
    owner: str = attrs.field(validator=require_str)
    group: str = attrs.field(validator=require_str)
    description: str = attrs.field(default="", validator=require_str)
    tags: tuple[str, ...] = attrs.field(
        default=(), converter=tuple, validator=require_tags
    )


@attrs.frozen(kw_only=True)
class _ImageFile(Event):
    """
    An image's file, validated and synced under its final name.

    :ivar sha256: the file's SHA-256, 64 lowercase hex digits (the
        image store checks them before recording the event).
    :ivar size: the file's size in bytes.
    :ivar format: ``qcow2`` or ``iso``.
    :ivar virtual_size: bytes the guest sees: the disk size in the
        qcow2 header, or the file size of an ISO.
    """

    sha256: str = attrs.field(validator=require_str)
    size: int = attrs.field(validator=require_size)
    format: str = attrs.field(validator=require_str)
    virtual_size: int = attrs.field(validator=require_size)


@CORE_EVENTS.event("DiskImageCreated")
class DiskImageCreated(_ImageSettings):
    """A disk image record was created, with no file yet."""


@CORE_EVENTS.event("DiskImageModified")
class DiskImageModified(_ImageSettings):
    """A disk image's record changed, and the fields are its new ones."""


@CORE_EVENTS.event("DiskImageUploaded")
class DiskImageUploaded(_ImageFile):
    """A disk image's qcow2 file was received and validated."""


@CORE_EVENTS.event("DiskImageDeleted")
class DiskImageDeleted(Event):
    """A disk image was deleted, before its file is removed."""


@CORE_EVENTS.event("MediaImageCreated")
class MediaImageCreated(_ImageSettings):
    """A media image record was created, with no file yet."""


@CORE_EVENTS.event("MediaImageModified")
class MediaImageModified(_ImageSettings):
    """A media image's record changed, and the fields are its new ones."""


@CORE_EVENTS.event("MediaImageUploaded")
class MediaImageUploaded(_ImageFile):
    """A media image's ISO file was received and validated."""


@CORE_EVENTS.event("MediaImageDeleted")
class MediaImageDeleted(Event):
    """A media image was deleted, before its file is removed."""


#: The event classes of each kind of image, by what happened.
IMAGE_EVENTS = {
    "disk": {
        "created": DiskImageCreated,
        "modified": DiskImageModified,
        "uploaded": DiskImageUploaded,
        "deleted": DiskImageDeleted,
    },
    "media": {
        "created": MediaImageCreated,
        "modified": MediaImageModified,
        "uploaded": MediaImageUploaded,
        "deleted": MediaImageDeleted,
    },
}
