"""
Core's disk and media images, folded from the image events of Core's
journal.

An image is a record (name, owner, group, description, tags) that gets
a file once an upload is validated, and ``file`` is ``None`` until then.
Upload progress is soft state of the image store, not part of this.
"""

from collections.abc import Mapping

import attrs
from pyrsistent import PMap, pmap

from nano.events import format_time, parse_time
from nano.events.core import CORE_EVENTS
from nano.events.images import IMAGE_EVENTS

from ._projection import Projection, SnapshotFormatError

DISK = "disk"
MEDIA = "media"
KINDS = (DISK, MEDIA)


@attrs.frozen
class ImageFile:
    """
    A validated image file.

    :ivar size: the file's size in bytes.
    :ivar virtual_size: bytes the guest sees (qcow2 disk size, or the
        ISO's size).
    """

    sha256: str
    size: int
    format: str
    virtual_size: int


@attrs.frozen
class Image:
    """
    A disk or media image record, and its file once uploaded.

    :ivar kind: ``disk`` or ``media``.
    :ivar create_time: when the record was created, RFC 3339 UTC.
    :ivar modify_time: when the record or its file last changed.
    """

    id: str
    kind: str
    name: str
    owner: str
    group: str
    description: str
    tags: tuple
    create_time: str
    modify_time: str
    file: ImageFile | None = None


def _created(images: PMap, event, kind: str) -> PMap:
    time = format_time(event.time)
    image = Image(
        event.aggregate_id,
        kind,
        event.name,
        event.owner,
        event.group,
        event.description,
        event.tags,
        time,
        time,
    )
    return images.set(event.aggregate_id, image)


def _modified(images: PMap, event, kind: str) -> PMap:
    image = images.get(event.aggregate_id)
    if image is None or image.kind != kind:
        return images
    changed = attrs.evolve(
        image,
        name=event.name,
        owner=event.owner,
        group=event.group,
        description=event.description,
        tags=event.tags,
        modify_time=format_time(event.time),
    )
    return images.set(event.aggregate_id, changed)


def _uploaded(images: PMap, event, kind: str) -> PMap:
    image = images.get(event.aggregate_id)
    if image is None or image.kind != kind:
        return images
    file = ImageFile(
        event.sha256, event.size, event.format, event.virtual_size
    )
    changed = attrs.evolve(
        image, file=file, modify_time=format_time(event.time)
    )
    return images.set(event.aggregate_id, changed)


def _deleted(images: PMap, event, kind: str) -> PMap:
    image = images.get(event.aggregate_id)
    if image is None or image.kind != kind:
        return images
    return images.discard(event.aggregate_id)


_FOLDS = {
    "created": _created,
    "modified": _modified,
    "uploaded": _uploaded,
    "deleted": _deleted,
}


def _handler(fold, kind):
    return lambda images, event: fold(images, event, kind)


class ImageProjection(Projection):
    """
    Core's images by id, a :class:`~pyrsistent.PMap` of :class:`Image`.

    The fold trusts Core's commands to have checked each change: an
    event of one kind for an image of the other kind, or for a missing
    image, changes nothing.
    """

    name = "images"
    registry = CORE_EVENTS
    handlers = {
        cls: _handler(_FOLDS[what], kind)
        for kind, classes in IMAGE_EVENTS.items()
        for what, cls in classes.items()
    }
    snapshot_version = 1

    def initial(self) -> PMap:
        """Return no images."""
        return pmap()

    def to_json(self, state: PMap) -> dict:
        """Return the images as a JSON object, for a snapshot."""
        return {
            "version": self.snapshot_version,
            "images": {
                id_: _image_json(image) for id_, image in state.items()
            },
        }

    def from_json(self, data) -> PMap:
        """
        Return the images that :meth:`to_json` wrote.

        :raises SnapshotFormatError: ``data`` has another shape.
        """
        if not isinstance(data, Mapping) or data.get("version") != 1:
            raise SnapshotFormatError("images snapshot is not version 1")
        try:
            return pmap(
                {
                    id_: _image_from_json(id_, fields)
                    for id_, fields in data["images"].items()
                }
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise SnapshotFormatError(
                f"invalid images snapshot: {error!r}"
            ) from None


def _image_json(image: Image) -> dict:
    fields = attrs.asdict(image, recurse=True)
    fields["tags"] = list(image.tags)
    del fields["id"]
    return fields


def _image_from_json(id_: str, fields: Mapping) -> Image:
    fields = dict(fields)
    if fields["kind"] not in KINDS:
        raise ValueError(f"image {id_!r} has kind {fields['kind']!r}")
    for key in ("create_time", "modify_time"):
        parse_time(fields[key])
    file = fields.pop("file")
    if file is not None:
        file = ImageFile(**file)
    fields["tags"] = tuple(fields["tags"])
    return Image(id_, file=file, **fields)
