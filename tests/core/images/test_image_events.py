"""Tests of Core's image events and their projection."""

from pathlib import Path

import pytest

from nano.events import read_lines, utc_time, verify
from nano.events.core import CORE_EVENTS
from nano.events.images import (
    DiskImageCreated,
    MediaImageModified,
)
from nano.projections import SnapshotFormatError, fold
from nano.projections.images import ImageFile, ImageProjection

SAMPLE = Path(__file__).parents[2] / "events" / "samples" / "core-images-v1"
DISK = "5a1e0c2d-0000-4000-8000-000000000001"
ISO = "5a1e0c2d-0000-4000-8000-000000000002"
SCRATCH = "5a1e0c2d-0000-4000-8000-000000000003"
T0 = 1_796_410_000


def sample_events():
    return [
        (line.seq, CORE_EVENTS.decode(line.record, f"{line.path}"))
        for line in read_lines(SAMPLE)
    ]


def fold_up_to(seq):
    pairs = [pair for pair in sample_events() if pair[0] <= seq]
    return fold(ImageProjection(), pairs).state


def test_sample_verifies():
    """verify() finds no problem in the image events sample."""
    assert verify(SAMPLE, CORE_EVENTS) == []


def test_created_image_has_no_file():
    """A created disk image is a record with no file."""
    disk = fold_up_to(1)[DISK]
    assert (disk.kind, disk.name, disk.owner) == ("disk", "debian-12", "admin")
    assert disk.tags == ("linux", "64bit")
    assert disk.file is None


def test_uploaded_image_has_its_file():
    """DiskImageUploaded gives the image its checksum and sizes."""
    disk = fold_up_to(2)[DISK]
    assert disk.file == ImageFile("a" * 64, 12_845_056, "qcow2", 2 * 1024**3)
    assert disk.modify_time == "2026-12-04T18:47:10.250000Z"
    assert disk.create_time == "2026-12-04T18:46:40.000000Z"


def test_modified_image_keeps_its_file():
    """A modified record keeps the file it had."""
    disk = fold_up_to(3)[DISK]
    assert (disk.name, disk.group, disk.tags) == (
        "debian-12-base",
        "ops",
        ("linux",),
    )
    assert disk.file is not None


def test_media_image_fold():
    """Media images fold like disk images, with the ISO's sizes."""
    iso = fold_up_to(6)[ISO]
    assert (iso.kind, iso.name, iso.description) == (
        "media",
        "rescue",
        "rescue CD",
    )
    assert iso.file.format == "iso"
    assert iso.file.virtual_size == iso.file.size


def test_deleted_images_are_forgotten():
    """The deleted events remove their image."""
    state = fold_up_to(9)
    assert SCRATCH not in state
    assert ISO not in state
    assert DISK in state


def test_event_of_the_other_kind_changes_nothing():
    """A media event for a disk image leaves the disk image as it was."""
    state = fold_up_to(3)
    event = MediaImageModified(
        aggregate_id=DISK,
        time=utc_time(T0 + 999),
        name="other",
        owner="x",
        group="y",
    )
    assert ImageProjection().apply(state, event) == state


def test_snapshot_round_trip():
    """from_json reads what to_json writes, with and without files."""
    projection = ImageProjection()
    state = fold_up_to(7)
    assert projection.from_json(projection.to_json(state)) == state


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"version": 2, "images": {}},
        {"version": 1},
        {"version": 1, "images": {"x": {"kind": "tape"}}},
    ],
)
def test_snapshot_of_another_shape(data):
    """A snapshot of another shape or version is rejected."""
    with pytest.raises(SnapshotFormatError):
        ImageProjection().from_json(data)


def test_created_rejects_tags_that_are_not_strings():
    """Tags must be strings."""
    with pytest.raises(TypeError, match="tags"):
        DiskImageCreated(
            aggregate_id=DISK,
            time=utc_time(T0),
            name="a",
            owner="b",
            group="c",
            tags=[1],
        )
