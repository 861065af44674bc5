"""
Tests for the nano-journal command, run through main(argv) on copies of
the frozen sample journal, and once as the installed console script.
"""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock

from nano.events import (
    Event,
    EventRegistry,
    read_lines,
    read_snapshot,
    utc_time,
    write_snapshot,
)
from nano.events._journal import open_journal
from nano.events._lines import encode_line
from nano.events.core import CORE_EVENTS, ComputePoolCreated
from nano.projections import CoreProjection, fold
from tools.journal import main
from tools.journal._arguments import build_parser

SAMPLE = Path(__file__).parents[1] / "events" / "samples" / "core-v1"
SEGMENT = "journal-00000000000000000001.jsonl"
TEMPLATE_1 = "0b6c1f2e-0000-4000-8000-000000000001"
T0 = utc_time(1_796_400_000)


class InlineThread:
    """Run the journal's writes at once, in the calling thread."""

    def run(self, function, *args):
        return maybeDeferred(function, *args)

    def stop(self):
        pass


def open_inline(directory, segment_bytes=64 * 2**20, registry=CORE_EVENTS):
    """Open a real journal whose writes happen on ``clock.advance(0)``."""
    clock = Clock()
    journal = open_journal(
        directory, registry, clock, InlineThread(), segment_bytes
    )
    return journal, clock


class Terminal(io.StringIO):
    """Standard input that is a terminal, with prepared input lines."""

    def isatty(self):
        return True


@pytest.fixture
def journal(tmp_path) -> Path:
    """A writable copy of the core v1 sample journal."""
    directory = tmp_path / "journal"
    shutil.copytree(SAMPLE, directory)
    return directory


