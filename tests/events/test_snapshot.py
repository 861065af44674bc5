"""Tests for atomic snapshots: writing, reading, pruning and damage."""

import pytest
from twisted.logger import capturedLogs

from nano.events import Snapshot, read_snapshot, write_snapshot

STATE = {"pools": {"p1": {"cells": ["c1", "c2"]}}, "count": 2, "ok": True}


def test_round_trip(tmp_path):
    """A written snapshot reads back with its name, seq and state."""
    path = write_snapshot(tmp_path, "core", 42, STATE)
    assert path == tmp_path / "snapshot-core-00000000000000000042.json"
    assert read_snapshot(tmp_path, "core") == Snapshot("core", 42, STATE, path)


def test_none_when_absent(tmp_path):
    """Without a snapshot of that name, the result is None."""
    write_snapshot(tmp_path, "cell", 3, [])
    assert read_snapshot(tmp_path, "core") is None


def test_newest_wins_two_kept(tmp_path):
    """The newest snapshot is read; only the two newest are kept."""
    for seq in (10, 20, 30):
        write_snapshot(tmp_path, "core", seq, {"at": seq})
    write_snapshot(tmp_path, "core-2", 5, {"other": True})

    assert read_snapshot(tmp_path, "core").state == {"at": 30}
    names = sorted(p.name for p in tmp_path.glob("snapshot-core-0*"))
    assert names == [
        "snapshot-core-00000000000000000020.json",
        "snapshot-core-00000000000000000030.json",
    ]
    assert read_snapshot(tmp_path, "core-2").seq == 5


def test_no_temporary_files_left(tmp_path):
    """The temporary file is renamed into place, not left behind."""
    write_snapshot(tmp_path, "core", 1, STATE)
    assert [p.name for p in tmp_path.iterdir()] == [
        "snapshot-core-00000000000000000001.json"
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data.replace(b"c1", b"c9"),
        lambda data: b"",
    ],
    ids=["truncated", "changed", "empty"],
)
def test_damaged_newest_skipped(tmp_path, damage):
    """A damaged newest snapshot is skipped with a warning."""
    write_snapshot(tmp_path, "core", 10, {"at": 10})
    newest = write_snapshot(tmp_path, "core", 20, STATE)
    newest.write_bytes(damage(newest.read_bytes()))

    with capturedLogs() as events:
        snapshot = read_snapshot(tmp_path, "core")

    assert snapshot.seq == 10
    assert snapshot.state == {"at": 10}
    warnings = [e for e in events if "damaged snapshot" in e["log_format"]]
    assert len(warnings) == 1
    assert warnings[0]["path"] == str(newest)


def test_renamed_snapshot_skipped(tmp_path):
    """A snapshot whose content disagrees with its file name is skipped."""
    path = write_snapshot(tmp_path, "core", 7, STATE)
    path.rename(tmp_path / "snapshot-core-00000000000000000008.json")
    with capturedLogs():
        assert read_snapshot(tmp_path, "core") is None


@pytest.mark.parametrize("name", ["", "a/b", "-x", ".hidden", "a b", 5])
def test_invalid_name_rejected(tmp_path, name):
    """Names that could escape the directory or clash are rejected."""
    with pytest.raises(ValueError, match="invalid snapshot name"):
        write_snapshot(tmp_path, name, 1, STATE)


def test_invalid_seq_rejected(tmp_path):
    """A negative position is rejected, naming the value."""
    with pytest.raises(ValueError, match="invalid snapshot seq -1"):
        write_snapshot(tmp_path, "core", -1, STATE)


def test_non_json_state_rejected(tmp_path):
    """A state that is not a JSON value is rejected before writing."""
    with pytest.raises(ValueError, match="snapshots hold JSON values"):
        write_snapshot(tmp_path, "core", 1, {"when": object()})
    assert list(tmp_path.iterdir()) == []
