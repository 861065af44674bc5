"""The repair command: back up, then cut at the first damaged line."""

import sys
from pathlib import Path

from nano.events import read_snapshot, repair
from nano.projections import PROJECTIONS

from ._errors import UsageError
from ._reading import first_damage, journal_directory, last_seq


def repair_command(args) -> int:
    """
    Cut the journal from its first damaged line on, after a backup and,
    unless ``--yes``, a confirmation on the terminal.
    """
    directory = journal_directory(args.directory)
    if args.backup is not None and Path(args.backup).exists():
        raise UsageError(
            f"backup path {args.backup} already exists: give a new path"
        )
    damage = first_damage(directory)
    if damage is None:
        print(f"{directory}: no damaged line, nothing to repair")
        return 0

    print(f"first damaged line: {damage.path}:{damage.line}: {damage.message}")
    if not args.yes and not _confirm(damage):
        print("repair cancelled: the journal is unchanged")
        return 1

    result = repair(directory, args.backup)
    if result is None:
        print(f"{directory}: no damaged line, nothing to repair")
        return 0
    print(
        f"backed up {directory} to {result.backup}, then cut "
        f"{result.removed_bytes} bytes from {result.path}:{result.line} on"
    )
    _remove_stale_snapshots(directory)
    return 0


def _confirm(damage) -> bool:
    """
    Ask on the terminal whether to cut; Ctrl-C or end of input means no.

    :raises UsageError: input is not a terminal, so no answer can be read.
    """
    if not sys.stdin.isatty():
        raise UsageError(
            "repair needs a confirmation but input is not a terminal: "
            "rerun with --yes to repair without asking"
        )
    print(
        f"Cut {damage.path} from line {damage.line} on, and every later "
        "segment, after copying the journal to a backup? [y/N] ",
        end="",
        flush=True,
    )
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        print()  # end the prompt's line
        return False
    return answer.strip().lower() in {"y", "yes"}


def _remove_stale_snapshots(directory: Path) -> None:
    """
    Remove the snapshots past the journal's new end, because they contain
    events that the cut removed (the backup keeps a copy).
    """
    end = last_seq(directory)
    for name in sorted(PROJECTIONS):
        snapshot = read_snapshot(directory, name)
        while snapshot is not None and snapshot.seq > end:
            snapshot.path.unlink()
            print(f"removed snapshot {snapshot.path}: it is past seq {end}")
            snapshot = read_snapshot(directory, name)
