"""The command line of ``nano-journal``: commands, options and help."""

import argparse
import re
from datetime import UTC, datetime

from nano.events import parse_time
from nano.projections import PROJECTIONS

from ._errors import UsageError

DESCRIPTION = """\
Inspect, replay, compact and repair a Nano event journal: the directory
of journal-*.jsonl segments (and snapshot-*.json files) under a
process's data/ directory.

Exit status: 0 when the command succeeded and found nothing wrong, 1 when
it found problems or failed, 2 for invalid arguments.
"""

TIME_HELP = (
    "an RFC 3339 time with an offset (2026-12-04T16:20:00Z) or a date "
    "(2026-12-04, meaning 00:00 UTC that day)"
)

READ_ONLY = (
    "Only reads, so it can run beside the process; a line that the process\n"
    "is writing at that moment may show as an incomplete last line."
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time_argument(text: str) -> datetime:
    """
    Parse a command-line time: RFC 3339 with an offset, or a date.

    :raises argparse.ArgumentTypeError: the text is neither.
    """
    if _DATE.fullmatch(text):
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            pass
    else:
        try:
            return parse_time(text)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(
        f"invalid time {text!r}: use {TIME_HELP}; add Z for UTC"
    )


def parse_until(text: str) -> int | datetime:
    """Parse ``--until``: a sequence number, or a time."""
    if text.isdigit():
        return int(text)
    return parse_time_argument(text)


def _sequence_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(
            f"invalid sequence number {text!r}: use a whole number >= 0"
        )
    return int(text)


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises, so main() prints one line."""

    def error(self, message):
        raise UsageError(f"{message} (see: {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every command and option."""
    parser = _Parser(
        prog="nano-journal",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    _add_verify(commands)
    _add_dump(commands)
    _add_replay(commands)
    _add_stats(commands)
    _add_compact(commands)
    _add_repair(commands)
    return parser


def _command(commands, name, summary, description):
    parser = commands.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{description}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "directory",
        metavar="DIRECTORY",
        help="the journal directory, containing journal-*.jsonl segments",
    )
    return parser


def _add_projection(parser, action):
    parser.add_argument(
        "--projection",
        default="core",
        choices=sorted(PROJECTIONS),
        help=f"the projection to {action} (default: %(default)s)",
    )


def _add_verify(commands):
    parser = _command(
        commands,
        "verify",
        "check every line of the journal",
        "Checks each line's checksum and JSON, the sequence numbers (gaps,\n"
        "duplicates, missing segments) and that every event can be decoded\n"
        "and upcast. Prints each problem as FILE:LINE: MESSAGE, and exits 1\n"
        f"if there is any. {READ_ONLY}",
    )
    _add_projection(parser, "take the event types from")


def _add_dump(commands):
    parser = _command(
        commands,
        "dump",
        "print events, filtered",
        "Prints the stored records (before upcasting) in sequence order.\n"
        "Filters combine: an event is printed when it passes all of them.\n"
        f"{READ_ONLY}",
    )
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        metavar="TYPE",
        help="print only events of this type, such as ComputePoolCreated; "
        "repeat for several types",
    )
    parser.add_argument(
        "--aggregate",
        dest="aggregates",
        action="append",
        metavar="ID",
        help="print only events of this aggregate id (a pool name, a "
        "template id...); repeat for several",
    )
    parser.add_argument(
        "--since",
        type=parse_time_argument,
        metavar="TIME",
        help=f"print only events at or after TIME: {TIME_HELP}",
    )
    parser.add_argument(
        "--until",
        type=parse_time_argument,
        metavar="TIME",
        help=f"print only events at or before TIME: {TIME_HELP}",
    )
    parser.add_argument(
        "--from-seq",
        type=_sequence_number,
        metavar="SEQ",
        help="print only events with a sequence number >= SEQ",
    )
    parser.add_argument(
        "--to-seq",
        type=_sequence_number,
        metavar="SEQ",
        help="print only events with a sequence number <= SEQ",
    )
    parser.add_argument(
        "--format",
        choices=["jsonl", "table"],
        default="jsonl",
        help="jsonl: one JSON object per event, its record with a 'seq' "
        "field added; table: aligned columns for reading "
        "(default: %(default)s)",
    )


def _add_replay(commands):
    parser = _command(
        commands,
        "replay",
        "print the projected state at a point of the journal, as JSON",
        "Folds the events from the first one on and prints the projection's\n"
        "state with its position. Snapshots are not used, so the output\n"
        f"depends on the journal alone. {READ_ONLY}",
    )
    parser.add_argument(
        "--until",
        type=parse_until,
        metavar="SEQ|TIME",
        help="stop after event SEQ, or before the first event later than "
        f"TIME ({TIME_HELP}); default: the journal's end",
    )
    _add_projection(parser, "replay")


def _add_stats(commands):
    parser = _command(
        commands,
        "stats",
        "print event counts per type, sizes, time span and segments",
        "Record bytes are the size of each event's JSON record; segment\n"
        "bytes are the file sizes, including sequence numbers and checksums.\n"
        f"{READ_ONLY}",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the statistics as one JSON object",
    )


def _add_compact(commands):
    parser = _command(
        commands,
        "compact",
        "write a snapshot so that start-up replays less",
        "Loads the projection (from the newest snapshot and the events after\n"
        "it) and writes a snapshot at the journal's last event. Takes the\n"
        "journal's lock: stop the process that has the journal open first.",
    )
    _add_projection(parser, "snapshot")


def _add_repair(commands):
    parser = _command(
        commands,
        "repair",
        "cut the journal at its first damaged line, after a backup",
        "Copies the whole journal directory to a backup, then removes the\n"
        "first damaged line, everything after it (later segments too) and\n"
        "snapshots past the new end. Events after the damage are lost from\n"
        "the journal but kept in the backup. Asks for confirmation on a\n"
        "terminal. Takes the journal's lock: stop the process first.",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="repair without asking (needed when input is not a terminal)",
    )
    parser.add_argument(
        "--backup",
        metavar="PATH",
        help="where to copy the journal first; it must not exist "
        "(default: DIRECTORY.backup-<UTC time>, beside DIRECTORY)",
    )
