"""The entry point: parse the arguments, run a command, report errors."""

import os
import sys

from twisted.logger import (
    LogLevel,
    formatEvent,
    globalLogPublisher,
)

from nano.events import (
    EventDecodeError,
    JournalCorruptError,
    JournalLockedError,
    RegistryError,
)

from ._arguments import build_parser
from ._errors import CommandError
from ._inspect import dump, stats, verify
from ._repair import repair_command
from ._state import compact_command, replay

COMMANDS = {
    "verify": verify,
    "dump": dump,
    "replay": replay,
    "stats": stats,
    "compact": compact_command,
    "repair": repair_command,
}


def main(argv=None) -> int:
    """
    Run ``nano-journal`` with ``argv`` (by default the process's
    arguments) and return the exit status: 0 success, 1 problems found
    or a failure, 2 invalid arguments.
    """
    globalLogPublisher.addObserver(_print_warning)
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # 128 + SIGINT, the status a shell reports for Ctrl-C.
        print("\nnano-journal: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (such as head) went away: stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        globalLogPublisher.removeObserver(_print_warning)


def _run(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as exit:
        return exit.code
    except CommandError as error:
        return _fail(str(error), error.status)
    except (JournalCorruptError, JournalLockedError, RegistryError) as error:
        return _fail(str(error), 1)
    except EventDecodeError as error:
        return _fail(
            f"{error}; to list every such problem, run: "
            f"nano-journal verify {args.directory}",
            1,
        )
    except BrokenPipeError:
        raise
    except OSError as error:
        return _fail(_describe(error), 1)


def _fail(message: str, status: int) -> int:
    print(f"nano-journal: error: {message}", file=sys.stderr)
    return status


def _describe(error: OSError) -> str:
    if error.filename is None:
        return str(error)
    return f"{error.filename}: {error.strerror}"


def _print_warning(event) -> None:
    """Show the library's warnings (a torn tail cut, a snapshot skipped)."""
    if event.get("log_level", LogLevel.info) >= LogLevel.warn:
        print(f"nano-journal: warning: {formatEvent(event)}", file=sys.stderr)