def run(capsys, *argv):
    """Run nano-journal; return the exit status, stdout and stderr."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def damage_line(directory: Path, number: int) -> None:
    """Change a byte inside one line, so that its checksum fails."""
    segment = directory / SEGMENT
    lines = segment.read_bytes().split(b"\n")
    lines[number - 1] = lines[number - 1].replace(b"root", b"r00t")
    segment.write_bytes(b"\n".join(lines))


def full_state(until=None):
    """The core state after the sample events up to ``until``, as JSON."""
    events = [
        (line.seq, CORE_EVENTS.decode(line.record))
        for line in read_lines(SAMPLE)
        if until is None or line.seq <= until
    ]
    projection = CoreProjection()
    return projection.to_json(fold(projection, events).state)


# verify


def test_verify_healthy(capsys, journal):
    """A healthy journal verifies with status 0."""
    status, out, err = run(capsys, "verify", journal)
    assert status == 0
    assert out == f"{journal}: no problems found\n"
    assert err == ""


def test_verify_lists_every_problem(capsys, journal):
    """Every damaged line is printed as file:line, and the status is 1."""
    damage_line(journal, 4)
    damage_line(journal, 6)
    status, out, err = run(capsys, "verify", journal)
    assert status == 1
    problems = out.splitlines()
    assert len(problems) == 2
    assert problems[0].startswith(f"{journal / SEGMENT}:4: checksum")
    assert problems[1].startswith(f"{journal / SEGMENT}:6: checksum")
    assert f"nano-journal repair {journal}" in err


@pytest.mark.parametrize("command", ["verify", "dump", "replay", "stats"])
def test_missing_directory(capsys, tmp_path, command):
    """A missing directory is one line naming it, with status 2."""
    missing = tmp_path / "nowhere"
    status, out, err = run(capsys, command, missing)
    assert status == 2
    assert out == ""
    assert err == (
        f"nano-journal: error: journal directory {missing} not found: give "
        "the directory that contains the journal-*.jsonl segments\n"
    )
    assert not missing.exists()


def test_file_not_directory(capsys, journal):
    """A segment file given as the directory is a usage error."""
    status, _, err = run(capsys, "stats", journal / SEGMENT)
    assert status == 2
    assert "is not a directory" in err


# dump


def dumped_seqs(out: str) -> list[int]:
    return [json.loads(line)["seq"] for line in out.splitlines()]


@pytest.mark.parametrize(
    ("options", "seqs"),
    [
        ([], [1, 2, 3, 4, 5, 6, 7, 8]),
        (["--type", "ComputePoolCreated"], [1, 2]),
        (
            [
                "--type",
                "ComputePoolDeleted",
                "--type",
                "SystemTemplateDeleted",
            ],
            [7, 8],
        ),
        (["--aggregate", "nfs-pool"], [2, 8]),
        (["--aggregate", TEMPLATE_1, "--type", "SystemTemplateModified"], [6]),
        (["--since", "2026-12-04T16:02:00Z"], [4, 5, 6, 7, 8]),
        (["--until", "2026-12-04T16:01:00Z"], [1, 2, 3]),
        (["--since", "2026-12-04T17:02:00+01:00"], [4, 5, 6, 7, 8]),
        (["--since", "2026-12-05"], []),
        (["--until", "2026-12-05"], [1, 2, 3, 4, 5, 6, 7, 8]),
        (["--from-seq", "3", "--to-seq", "5"], [3, 4, 5]),
        (["--from-seq", "9"], []),
        (["--to-seq", "0"], []),
    ],
)
def test_dump_filters(capsys, journal, options, seqs):
    """Each filter, and filters combined, select the expected events."""
    status, out, err = run(capsys, "dump", journal, *options)
    assert status == 0
    assert dumped_seqs(out) == seqs
    assert err == ""


def test_dump_jsonl_record(capsys, journal):
    """A JSON Lines row is the stored record with its seq."""
    _, out, _ = run(capsys, "dump", journal, "--to-seq", "1")
    assert json.loads(out) == {
        "seq": 1,
        "type": "ComputePoolCreated",
        "version": 1,
        "time": "2026-12-04T16:00:00.000001Z",
        "aggregate_id": "default",
        "task_id": "task-0001",
        "data": {
            "storage": None,
            "network": None,
            "failover": False,
            "enabled": True,
        },
    }


def test_dump_table(capsys, journal):
    """The table has a header and one aligned row per event."""
    status, out, _ = run(
        capsys, "dump", journal, "--format", "table", "--to-seq", "2"
    )
    assert status == 0
    header, first, second = out.splitlines()
    assert header.split() == [
        "SEQ",
        "TIME",
        "TYPE",
        "VERSION",
        "AGGREGATE",
        "TASK",
        "DATA",
    ]
    assert first.split()[:6] == [
        "1",
        "2026-12-04T16:00:00.000001Z",
        "ComputePoolCreated",
        "1",
        "default",
        "task-0001",
    ]
    assert header.index("DATA") == first.index("{") == second.index("{")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--since", "yesterday"], "invalid time 'yesterday'"),
        (["--until", "2026-12-04T16:00:00"], "add Z for UTC"),
        (["--since", "2026-13-01"], "invalid time '2026-13-01'"),
        (["--from-seq", "-1"], "invalid sequence number '-1'"),
        (["--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_dump_bad_option(capsys, journal, options, message):
    """A bad option value is one line naming it, with status 2."""
    status, out, err = run(capsys, "dump", journal, *options)
    assert status == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_dump_damaged_journal(capsys, journal):
    """Dumping stops at damage with the file, line and repair command."""
    damage_line(journal, 4)
    status, out, err = run(capsys, "dump", journal)
    assert status == 1
    assert dumped_seqs(out) == [1, 2, 3]
    assert f"{journal / SEGMENT}, line 4" in err
    assert f"nano-journal repair {journal}" in err


# replay


def test_replay_whole_journal(capsys, journal):
    """Without --until, replay prints the state after the last event."""
    status, out, _ = run(capsys, "replay", journal)
    assert status == 0
    output = json.loads(out)
    assert output["projection"] == "core"
    assert output["position"] == 8
    assert output["time"] == "2026-12-04T16:05:00.000000Z"
    assert output["state"] == full_state()
    assert set(output["state"]["pools"]) == {"default"}
    assert set(output["state"]["templates"]) == {TEMPLATE_1}


def test_replay_until_seq(capsys, journal):
    """--until SEQ prints the state right after that event."""
    status, out, _ = run(capsys, "replay", journal, "--until", "2")
    output = json.loads(out)
    assert status == 0
    assert output["position"] == 2
    assert set(output["state"]["pools"]) == {"default", "nfs-pool"}
    assert output["state"]["templates"] == {}


@pytest.mark.parametrize("until", range(9))
def test_replay_every_position(capsys, journal, until):
    """--until SEQ prints the fold of the events up to SEQ."""
    status, out, _ = run(capsys, "replay", journal, "--until", until)
    output = json.loads(out)
    assert status == 0
    assert output["position"] == until
    assert output["state"] == full_state(until)


def test_replay_until_time(capsys, journal):
    """--until TIME stops before the first event later than TIME."""
    status, out, _ = run(
        capsys, "replay", journal, "--until", "2026-12-04T16:02:00.5Z"
    )
    output = json.loads(out)
    assert status == 0
    assert output["position"] == 4
    assert output["time"] == "2026-12-04T16:02:00.000000Z"


def test_replay_until_zero(capsys, journal):
    """--until 0 prints the initial state."""
    _, out, _ = run(capsys, "replay", journal, "--until", "0")
    output = json.loads(out)
    assert output["position"] == 0
    assert output["time"] is None
    assert output["state"] == {
        "version": 3,
        "pools": {},
        "templates": {},
        "cells": {},
        "addresses": {"pools": {}, "allocations": []},
    }


def test_replay_past_end_notes(capsys, journal):
    """--until past the end prints the final state and a note."""
    status, out, err = run(capsys, "replay", journal, "--until", "99")
    assert status == 0
    assert json.loads(out)["position"] == 8
    assert "the journal ends at seq 8, before 99" in err


def test_replay_unknown_projection(capsys, journal):
    """An unknown projection name is a usage error listing the choices."""
    status, _, err = run(capsys, "replay", journal, "--projection", "nope")
    assert status == 2
    assert "invalid choice: 'nope'" in err
    assert "'core'" in err


def test_replay_unknown_event_type(capsys, journal):
    """An event the projection cannot decode names it and suggests verify."""
    newer = EventRegistry()
    newer.event("PoolRenamed")(type("PoolRenamed", (Event,), {}))
    writer, clock = open_inline(journal, registry=newer)
    writer.append(newer.types()["PoolRenamed"](aggregate_id="a", time=T0))
    clock.advance(0)
    writer.close()

    status, out, err = run(capsys, "replay", journal)
    assert status == 1
    assert out == ""
    assert err.startswith(f"nano-journal: error: {journal / SEGMENT}:9: ")
    assert "unknown event type 'PoolRenamed'" in err
    assert f"run: nano-journal verify {journal}" in err


# stats


def test_stats_text(capsys, journal):
    """stats prints counts, the sequence range, time span and types."""
    status, out, _ = run(capsys, "stats", journal)
    assert status == 0
    assert "events:    8\n" in out
    assert "sequence:  1 to 8\n" in out
    assert "(0:04:59.999999)" in out
    assert "snapshots: none\n" in out
    table = out[out.index("TYPE ") :].splitlines()[1:]
    rows = {line.split()[0]: line.split()[1] for line in table}
    assert len(rows) == 6
    assert rows["ComputePoolCreated"] == "2"
    assert rows["SystemTemplateDeleted"] == "1"


def test_stats_json(capsys, journal):
    """stats --json prints the same figures as one JSON object."""
    write_snapshot(journal, "core", 3, {"any": "state"})
    status, out, _ = run(capsys, "stats", journal, "--json")
    summary = json.loads(out)
    assert status == 0
    assert summary["events"] == 8
    assert summary["first_time"] == "2026-12-04T16:00:00.000001Z"
    assert summary["types"]["ComputePoolCreated"]["events"] == 2
    assert summary["types"]["ComputePoolCreated"]["versions"] == [1]
    assert summary["segment_bytes"] == (journal / SEGMENT).stat().st_size
    assert summary["snapshots"] == {"core": 3}
    record_bytes = sum(t["record_bytes"] for t in summary["types"].values())
    assert 0 < record_bytes < summary["segment_bytes"]


def test_stats_segments(capsys, tmp_path):
    """stats lists every segment of a journal that rotated."""
    writer, clock = open_inline(tmp_path, segment_bytes=300)
    for index in range(5):
        writer.append(ComputePoolCreated(aggregate_id=f"p{index}", time=T0))
        clock.advance(0)
    writer.close()

    _, out, _ = run(capsys, "stats", tmp_path, "--json")
    summary = json.loads(out)
    segments = sorted(tmp_path.glob("journal-*.jsonl"))
    assert len(segments) > 1
    assert [s["file"] for s in summary["segments"]] == [
        str(path) for path in segments
    ]


def test_stats_empty_journal(capsys, tmp_path):
    """An empty journal has zero events and no time span."""
    status, out, _ = run(capsys, "stats", tmp_path)
    assert status == 0
    assert "events:    0\n" in out
    assert "time span" not in out


# compact


def test_compact_writes_snapshot(capsys, journal):
    """compact writes a snapshot of the state at the last event."""
    status, out, _ = run(capsys, "compact", journal)
    snapshot = read_snapshot(journal, "core")
    assert status == 0
    assert snapshot.seq == 8
    assert out == f"wrote snapshot {snapshot.path} (core at seq 8)\n"
    assert snapshot.state["state"] == full_state()


def test_compact_open_journal(capsys, journal):
    """compact refuses a journal that a process has open."""
    writer, _ = open_inline(journal)
    try:
        status, _, err = run(capsys, "compact", journal)
    finally:
        writer.close()
    assert status == 1
    assert "is already open in another process" in err
    assert "stop that process first" in err
    assert read_snapshot(journal, "core") is None


def test_compact_cuts_torn_tail(capsys, journal):
    """Opening for compact cuts a torn last line and shows the warning."""
    with (journal / SEGMENT).open("ab") as segment:
        segment.write(b'{"seq":9,"event":{"ty')
    status, out, err = run(capsys, "compact", journal)
    assert status == 0
    assert "(core at seq 8)" in out
    assert err.startswith("nano-journal: warning: Cut a torn last write")


# repair


def test_repair_healthy(capsys, journal):
    """A healthy journal needs no repair."""
    status, out, _ = run(capsys, "repair", journal, "--yes")
    assert status == 0
    assert "nothing to repair" in out


def test_repair_needs_terminal(capsys, journal, monkeypatch):
    """Without a terminal and without --yes, repair changes nothing."""
    damage_line(journal, 5)
    before = (journal / SEGMENT).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))

    status, _, err = run(capsys, "repair", journal)
    assert status == 2
    assert "rerun with --yes" in err
    assert (journal / SEGMENT).read_bytes() == before


def test_repair_declined(capsys, journal, monkeypatch):
    """Answering no on the terminal leaves the journal as it was."""
    damage_line(journal, 5)
    before = (journal / SEGMENT).read_bytes()
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))

    status, out, _ = run(capsys, "repair", journal)
    assert status == 1
    assert "[y/N]" in out
    assert "repair cancelled" in out
    assert (journal / SEGMENT).read_bytes() == before


def test_repair_confirmed(capsys, journal, monkeypatch, tmp_path):
    """
    Answering yes backs up the journal, cuts it at the damaged line and
    removes snapshots past the new end.
    """
    write_snapshot(journal, "core", 7, {"stale": True})
    damage_line(journal, 5)
    before = (journal / SEGMENT).read_bytes()
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    backup = tmp_path / "backup"

    status, out, _ = run(capsys, "repair", journal, "--backup", backup)
    assert status == 0
    assert f"backed up {journal} to {backup}" in out
    assert [line.seq for line in read_lines(journal)] == [1, 2, 3, 4]
    assert (backup / SEGMENT).read_bytes() == before
    assert read_snapshot(journal, "core") is None
    assert read_snapshot(backup, "core").seq == 7


def test_repair_backup_exists(capsys, journal, tmp_path):
    """An existing backup path is a usage error, before any change."""
    damage_line(journal, 5)
    before = (journal / SEGMENT).read_bytes()
    status, _, err = run(
        capsys, "repair", journal, "--yes", "--backup", tmp_path
    )
    assert status == 2
    assert f"backup path {tmp_path} already exists" in err
    assert (journal / SEGMENT).read_bytes() == before


# help and arguments


def test_every_option_has_help():
    """Every command and option of every command has help text."""
    parser = build_parser()
    [commands] = [
        action for action in parser._actions if action.dest == "command"
    ]
    assert set(commands.choices) == {
        "verify",
        "dump",
        "replay",
        "stats",
        "compact",
        "repair",
    }
    for name, command in commands.choices.items():
        assert command.description, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings}"


@pytest.mark.parametrize(
    "command", ["verify", "dump", "replay", "stats", "compact", "repair"]
)
def test_command_help(capsys, command):
    """``COMMAND --help`` prints the usage and exits 0."""
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert out.startswith(f"usage: nano-journal {command}")


def test_no_command(capsys):
    """No command is a usage error."""
    status, _, err = run(capsys)
    assert status == 2
    assert "required: COMMAND" in err


@pytest.mark.slow
def test_installed_script(journal):
    """The installed console script runs replay and reports errors."""
    script = Path(sys.executable).parent / "nano-journal"
    replayed = subprocess.run(
        [script, "replay", journal, "--until", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["position"] == 3

    missing = subprocess.run(
        [script, "verify", journal / "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("nano-journal: error: journal directory")
    assert "Traceback" not in missing.stderr


def test_unreadable_segment(capsys, tmp_path):
    """A segment that cannot be read is one error line, not a traceback."""
    (tmp_path / SEGMENT).mkdir()
    status, _, err = run(capsys, "stats", tmp_path)
    assert status == 1
    assert err == (
        f"nano-journal: error: {tmp_path / SEGMENT}: Is a directory\n"
    )


def test_record_with_bad_time(capsys, tmp_path):
    """A record whose time cannot be parsed is named by file and line."""
    record = {
        "type": "ComputePoolDeleted",
        "version": 1,
        "time": "yesterday",
        "aggregate_id": "a",
        "task_id": None,
        "data": {},
    }
    (tmp_path / SEGMENT).write_bytes(encode_line(1, record))

    status, _, err = run(capsys, "dump", tmp_path, "--since", "2026-12-04")
    assert status == 1
    assert err == (
        f"nano-journal: error: {tmp_path / SEGMENT}:1: invalid event time "
        f"'yesterday'; to list every problem, run: nano-journal verify "
        f"{tmp_path}\n"
    )
    assert run(capsys, "stats", tmp_path)[0] == 1
    assert run(capsys, "verify", tmp_path)[0] == 1


def test_stats_table_escapes_type_names(capsys, tmp_path):
    """A type name with a newline stays on its row of the stats table."""
    record = {
        "type": "Forged\nComputePoolCreated",
        "version": 1,
        "time": "2026-12-04T16:00:00.000000Z",
        "aggregate_id": "a",
        "task_id": None,
        "data": {},
    }
    (tmp_path / SEGMENT).write_bytes(encode_line(1, record))

    status, out, _ = run(capsys, "stats", tmp_path)

    assert status == 0
    assert "Forged\\nComputePoolCreated  " in out
    assert "\nComputePoolCreated" not in out


def test_interrupted_command_one_line(capsys, monkeypatch, journal):
    """Ctrl-C during a command exits 130 with one line, no traceback."""

    def interrupted(directory):
        raise KeyboardInterrupt()

    monkeypatch.setattr("tools.journal._inspect.read_lines", interrupted)

    status, _, err = run(capsys, "dump", journal)

    assert status == 130
    assert err == "\nnano-journal: interrupted\n"


def test_replay_images_projection(capsys):
    """--projection images folds the image events of Core's journal."""
    samples = Path(__file__).parent.parent / "events" / "samples"
    status, out, err = run(
        capsys,
        "replay",
        "--projection",
        "images",
        samples / "core-images-v1",
    )
    assert status == 0, err
    images = json.loads(out)["state"]["images"]
    assert "debian-12-base" in [image["name"] for image in images.values()]
