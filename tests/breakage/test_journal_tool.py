"""
Defects found by trying nano-journal on damaged and unusual journals.

Each test shows one defect and is marked ``xfail(strict=True)``, so the
suite stays green until the defect is fixed, and then the mark must go.
The journals are written line by line with the real line encoder.
"""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nano.events._lines import encode_line, segment_name
from tools.journal import main

POOL = {
    "type": "ComputePoolCreated",
    "version": 1,
    "time": "2026-12-04T16:00:00.000000Z",
    "aggregate_id": "pool-1",
    "task_id": None,
    "data": {
        "storage": None,
        "network": None,
        "failover": False,
        "enabled": True,
    },
}


def write_segment(directory: Path, first_seq: int, records) -> Path:
    """Write ``records`` as one segment starting at ``first_seq``."""
    directory.mkdir(exist_ok=True)
    path = directory / segment_name(first_seq)
    lines = [
        encode_line(seq, record)
        for seq, record in enumerate(records, first_seq)
    ]
    path.write_bytes(b"".join(lines))
    return path


def run(capsys, *argv):
    """Run nano-journal; return the exit status, stdout and stderr."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "record",
    [
        dict(POOL, type="InstanceCreated"),
        dict(POOL, version=7),
        dict(POOL, aggregate_id=5),
    ],
    ids=["unknown-type", "newer-version", "invalid-record"],
)
def test_compact_undecodable_event_one_line(capsys, tmp_path, record):
    """compact on an event it cannot decode fails with one line, status 1."""
    write_segment(tmp_path, 1, [POOL, record])

    status, out, err = run(capsys, "compact", tmp_path)

    assert status == 1
    assert out == ""
    assert err.startswith("nano-journal: error: ")
    assert err.count("\n") == 1
    assert f"{tmp_path / segment_name(1)}:2" in err
    assert not list(tmp_path.glob("snapshot-*"))


def test_compact_failure_removes_temporary(capsys, tmp_path):
    """A failed compact leaves no .snapshot-*.tmp file behind."""
    write_segment(tmp_path, 1, [POOL])
    (tmp_path / "snapshot-core-00000000000000000001.json").mkdir()

    status, _, _ = run(capsys, "compact", tmp_path)

    assert status == 1
    assert list(tmp_path.glob(".snapshot-*.tmp")) == []


def test_compact_failure_names_snapshot_path(capsys, tmp_path):
    """When a directory blocks the snapshot name, the error names that path."""
    write_segment(tmp_path, 1, [POOL])
    blocking = tmp_path / "snapshot-core-00000000000000000001.json"
    blocking.mkdir()

    status, _, err = run(capsys, "compact", tmp_path)
    error = err.splitlines()[-1]

    assert status == 1
    assert error.startswith(f"nano-journal: error: {blocking}:")
    assert ".tmp" not in error


def test_verify_names_invalid_time_value(capsys, tmp_path):
    """verify names the field and the value of an invalid event time."""
    write_segment(tmp_path, 1, [POOL, dict(POOL, time=12345)])

    status, out, _ = run(capsys, "verify", tmp_path)

    assert status == 1
    assert out.startswith(f"{tmp_path / segment_name(1)}:2: ")
    assert "time" in out
    assert "12345" in out
    assert "fromisoformat" not in out


def test_verify_swapped_lines_blame_one_segment(capsys, tmp_path):
    """Two swapped lines are reported in their segment, not the next one."""
    write_segment(tmp_path, 1, [POOL, POOL])
    swapped = write_segment(tmp_path, 3, [POOL, POOL])
    lines = swapped.read_bytes().splitlines(keepends=True)
    swapped.write_bytes(lines[1] + lines[0])
    following = write_segment(tmp_path, 5, [POOL, POOL])

    status, out, _ = run(capsys, "verify", tmp_path)

    assert status == 1
    assert f"{swapped}:1:" in out
    assert str(following) not in out


def test_dump_table_one_line_per_event(capsys, tmp_path):
    """Each event is one table row, whatever characters its ids contain."""
    forged = "pool-1\n  2  2026-12-04T16:00:00.000000Z  ComputePoolDeleted"
    write_segment(tmp_path, 1, [dict(POOL, aggregate_id=forged)])

    status, out, _ = run(capsys, "dump", tmp_path, "--format", "table")

    assert status == 0
    assert len(out.splitlines()) == 2


def test_dump_since_lowercase_z(capsys, tmp_path):
    """A time ending in a lowercase z is UTC, as RFC 3339 allows."""
    write_segment(tmp_path, 1, [POOL])

    status, out, err = run(
        capsys, "dump", tmp_path, "--since", "2026-12-04T16:00:00z"
    )

    assert status == 0
    assert err == ""
    assert len(out.splitlines()) == 1


class InterruptedTerminal(io.StringIO):
    """A terminal on which the user presses Ctrl-C at the prompt."""

    def isatty(self):
        return True

    def readline(self, *args):
        raise KeyboardInterrupt()


def test_repair_interrupted_at_prompt(capsys, monkeypatch, tmp_path):
    """Ctrl-C at the prompt cancels the repair with a message."""
    segment = write_segment(tmp_path / "journal", 1, [POOL, POOL])
    damaged = segment.read_bytes().replace(b"pool-1", b"pool-2", 1)
    segment.write_bytes(damaged)
    monkeypatch.setattr(sys, "stdin", InterruptedTerminal())

    try:
        status, out, _ = run(capsys, "repair", tmp_path / "journal")
    except KeyboardInterrupt:
        # Caught here, because an escaping one would stop pytest itself.
        pytest.fail("KeyboardInterrupt escaped from nano-journal")

    assert status != 0
    assert "cancelled" in out
    assert segment.read_bytes() == damaged
    assert list(tmp_path.iterdir()) == [tmp_path / "journal"]


@pytest.mark.slow
def test_verify_fifo_segment_does_not_block(tmp_path):
    """verify reports a FIFO named like a segment instead of blocking."""
    write_segment(tmp_path, 1, [POOL])
    os.mkfifo(tmp_path / segment_name(2))
    command = "from tools.journal import main; raise SystemExit(main())"

    try:
        finished = subprocess.run(
            [sys.executable, "-c", command, "verify", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=3,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("nano-journal verify still ran after 3 s")

    assert finished.returncode == 1
    assert segment_name(2) in finished.stdout + finished.stderr
