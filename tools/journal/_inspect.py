"""The read-only commands: verify, dump and stats."""

import sys
from collections import Counter, defaultdict
from datetime import datetime

import orjson

from nano.events import (
    JournalLine,
    format_time,
    parse_time,
    read_lines,
    read_snapshot,
)
from nano.events import verify as verify_journal
from nano.projections import PROJECTIONS

from ._errors import CommandError
from ._reading import journal_directory, position
from ._table import format_table


def verify(args) -> int:
    """Print every problem in the journal as ``file:line: message``."""
    directory = journal_directory(args.directory)
    registry = PROJECTIONS[args.projection].registry
    problems = verify_journal(directory, registry)
    for problem in problems:
        print(f"{problem.path}:{problem.line}: {problem.message}")
    if not problems:
        print(f"{directory}: no problems found")
        return 0
    print(
        f"{directory}: {len(problems)} problem(s); to cut the journal at "
        f"the first damaged line, keeping a backup, run: "
        f"nano-journal repair {directory}",
        file=sys.stderr,
    )
    return 1


def dump(args) -> int:
    """Print the records that pass every filter, in sequence order."""
    directory = journal_directory(args.directory)
    lines = _selected(read_lines(directory), args)
    if args.format == "jsonl":
        for line in lines:
            record = {"seq": line.seq, **line.record}
            sys.stdout.write(orjson.dumps(record).decode() + "\n")
    else:
        sys.stdout.write(_event_table(lines))
    return 0


def _selected(lines, args):
    for line in lines:
        if args.to_seq is not None and line.seq > args.to_seq:
            return
        if _matches(line, args):
            yield line


def _matches(line: JournalLine, args) -> bool:
    record = line.record
    if args.from_seq is not None and line.seq < args.from_seq:
        return False
    if args.types and record.get("type") not in args.types:
        return False
    if args.aggregates and record.get("aggregate_id") not in args.aggregates:
        return False
    if args.since is None and args.until is None:
        return True
    time = _record_time(line)
    if args.since is not None and time < args.since:
        return False
    return args.until is None or time <= args.until


def _record_time(line: JournalLine) -> datetime:
    text = line.record.get("time")
    try:
        return parse_time(text)
    except (TypeError, ValueError):
        raise CommandError(
            f"{position(line)}: invalid event time {text!r}; to list every "
            f"problem, run: nano-journal verify {line.path.parent}"
        ) from None


def _event_table(lines) -> str:
    rows = [
        [
            str(line.seq),
            str(line.record.get("time")),
            str(line.record.get("type")),
            str(line.record.get("version")),
            str(line.record.get("aggregate_id")),
            line.record.get("task_id") or "-",
            orjson.dumps(line.record.get("data")).decode(),
        ]
        for line in lines
    ]
    headers = ["SEQ", "TIME", "TYPE", "VERSION", "AGGREGATE", "TASK", "DATA"]
    return format_table(headers, rows, right={0, 3})


def stats(args) -> int:
    """Print events per type, sizes, the time span, segments, snapshots."""
    directory = journal_directory(args.directory)
    summary = _summarize(directory)
    if args.json:
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        sys.stdout.write(_stats_text(directory, summary))
    return 0


def _summarize(directory) -> dict:
    counts, sizes, versions = Counter(), Counter(), defaultdict(set)
    segments: dict[str, int] = {}
    first = last = None
    for line in read_lines(directory):
        kind = str(line.record.get("type"))
        counts[kind] += 1
        sizes[kind] += len(orjson.dumps(line.record))
        versions[kind].add(line.record.get("version"))
        segments.setdefault(str(line.path), line.path.stat().st_size)
        first = first or line
        last = line
    return {
        "events": sum(counts.values()),
        "first_seq": first.seq if first else None,
        "last_seq": last.seq if last else None,
        "first_time": _time_text(first),
        "last_time": _time_text(last),
        "types": {
            kind: {
                "events": counts[kind],
                "record_bytes": sizes[kind],
                "versions": sorted(versions[kind], key=str),
            }
            for kind in sorted(counts)
        },
        "segments": [
            {"file": path, "bytes": size} for path, size in segments.items()
        ],
        "segment_bytes": sum(segments.values()),
        "snapshots": _snapshot_positions(directory),
    }


def _time_text(line: JournalLine | None) -> str | None:
    if line is None:
        return None
    return format_time(_record_time(line))


def _snapshot_positions(directory) -> dict[str, int]:
    found = {}
    for name in sorted(PROJECTIONS):
        snapshot = read_snapshot(directory, name)
        if snapshot is not None:
            found[name] = snapshot.seq
    return found


def _stats_text(directory, summary: dict) -> str:
    lines = [f"journal:   {directory}", f"events:    {summary['events']}"]
    if summary["events"]:
        lines.append(
            f"sequence:  {summary['first_seq']} to {summary['last_seq']}"
        )
        lines.append(
            f"time span: {summary['first_time']} to {summary['last_time']}"
            f" ({_span(summary)})"
        )
    lines.append(
        f"segments:  {len(summary['segments'])}, "
        f"{summary['segment_bytes']} bytes"
    )
    for segment in summary["segments"]:
        lines.append(f"  {segment['file']}: {segment['bytes']} bytes")
    lines.append(f"snapshots: {_snapshots_text(summary['snapshots'])}")
    text = "\n".join(lines) + "\n"
    if summary["types"]:
        text += "\n" + _types_table(summary["types"])
    return text


def _snapshots_text(snapshots: dict[str, int]) -> str:
    if not snapshots:
        return "none"
    return ", ".join(f"{name} at seq {seq}" for name, seq in snapshots.items())


def _types_table(types: dict) -> str:
    rows = [
        [
            kind,
            str(entry["events"]),
            str(entry["record_bytes"]),
            ", ".join(str(version) for version in entry["versions"]),
        ]
        for kind, entry in types.items()
    ]
    headers = ["TYPE", "EVENTS", "RECORD BYTES", "VERSIONS"]
    return format_table(headers, rows, right={1, 2})


def _span(summary: dict) -> str:
    start = parse_time(summary["first_time"])
    end = parse_time(summary["last_time"])
    return str(end - start)
